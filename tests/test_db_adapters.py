"""Timestamps come through psycopg's C loader, with exactly the values Django's loader gives.

monitoring/db_adapters.py registers UtcTimestamptzLoader (the C loader behind Django's `timezone`
attribute) on every connection whose session and Django zone are UTC; anything else keeps
Django's Python loader.
"""
from __future__ import annotations

import datetime
import zoneinfo

import psycopg
import pytest
from django.db import connection, connections
from django.db.backends.postgresql.psycopg_any import BaseTzLoader, get_adapters_template
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from psycopg import pq

from monitoring.db_adapters import HAS_C_LOADER, TIMESTAMPTZ_OID, UtcTimestamptzLoader, use_c_timestamptz_loader
from monitoring.models import Lead, LeadSyncHistory

pytestmark = pytest.mark.django_db

EDGES = [
    "0001-01-01 00:00:00+00", "1901-12-13 20:45:52.123456+00", "1969-12-31 23:59:59.999999+00",
    "1970-01-01 00:00:00+00", "2000-02-29 12:00:00+05:30", "2026-03-29 01:30:00+01",
    "2026-10-25 02:30:00-04", "2026-11-30 12:00:00.000001+00", "9999-12-31 23:59:59.999999+00",
]


class DjangoUtcLoader(BaseTzLoader):
    """What Django registers for a connection in UTC (psycopg_any.register_tzloader)."""

    timezone = datetime.timezone.utc


def load_with(loader: type, literals: list[str]) -> list[datetime.datetime]:
    raw = connection.connection
    with raw.cursor() as cursor:
        cursor.adapters.register_loader(TIMESTAMPTZ_OID, loader)
        cursor.execute("SELECT x::timestamptz FROM unnest(%s::text[]) AS x", [literals])
        return [row[0] for row in cursor.fetchall()]


def test_the_portals_connections_read_timestamps_with_the_c_loader():
    assert HAS_C_LOADER, "psycopg[binary] is in requirements.txt"
    connection.ensure_connection()
    assert connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT) is UtcTimestamptzLoader
    with connection.cursor() as cursor:
        # Django's cursor keeps the connection's loader (it replaces one whose zone differs).
        assert cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT) is UtcTimestamptzLoader
    lead = Lead.objects.create(first_name="Ada")
    finished = datetime.datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=datetime.UTC)
    LeadSyncHistory.objects.create(lead=lead, created_at=finished, synced_at=finished, sync_type="scheduled",
                                   sync_direction="twenty_to_supabase", sync_status="synced")
    synced_at = LeadSyncHistory.objects.get(lead=lead).synced_at
    assert synced_at == datetime.datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=datetime.UTC)
    assert synced_at.tzinfo is datetime.timezone.utc


def test_edge_timestamps_load_as_with_djangos_loader():
    connection.ensure_connection()
    fast, django = load_with(UtcTimestamptzLoader, EDGES), load_with(DjangoUtcLoader, EDGES)
    assert fast == django
    assert [value.tzinfo for value in fast] == [datetime.timezone.utc] * len(EDGES)
    assert [value.tzinfo for value in django] == [datetime.timezone.utc] * len(EDGES)
    assert fast[4] == datetime.datetime(2000, 2, 29, 6, 30, tzinfo=datetime.UTC)


@pytest.mark.parametrize("session_zone", ["Pacific/Kiritimati", "America/St_Johns", "Europe/Berlin"])
def test_a_session_time_zone_set_by_sql_reads_as_with_djangos_loader(session_zone):
    """SQL can change the session's TimeZone (the spec's tests do, with SET LOCAL). Django's loader
    then gives the session's wall time stamped UTC; the C loader must give exactly that too."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [session_zone])  # SET LOCAL TIME ZONE
    middle = EDGES[1:-1]  # the first and last would leave datetime's range in a zone east or west
    fast, django = load_with(UtcTimestamptzLoader, middle), load_with(DjangoUtcLoader, middle)
    assert fast == django
    assert [value.tzinfo for value in fast] == [datetime.timezone.utc] * len(middle)
    # Through Django's own cursor too: the session's wall time, stamped UTC.
    wall = datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.UTC).astimezone(zoneinfo.ZoneInfo(session_zone))
    with connection.cursor() as cursor:
        cursor.execute("SELECT '2026-11-30 12:00:00+00'::timestamptz")
        assert cursor.fetchone()[0] == wall.replace(tzinfo=datetime.timezone.utc)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.datetimes(min_value=datetime.datetime(1, 1, 2), max_value=datetime.datetime(9999, 12, 30),
                             timezones=st.sampled_from([datetime.UTC, zoneinfo.ZoneInfo("Europe/Berlin"),
                                                        zoneinfo.ZoneInfo("America/St_Johns")])),
                min_size=1, max_size=20))
def test_random_timestamps_load_as_with_djangos_loader(values):
    connection.ensure_connection()
    literals = [value.isoformat(sep=" ") for value in values]
    fast = load_with(UtcTimestamptzLoader, literals)
    assert fast == load_with(DjangoUtcLoader, literals)
    # As instants (a local time in a DST gap compares unequal across zones, PEP 495).
    assert [value.timestamp() for value in fast] == [value.timestamp() for value in values]


def test_a_database_time_zone_other_than_utc_keeps_djangos_loader():
    """DATABASES TIME_ZONE set: Django stamps values with that zone, which the C loader would not, so
    the receiver leaves such a connection alone (and does swap the loader of one in UTC)."""
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    for zone, swapped in ((None, True), ("Europe/Berlin", False)):
        wrapper = type(connections["default"])({**connection.settings_dict, "TIME_ZONE": zone}, alias="default")
        params = wrapper.get_connection_params()  # with Django's adapters for the zone as `context`
        params.pop("pool", None)
        assert params["context"] is get_adapters_template(True, wrapper.timezone)
        raw = psycopg.connect(**params)
        try:
            raw.execute("SELECT set_config('TimeZone', %s, false)", [wrapper.timezone_name])
            wrapper.connection = raw
            use_c_timestamptz_loader(sender=None, connection=wrapper)
            loader = raw.adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT)
            assert (loader is UtcTimestamptzLoader) is swapped
            value = raw.execute("SELECT '2026-11-30 12:00:00+00'::timestamptz").fetchone()[0]
        finally:
            wrapper.connection = None
            raw.close()
        assert value == datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.UTC)
        assert value.tzinfo == (datetime.timezone.utc if swapped else berlin)
