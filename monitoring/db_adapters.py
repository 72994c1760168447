"""Timestamps read through psycopg's C loader instead of Django's Python one.

Django registers, on every connection, a timestamptz loader that subclasses psycopg's pure-Python
TimestamptzLoader (a regular expression and a datetime per value) and then replaces the tzinfo with
the connection's zone. With psycopg's binary package that is about 10 times the cost of the C loader:
a seventh of the Lead flow page (2,500 bucket rows) on the slow host of docs/performance.md.

When Django's zone for the connection is `datetime.timezone.utc` (USE_TZ on, no DATABASES
TIME_ZONE: the portal's settings), UtcTimestamptzLoader, which parses with the C loader and stamps
the result UTC as Django's loader does, gives the very same values, so it is registered on each
new connection instead. It carries the `timezone` attribute
Django's cursor checks (the C class has none and cannot be subclassed). Any other configuration
keeps Django's loader. tests/test_db_adapters.py compares the two.
"""
from __future__ import annotations

import datetime
from typing import Any

from psycopg import adapters, postgres, pq
from psycopg.adapt import Loader

TIMESTAMPTZ_OID = postgres.types["timestamptz"].oid
# psycopg's default text loader for timestamptz: the C one when psycopg-binary (or -c) is installed.
C_TIMESTAMPTZ_LOADER = adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT)
HAS_C_LOADER = C_TIMESTAMPTZ_LOADER is not None and C_TIMESTAMPTZ_LOADER.__module__.startswith("psycopg_")


_UTC = datetime.timezone.utc


class UtcTimestamptzLoader(Loader):
    """The C loader behind the attribute Django's cursor reads (postgresql/base.py create_cursor():
    a loader whose timezone differs from the connection's is replaced on every cursor).

    Both loaders give the time in the session's zone. Django's then stamps it UTC with
    replace(tzinfo=...), so does this one: a session whose TimeZone was changed by SQL (SET TIME
    ZONE) reads exactly what it read with Django's loader."""

    timezone = _UTC

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        self._load = C_TIMESTAMPTZ_LOADER(oid, context).load

    def load(self, data: Any) -> datetime.datetime:
        value = self._load(data)
        return value if value.tzinfo is _UTC else value.replace(tzinfo=_UTC)


def uses_utc(connection: Any) -> bool:
    """Django stamps loaded values with connection.timezone (and sets the session to
    connection.timezone_name); UtcTimestamptzLoader stamps them UTC, the same only when that is UTC."""
    return connection.timezone is _UTC and connection.timezone_name == "UTC"


def use_c_timestamptz_loader(sender: Any, connection: Any, **kwargs: Any) -> None:
    """connection_created receiver: swap the loader on PostgreSQL connections where it is safe."""
    if connection.vendor == "postgresql" and HAS_C_LOADER and uses_utc(connection):
        connection.connection.adapters.register_loader(TIMESTAMPTZ_OID, UtcTimestamptzLoader)
