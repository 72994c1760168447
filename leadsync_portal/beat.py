"""Celery beat's scheduler that outlives a lost database connection.

django-celery-beat's DatabaseScheduler keeps using a Django connection that PostgreSQL has closed
(a restart, pg_terminate_backend), raises OperationalError from tick() and beat exits: every
scheduled check stops (found by the chaos soak, benchmarks/soak.py). Before each tick an unusable
connection is closed, and a database error during a tick closes the connection and tries again a
few seconds later instead of ending beat.
"""
from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, InterfaceError, close_old_connections, connection
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0


def _drop_broken_connection() -> None:
    """Close Django's connection when PostgreSQL has closed it (the library logs such errors and
    carries on with the dead connection)."""
    raw = connection.connection
    if raw is not None and (raw.closed or raw.broken):
        connection.close()


class ResilientDatabaseScheduler(DatabaseScheduler):
    """DatabaseScheduler whose tick never ends beat because the database went away."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        close_old_connections()  # drops a connection that errored or is past its age
        _drop_broken_connection()
        try:
            return super().tick(*args, **kwargs)
        except (DatabaseError, InterfaceError) as error:
            logger.warning("beat: database unavailable (%s); retrying in %.0f s", error, RETRY_SECONDS)
            connection.close()
            return RETRY_SECONDS
        finally:
            _drop_broken_connection()
