"""What each maintenance run reports (its steps, stored on the JobRun) and logs, word for word.

Operators read these lines in the Jobs page and the worker log to know what a run did and why it
skipped a step; mutation testing showed that no test read them, nor the archive's pauses and timings.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from pathlib import Path

import pytest

from monitoring.models import JobOutcome, JobRun, StaleLeadCheck
from monitoring.services import maintenance

from .maintenance_helpers import ids, insert_history, make_lead

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=dt_timezone.utc)
LOGGER = "monitoring.services.maintenance"


class FakeClock:
    """Stands in for the `time` module in maintenance: fixed monotonic readings, and the pauses asked for."""

    def __init__(self, *readings: float) -> None:
        self.readings = list(readings)
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.readings.pop(0)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def _logged(caplog) -> list[tuple[int, str]]:
    return [(level, message) for name, level, message in caplog.record_tuples if name == LOGGER]


@pytest.fixture
def old_and_new(db) -> dict[str, list[int]]:
    """5 rows older than 30 days (3 at 40 d, 2 at 30 d + 1 min), 1 of a day ago."""
    lead = make_lead()
    old = insert_history(lead, NOW - timedelta(days=40), count=3)
    old += insert_history(lead, NOW - timedelta(days=30, minutes=1), count=2)
    return {"old": old, "new": insert_history(lead, NOW - timedelta(days=1))}


def test_archive_pauses_after_each_full_batch_for_the_configured_time_and_reports_each_step(
    old_and_new, settings, monkeypatch, caplog
):
    settings.HISTORY_ARCHIVE_BATCH_PAUSE_MS = 250
    clock = FakeClock(100.0, 101.50049)
    monkeypatch.setattr(maintenance, "time", clock)
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    result = maintenance.archive_history(retention_days=30, now=NOW, batch_size=2, max_batches=2, vacuum=False)

    assert (result.moved, result.batches, result.left_behind) == (4, 2, 1)
    assert clock.slept == [0.25, 0.25]
    assert result.seconds == 1.5
    assert result.steps == {
        "move": "moved 4 rows older than 2026-10-29 12:00 UTC in 2 batch(es) of up to 2, 1.5 s",
        "vacuum": "skipped: not asked to",
        "check": "1 old rows left for the next run (locked or late)",
    }
    assert _logged(caplog) == [
        (logging.DEBUG, "archive_history: batch 1 moved 2 rows up to 2026-10-19 12:00:00+00:00"),
        (logging.DEBUG, "archive_history: batch 2 moved 2 rows up to 2026-10-29 11:59:00+00:00"),
        (logging.INFO, "archive_history [move] moved 4 rows older than 2026-10-29 12:00 UTC in 2 batch(es) of up to 2, 1.5 s"),
        (logging.INFO, "archive_history [vacuum] skipped: not asked to"),
        (logging.INFO, "archive_history [check] 1 old rows left for the next run (locked or late)"),
    ]


def test_archive_with_a_retention_of_one_day_and_no_pause_asked_for(old_and_new, settings, monkeypatch):
    settings.HISTORY_ARCHIVE_BATCH_PAUSE_MS = 250  # an explicit pause_seconds=0 wins over the setting
    clock = FakeClock(0.0, 0.5, 1.0, 1.25)
    monkeypatch.setattr(maintenance, "time", clock)

    result = maintenance.archive_history(retention_days=1, now=NOW, batch_size=2, pause_seconds=0, vacuum=False)
    again = maintenance.archive_history(retention_days=1, now=NOW, batch_size=2, pause_seconds=0, vacuum=False)

    assert (result.moved, result.batches, clock.slept) == (5, 3, [])
    assert ids("lead_sync_history") == old_and_new["new"]  # a day old is not older than a day
    assert again.steps == {
        "move": "skipped: no history older than 2026-11-27 12:00 UTC",
        "vacuum": "skipped: nothing was moved",
        "check": "no history older than the cutoff remains",
    }
    assert (again.seconds, again.vacuum_seconds) == (0.25, 0.0)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_archive_outside_a_transaction_vacuums_and_reports_how_long_it_took(monkeypatch, caplog):
    lead = make_lead()
    insert_history(lead, NOW - timedelta(days=40), count=3)
    # Readings: start, end of the move, start and end of the vacuum.
    monkeypatch.setattr(maintenance, "time", FakeClock(10.0, 11.50049, 20.0, 22.25049))
    caplog.set_level(logging.INFO, logger=LOGGER)

    result = maintenance.archive_history(retention_days=30, now=NOW, batch_size=10)

    assert (result.moved, result.seconds, result.vacuum_seconds) == (3, 1.5, 2.25)
    assert result.steps == {
        "move": "moved 3 rows older than 2026-10-29 12:00 UTC in 1 batch(es) of up to 10, 1.5 s",
        "vacuum": "vacuumed and analysed lead_sync_history, analysed the archive: 2.25 s",
        "check": "no history older than the cutoff remains",
    }
    assert (logging.INFO, "archive_history [vacuum] vacuumed and analysed lead_sync_history, analysed the archive: 2.25 s") in _logged(caplog)


def test_prune_reports_what_it_deleted_with_the_retention_it_was_given(db, settings, caplog):
    settings.JOB_RECORD_RETENTION_DAYS = 90  # the argument wins over the setting
    for days in (11, 9):
        JobRun.objects.create(task_name="monitoring.refresh_snapshots", started_at=NOW - timedelta(days=days),
                              outcome=JobOutcome.SUCCEEDED)
        StaleLeadCheck.objects.create(checked_at=NOW - timedelta(days=days), stale_count=0)
    caplog.set_level(logging.INFO, logger=LOGGER)

    result = maintenance.prune_job_records(older_than_days=10, now=NOW)

    assert (result.job_runs, result.stale_lead_checks) == (1, 1)
    assert result.steps == {"prune": "deleted 1 job runs and 1 stale-lead checks older than 10 days"}
    assert _logged(caplog) == [
        (logging.INFO, "prune_job_records [prune] deleted 1 job runs and 1 stale-lead checks older than 10 days")
    ]


def test_stale_lead_check_logs_its_answer(db, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    check = maintenance.record_stale_leads(now=NOW)

    assert (check.stale_count, check.oldest_pending, check.checked_at) == (0, None, NOW)
    assert _logged(caplog) == [
        (logging.INFO, "record_stale_leads [check] 0 pending leads older than an hour, oldest created None")
    ]


def test_refresh_daily_summary_logs_its_rows_and_time(db, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    result = maintenance.refresh_daily_summary()

    assert _logged(caplog) == [
        (logging.INFO, f"refresh_daily_summary [refresh] 0 summary rows in {result.duration_ms} ms")
    ]
    assert result.steps == {"refresh": f"0 summary rows in {result.duration_ms} ms"}


def test_snapshots_are_skipped_at_a_ttl_of_zero_and_refreshed_from_one_second(db, settings, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    settings.SELECTOR_SNAPSHOT_TTL = 0

    assert maintenance.refresh_snapshots() == {}
    assert _logged(caplog) == [
        (logging.INFO, "refresh_snapshots [refresh] skipped: SELECTOR_SNAPSHOT_TTL is 0: pages read the database directly")
    ]

    caplog.clear()
    settings.SELECTOR_SNAPSHOT_TTL = 1
    # No selector is snapshotted any more (monitoring/selectors/rollups.py), so there is nothing to
    # recompute; at a TTL of 1 s the run still goes through its refresh step and says so.
    assert maintenance.refresh_snapshots() == {}
    assert _logged(caplog) == [(logging.INFO, "refresh_snapshots [refresh] 0 snapshots in 0.00 s")]


def test_export_with_no_whole_month_in_the_archive_says_so(db, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    result = maintenance.export_archive_months(archive_dir=tmp_path, now=NOW)

    assert result.steps == {"months": "skipped: no whole month in the archive"}
    assert _logged(caplog) == [(logging.INFO, "export_archive_months [months] skipped: no whole month in the archive")]


def test_a_problem_is_logged_as_an_error(caplog):
    steps = maintenance.Steps("export_archive_months")

    steps.problem("2026-09 verify", "the file does not match")

    assert steps.log == {"2026-09 verify": "PROBLEM: the file does not match"}
    assert _logged(caplog) == [(logging.ERROR, "export_archive_months [2026-09 verify] the file does not match")]


def test_job_details_are_json_whatever_the_values():
    value = {
        "amount": Decimal("1.50"), "dir": Path("/srv/archive"), "months": (date(2026, 9, 1), "2026-10"),
        "at": datetime(2026, 11, 28, 12, 0, tzinfo=dt_timezone.utc), "nested": {"n": [1, Decimal("2")]},
    }

    assert maintenance._jsonable(value) == {
        "amount": "1.50", "dir": "/srv/archive", "months": ["2026-09-01", "2026-10"],
        "at": "2026-11-28T12:00:00+00:00", "nested": {"n": [1, "2"]},
    }
