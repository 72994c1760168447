"""Refreshing lead_sync_daily_summary: concurrent, readers never blocked, never two at once."""
from __future__ import annotations

import logging
from datetime import date, datetime
from datetime import timezone as dt_timezone

import psycopg
import pytest
from django.db import connection

from monitoring import selectors
from monitoring.models import JobOutcome, JobRun
from monitoring.services import maintenance
from monitoring.services.jobs import _lock_key
from monitoring.tasks import maintenance as tasks

from .maintenance_helpers import insert_history, make_lead, second_connection


@pytest.fixture
def summary_rows(db) -> None:
    """1 Nov: 3 attempts (n=1, 2 synced; n=3 error); 2 Nov: 1 synced attempt. All twenty_to_supabase."""
    lead = make_lead()
    insert_history(lead, datetime(2026, 11, 1, 10, tzinfo=dt_timezone.utc), count=3)
    insert_history(lead, datetime(2026, 11, 2, 10, tzinfo=dt_timezone.utc), count=1)


def test_refresh_fills_the_daily_summary(summary_rows):
    result = maintenance.refresh_daily_summary()

    assert result.summary_rows == 3
    rows = {(row["sync_date"].date(), row["sync_status"]): row["sync_count"] for row in selectors.daily_summary(days=3650)}
    assert rows == {(date(2026, 11, 1), "synced"): 2, (date(2026, 11, 1), "error"): 1, (date(2026, 11, 2), "synced"): 1}
    assert result.refreshed_at is not None and result.duration_ms is not None


def test_the_summary_has_the_unique_index_a_concurrent_refresh_needs(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indisunique FROM pg_index WHERE indexrelid = 'idx_lead_sync_daily_summary_key'::regclass"
        )
        assert cursor.fetchone() == (True,)


def test_a_reader_is_not_blocked_while_a_refresh_runs(summary_rows):
    # The refresh's transaction stays open (the test's), so its lock is still held below.
    maintenance.refresh_daily_summary()
    with second_connection() as reader:
        held = reader.execute(
            "SELECT mode FROM pg_locks WHERE relation = 'lead_sync_daily_summary'::regclass AND pid = %s",
            [connection.connection.info.backend_pid],
        ).fetchall()
        assert ("ExclusiveLock",) in held
        reader.execute("SET lock_timeout = '1s'")
        # Sees the last committed contents, immediately.
        assert reader.execute("SELECT COUNT(*) FROM lead_sync_daily_summary").fetchone() == (0,)


def test_a_plain_refresh_would_block_the_reader(summary_rows):
    """The control for the test above: without CONCURRENTLY the same read times out."""
    with connection.cursor() as cursor:
        cursor.execute("REFRESH MATERIALIZED VIEW lead_sync_daily_summary")
    with second_connection() as reader:
        reader.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            reader.execute("SELECT COUNT(*) FROM lead_sync_daily_summary")


def test_a_refresh_is_not_started_while_another_runs(summary_rows, caplog):
    with second_connection() as other_worker:
        other_worker.execute("SELECT pg_advisory_lock(%s)", [_lock_key("monitoring.refresh_daily_summary")])
        with caplog.at_level(logging.INFO, logger="monitoring.services.jobs"):
            tasks.refresh_daily_summary()
        # Released explicitly: a closed session's locks go only when its backend has exited, and
        # the next test's refresh must not find this one still held.
        other_worker.execute("SELECT pg_advisory_unlock(%s)", [_lock_key("monitoring.refresh_daily_summary")])

    run = JobRun.objects.get(task_name="monitoring.refresh_daily_summary")
    assert run.outcome == JobOutcome.SKIPPED
    assert "monitoring.refresh_daily_summary: another run is in progress; this one exits" in caplog.messages
    with connection.cursor() as cursor:  # the materialized view was not refreshed
        cursor.execute("SELECT COUNT(*) FROM lead_sync_daily_summary")
        assert cursor.fetchone() == (0,)


def test_refresh_task_records_its_run(summary_rows):
    detail = tasks.refresh_daily_summary()

    run = JobRun.objects.get(task_name="monitoring.refresh_daily_summary")
    assert (run.outcome, run.rows_touched, detail["summary_rows"]) == (JobOutcome.SUCCEEDED, 3, 3)
    assert run.detail["steps"]["refresh"].startswith("3 summary rows in ")
