"""Django's PostgreSQL backend, with a health check on every connection taken from the pool.

After a PostgreSQL restart the pool still holds the connections the restart killed. Django's
CONN_HEALTH_CHECKS, with a pool, becomes the pool's own check; but psycopg_pool waits a backoff of
at least 1 s after a connection fails it (AttemptWithBackoff), twice our 0.5 s pool timeout, so the
request that met a dead connection still ended in PoolTimeout and a 503. Here the check is ours:
a dead connection goes back to the pool (which discards it and opens a replacement) and the
request at once takes the next one, each with the pool's own timeout.
"""
from __future__ import annotations

from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        pool = self.pool
        if not pool:
            return connection
        # The pool holds at most max_size connections, so after that many dead ones the next is new.
        for _ in range(pool.max_size):
            try:
                ConnectionPool.check_connection(connection)  # one empty query
            except psycopg.Error:
                pool.putconn(connection)  # broken: the pool drops it and connects a replacement
                connection = super().get_new_connection(conn_params)
            else:
                return connection
        return connection
