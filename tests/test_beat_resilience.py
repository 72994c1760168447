"""Celery beat outlives a terminated database connection (a defect the chaos soak found)."""
from __future__ import annotations

import pytest
from django.db import connection

from leadsync_portal.beat import RETRY_SECONDS, ResilientDatabaseScheduler
from leadsync_portal.celery import app
from tests.maintenance_helpers import second_connection


# serialized_rollback: without it the flush afterwards re-creates content types under new ids and
# the next serialized test fails to restore them (tests/conftest.py refuses such a test).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_beat_ticks_on_after_its_database_connection_is_terminated():
    scheduler = ResilientDatabaseScheduler(app=app)
    try:
        assert isinstance(scheduler.tick(), (int, float))
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        with second_connection() as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])

        # django-celery-beat's own scheduler raised OperationalError here and beat exited.
        first = scheduler.tick()
        assert isinstance(first, (int, float)) and first <= max(RETRY_SECONDS, 5.0)
        second = scheduler.tick()  # the next tick has a fresh connection and schedules as usual
        assert isinstance(second, (int, float))
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone()[0] != pid
    finally:
        # Its at-exit sync now: left to the garbage collector, it ran at the end of a full run against
        # the non-test database ("relation django_celery_beat_periodictask does not exist"), or could
        # run inside a later test's transaction.
        scheduler._finalize()
