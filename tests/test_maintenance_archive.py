"""The weekly clean-up: history older than the retention moves to the archive, losing nothing."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
import time_machine
from django.db import OperationalError, connection, connections
from django.db.utils import InterfaceError

from monitoring.models import JobOutcome, JobRun, LeadSyncHistoryArchive
from monitoring.services import maintenance
from monitoring.services.jobs import run_recorded
from monitoring.tasks import maintenance as tasks

from .maintenance_helpers import ids, insert_history, make_lead, rows, second_connection

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=dt_timezone.utc)
CUTOFF = NOW - timedelta(days=30)
HOT, ARCHIVE = "lead_sync_history", "lead_sync_history_archive"


@pytest.fixture
def boundary_rows(db) -> dict[str, list[int]]:
    """5 rows older than 30 days, 4 not: 40 d (3), 30 d + 1 min (2) | exactly 30 d, 29 d (2), now."""
    lead = make_lead()
    old = insert_history(lead, NOW - timedelta(days=40), count=3)
    old += insert_history(lead, CUTOFF - timedelta(minutes=1), count=2)
    kept = insert_history(lead, CUTOFF)  # not older than the cutoff: stays
    kept += insert_history(lead, NOW - timedelta(days=29), count=2)
    kept += insert_history(lead, NOW)
    return {"old": old, "kept": kept}


def test_archive_moves_exactly_the_rows_older_than_the_retention(boundary_rows):
    before = {row[0]: row for row in rows(HOT)}

    result = maintenance.archive_history(retention_days=30, now=NOW)

    assert (result.moved, result.left_behind, result.cutoff) == (5, 0, CUTOFF)
    assert ids(HOT) == boundary_rows["kept"]
    assert ids(ARCHIVE) == boundary_rows["old"]
    # Column for column the same row, now with archived_at.
    assert rows(ARCHIVE) == [before[i] for i in boundary_rows["old"]]
    assert LeadSyncHistoryArchive.objects.filter(archived_at__isnull=True).count() == 0
    assert "moved 5 rows" in result.steps["move"]
    assert result.steps["vacuum"] == "skipped: called inside a transaction, where VACUUM cannot run"


def test_archive_run_twice_gives_the_same_result(boundary_rows):
    maintenance.archive_history(retention_days=30, now=NOW)
    hot, archive = rows(HOT), rows(ARCHIVE)

    again = maintenance.archive_history(retention_days=30, now=NOW)

    assert again.moved == 0
    assert again.steps["move"].startswith("skipped: no history older than")
    assert (rows(HOT), rows(ARCHIVE)) == (hot, archive)


def test_archive_moves_in_batches_of_the_given_size(boundary_rows):
    result = maintenance.archive_history(retention_days=30, now=NOW, batch_size=2)

    assert (result.moved, result.batches) == (5, 3)
    assert ids(ARCHIVE) == boundary_rows["old"]


def test_archive_interrupted_between_batches_then_rerun_has_no_duplicate_and_no_gap(boundary_rows, monkeypatch):
    everything = sorted(boundary_rows["old"] + boundary_rows["kept"])
    real_move = maintenance._move_batch
    calls = []

    def dies_after_first_batch(**kwargs):
        if calls:
            raise OperationalError("server closed the connection unexpectedly")
        calls.append(kwargs)
        return real_move(**kwargs)

    monkeypatch.setattr(maintenance, "_move_batch", dies_after_first_batch)
    with pytest.raises(OperationalError):
        maintenance.archive_history(retention_days=30, now=NOW, batch_size=2)

    # Stopped after one batch: 2 rows moved, and every row is in exactly one table.
    assert len(ids(ARCHIVE)) == 2
    assert not set(ids(HOT)) & set(ids(ARCHIVE))
    assert sorted(ids(HOT) + ids(ARCHIVE)) == everything

    monkeypatch.setattr(maintenance, "_move_batch", real_move)
    result = maintenance.archive_history(retention_days=30, now=NOW, batch_size=2)

    assert result.moved == 3
    assert ids(ARCHIVE) == boundary_rows["old"]
    assert ids(HOT) == boundary_rows["kept"]


def test_archived_rows_outlive_their_lead(boundary_rows):
    maintenance.archive_history(retention_days=30, now=NOW)
    from monitoring.models import Lead

    Lead.objects.all().delete()  # cascades to the hot history only

    assert ids(HOT) == []
    assert ids(ARCHIVE) == boundary_rows["old"]


def test_archive_refuses_a_retention_below_one_day(db):
    with pytest.raises(ValueError, match=r"^retention_days must be at least 1$"):
        maintenance.archive_history(retention_days=0)


def test_archive_task_records_its_run(boundary_rows, settings):
    settings.HISTORY_RETENTION_DAYS = 30

    with time_machine.travel(NOW, tick=False):
        detail = tasks.archive_history()

    run = JobRun.objects.get(task_name="monitoring.archive_history")
    assert (run.outcome, run.rows_touched, detail["moved"]) == (JobOutcome.SUCCEEDED, 5, 5)
    assert run.detail["steps"]["check"] == "no history older than the cutoff remains"
    assert "pruned" in run.detail


def test_a_batch_gives_up_behind_a_table_lock_instead_of_queueing(db, settings):
    import psycopg

    assert settings.HISTORY_ARCHIVE_LOCK_TIMEOUT_MS == 5000  # the README's "gives up after 5 s"
    settings.HISTORY_ARCHIVE_LOCK_TIMEOUT_MS = 200
    with connection.cursor() as cursor:
        # A batch that queued instead would be stopped here, as another error: the test ends either way.
        cursor.execute("SET LOCAL statement_timeout = '4s'")
    with second_connection() as migration, migration.transaction():
        migration.execute("LOCK TABLE lead_sync_history IN ACCESS EXCLUSIVE MODE")  # what ALTER TABLE takes
        started = time.monotonic()
        with pytest.raises(OperationalError) as caught:
            maintenance.archive_history(now=NOW, vacuum=False)
        waited = time.monotonic() - started
    assert isinstance(caught.value.__cause__, psycopg.errors.LockNotAvailable)  # lock_timeout, not the 4 s stop
    assert waited >= 0.2  # it did wait its configured time first


# ---- runs that need real concurrency: committed data, a second connection ----------------------

concurrent = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _waits_on_a_lock(pid: int, timeout: float = 30.0) -> bool:
    """True once session `pid` is waiting for a heavyweight lock (row or table), False at the deadline."""
    deadline = time.monotonic() + timeout
    with second_connection() as observer:
        while time.monotonic() < deadline:
            row = observer.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
            if row and row[0] == "Lock":
                return True
            time.sleep(0.02)
    return False


def _in_thread(target, *args, **kwargs) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = target(*args, **kwargs)
        except Exception as exc:  # reported to the test, which asserts on it
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@concurrent
def test_archive_survives_losing_its_database_connection_mid_run():
    lead = make_lead()
    old = insert_history(lead, NOW - timedelta(days=45), count=600)
    kept = insert_history(lead, NOW - timedelta(days=1), count=10)
    backend_pid: dict = {}
    real_move = maintenance._move_batch

    def move_and_note_backend(**kwargs):
        connection.ensure_connection()
        backend_pid.setdefault("pid", connection.connection.info.backend_pid)
        return real_move(**kwargs)

    maintenance._move_batch = move_and_note_backend
    try:
        def worker_run(run):  # what the task does, through record_job, on the thread's own connection
            maintenance.archive_history(retention_days=30, now=NOW, batch_size=50, pause_seconds=0.05)

        thread, outcome = _in_thread(run_recorded, "monitoring.archive_history", worker_run)
        deadline = time.monotonic() + 20
        while LeadSyncHistoryArchive.objects.count() < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        with connections["default"].cursor() as cursor:  # the database drops the worker's session
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid["pid"]])
        thread.join(20)
    finally:
        maintenance._move_batch = real_move

    assert isinstance(outcome.get("error"), OperationalError | InterfaceError)
    # The run is recorded as failed, on a fresh connection.
    run = JobRun.objects.get(task_name="monitoring.archive_history")
    assert run.outcome == JobOutcome.FAILED and run.error.startswith(("OperationalError", "InterfaceError"))
    hot, archive = set(ids(HOT)), set(ids(ARCHIVE))
    assert 100 <= len(archive) < 600
    assert not hot & archive
    assert hot | archive == set(old + kept)

    result = maintenance.archive_history(retention_days=30, now=NOW, batch_size=50)

    assert result.moved == 600 - len(archive)
    assert ids(ARCHIVE) == old
    assert ids(HOT) == kept


@concurrent
def test_sync_keeps_writing_while_the_archive_runs():
    lead = make_lead()
    old = insert_history(lead, NOW - timedelta(days=45), count=3000)
    stop = threading.Event()
    written: list[int] = []

    def sync_writer():
        # No insert may wait on a lock of the clean-up's: a lock wait (not a slow, loaded machine)
        # longer than this fails the insert, and the writer reports it.
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '500ms'")
        while not stop.is_set():
            written.extend(insert_history(lead, datetime.now(dt_timezone.utc)))

    writer, writer_outcome = _in_thread(sync_writer)
    try:
        result = maintenance.archive_history(retention_days=30, now=NOW, batch_size=100)
    finally:
        stop.set()
        writer.join(10)

    assert "error" not in writer_outcome
    assert result.steps["vacuum"].startswith("vacuumed and analysed lead_sync_history")
    assert result.moved == 3000 and result.batches == 30
    assert len(written) > 0  # and none of them hit the writer's lock_timeout ("error" above)
    assert ids(ARCHIVE) == old
    assert ids(HOT) == sorted(written)


@concurrent
def test_an_old_row_the_sync_is_updating_is_skipped_then_moved_with_its_update(settings):
    # The sync holds a row lock on an old row (an UPDATE not yet committed) while the clean-up runs.
    # A clean-up that waited for that lock instead of skipping the row would fail on its lock timeout
    # (the sync commits only after it returns): that, not a wall-clock limit, is the check.
    settings.HISTORY_ARCHIVE_LOCK_TIMEOUT_MS = 1000
    lead = make_lead()
    old = insert_history(lead, NOW - timedelta(days=45), count=5)
    kept = insert_history(lead, NOW - timedelta(days=1))
    with second_connection() as sync:
        with sync.transaction():
            sync.execute("UPDATE lead_sync_history SET error_message = 'late retry' WHERE id = %s", [old[2]])
            first = maintenance.archive_history(retention_days=30, now=NOW, batch_size=2, vacuum=False)
        # The sync's transaction commits here, after the clean-up finished.

    assert (first.moved, first.left_behind) == (4, 1)
    assert ids(HOT) == sorted([old[2], *kept])

    second = maintenance.archive_history(retention_days=30, now=NOW, batch_size=2, vacuum=False)

    assert (second.moved, second.left_behind) == (1, 0)
    assert ids(ARCHIVE) == old and ids(HOT) == kept
    assert LeadSyncHistoryArchive.objects.get(pk=old[2]).error_message == "late retry"  # the update was not lost


@concurrent
def test_an_update_that_waits_for_a_batch_finds_its_row_gone_and_nothing_is_duplicated():
    # The other order: the batch locks (and moves) the row first; the sync's UPDATE of that old row
    # waits for the batch's transaction only, then matches no row (it now lives in the archive).
    lead = make_lead()
    old = insert_history(lead, NOW - timedelta(days=45), count=3)
    kept = insert_history(lead, NOW - timedelta(days=1))
    before = rows(HOT)
    with second_connection() as worker, second_connection() as sync:
        with worker.transaction():
            worker.execute(
                maintenance._MOVE_BATCH_SQL,
                {"cutoff": CUTOFF, "floor": datetime.min.replace(tzinfo=dt_timezone.utc), "limit": 10},
            )

            def sync_update():
                cursor = sync.execute("UPDATE lead_sync_history SET error_message = 'late retry' WHERE id = %s", [old[1]])
                return cursor.rowcount

            thread, outcome = _in_thread(sync_update)
            # The update waits on the batch's row lock: seen in pg_stat_activity, however slow the machine.
            assert _waits_on_a_lock(sync.info.backend_pid), "the sync's update never waited for the batch"
            assert thread.is_alive()
        thread.join(30)  # ...and goes on as soon as the batch commits

    assert not thread.is_alive() and outcome["value"] == 0  # it found no row: the batch had moved it
    assert ids(ARCHIVE) == old and ids(HOT) == kept
    # The archive holds the rows exactly as they were moved.
    assert rows(ARCHIVE) == [row for row in before if row[0] in old]
