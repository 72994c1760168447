"""Scheduled maintenance: refresh the daily summary, archive old history, export archived months.

Each service is a short sequence of named steps; every step logs what it did or why it skipped,
and the result (returned, and stored on the JobRun by the task) says what changed. All of them
are safe to run again at any time: that is how an interrupted run is repaired.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from monitoring.models import (
    ArchiveExport,
    ArchiveExportStatus,
    JobRun,
    LeadSyncHistoryArchive,
    StaleLeadCheck,
)
from monitoring.selectors import snapshots
from monitoring.selectors._sql import fetch_one
from monitoring.selectors.jobs import archive_months

logger = logging.getLogger(__name__)


class Steps:
    """The named steps of one maintenance run: each logs what it did, or why it skipped."""

    def __init__(self, job: str) -> None:
        self.job = job
        self.log: dict[str, str] = {}

    def did(self, step: str, message: str) -> None:
        self.log[step] = message
        logger.info("%s [%s] %s", self.job, step, message)

    def skipped(self, step: str, why: str) -> None:
        self.log[step] = f"skipped: {why}"
        logger.info("%s [%s] skipped: %s", self.job, step, why)

    def problem(self, step: str, message: str) -> None:
        self.log[step] = f"PROBLEM: {message}"
        logger.error("%s [%s] %s", self.job, step, message)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


@dataclass
class _Result:
    steps: dict[str, str] = field(default_factory=dict)

    def as_detail(self) -> dict[str, Any]:
        """JSON for JobRun.detail and the Celery result."""
        return _jsonable(asdict(self))


# --------------------------------------------------------------------------- daily summary


@dataclass
class RefreshResult(_Result):
    refreshed_at: datetime | None = None
    duration_ms: int | None = None
    summary_rows: int = 0


def refresh_daily_summary() -> RefreshResult:
    """REFRESH MATERIALIZED VIEW CONCURRENTLY lead_sync_daily_summary through refresh_daily_summary().

    CONCURRENTLY takes an EXCLUSIVE lock, which still admits readers (plain REFRESH would take
    ACCESS EXCLUSIVE and block every dashboard for the duration). Two refreshes are kept apart by
    the task's advisory lock, not here.
    """
    steps = Steps("refresh_daily_summary")
    with connection.cursor() as cursor:
        cursor.execute("SELECT refresh_daily_summary()")
    row = fetch_one(
        """
        SELECT r.refreshed_at, r.duration_ms, (SELECT COUNT(*) FROM lead_sync_daily_summary) AS summary_rows
        FROM materialized_view_refreshes r WHERE r.view_name = 'lead_sync_daily_summary'
        """
    ) or {}
    result = RefreshResult(**row)
    steps.did("refresh", f"{result.summary_rows} summary rows in {result.duration_ms} ms")
    result.steps = steps.log
    return result


# --------------------------------------------------------------------------- history clean-up

_HISTORY_COLUMNS = (
    "id, lead_id, sync_type, sync_direction, sync_status, fields_changed, error_message, created_at, synced_at"
)

# One batch = one statement = one transaction: the same rows leave lead_sync_history and enter the
# archive together, so a killed worker or a lost database leaves each row in exactly one table.
# - ORDER BY synced_at walks idx_sync_history_monitoring from its old end and stops at LIMIT; the
#   floor (the previous batch's newest synced_at) keeps later batches from re-walking the index
#   entries of rows already moved (dead until vacuum).
# - FOR UPDATE SKIP LOCKED: we never wait on a row someone else holds; such a row stays for the
#   next run. Only row locks on old rows are taken: inserts by the sync never conflict with them.
# - id = ANY(ARRAY(...)) makes the delete a primary-key lookup per row; a join with the CTE may be
#   planned as a merge join that walks the whole primary key, every batch.
# - The archive's primary key makes a double insert impossible: it would fail the whole batch.
_MOVE_BATCH_SQL = f"""
WITH batch AS (
    SELECT id FROM lead_sync_history
    WHERE synced_at < %(cutoff)s AND synced_at >= %(floor)s
    ORDER BY synced_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), moved AS (
    DELETE FROM lead_sync_history WHERE id = ANY(ARRAY(SELECT id FROM batch))
    RETURNING {_HISTORY_COLUMNS}
), archived AS (
    INSERT INTO lead_sync_history_archive ({_HISTORY_COLUMNS}, archived_at)
    SELECT {_HISTORY_COLUMNS}, now() FROM moved
    RETURNING synced_at
)
SELECT COUNT(*), MAX(synced_at) FROM archived
"""


@dataclass
class ArchiveResult(_Result):
    cutoff: datetime | None = None
    moved: int = 0
    batches: int = 0
    seconds: float = 0.0
    vacuum_seconds: float = 0.0
    left_behind: int = 0


def _move_batch(*, cutoff: datetime, floor: datetime, limit: int) -> tuple[int, datetime | None]:
    """Move up to `limit` of the oldest rows older than `cutoff`; returns (rows moved, newest synced_at)."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Our row locks never block the sync's inserts; a table lock queued behind a migration
        # would, so give up quickly instead of queueing (the next run picks up where we stopped).
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{settings.HISTORY_ARCHIVE_LOCK_TIMEOUT_MS}ms"])
        cursor.execute(_MOVE_BATCH_SQL, {"cutoff": cutoff, "floor": floor, "limit": limit})
        moved, newest = cursor.fetchone()
    return moved, newest


def archive_history(
    *,
    retention_days: int | None = None,
    batch_size: int | None = None,
    pause_seconds: float | None = None,
    max_batches: int | None = None,
    vacuum: bool = True,
    now: datetime | None = None,
) -> ArchiveResult:
    """Move history older than the retention from lead_sync_history to lead_sync_history_archive.

    Runs in batches of `batch_size` rows, each its own short transaction, with an optional pause
    between batches so the sync's writes interleave. Idempotent: a second run moves only what
    arrived (or was skipped) since; a run stopped anywhere is finished by the next one.
    Afterwards the hot table is vacuumed and both tables analysed (see the "vacuum" step).
    """
    retention_days = settings.HISTORY_RETENTION_DAYS if retention_days is None else retention_days
    batch_size = batch_size or settings.HISTORY_ARCHIVE_BATCH_SIZE
    pause_seconds = settings.HISTORY_ARCHIVE_BATCH_PAUSE_MS / 1000 if pause_seconds is None else pause_seconds
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    steps = Steps("archive_history")
    result = ArchiveResult(cutoff=(now or timezone.now()) - timedelta(days=retention_days))
    started = time.monotonic()

    floor = datetime.min.replace(tzinfo=dt_timezone.utc)
    while max_batches is None or result.batches < max_batches:
        moved, newest = _move_batch(cutoff=result.cutoff, floor=floor, limit=batch_size)
        if moved == 0:
            break
        result.moved += moved
        result.batches += 1
        floor = newest
        logger.debug("archive_history: batch %s moved %s rows up to %s", result.batches, moved, newest)
        if moved < batch_size:
            break
        if pause_seconds:
            time.sleep(pause_seconds)
    result.seconds = round(time.monotonic() - started, 3)
    if result.moved:
        steps.did(
            "move",
            f"moved {result.moved} rows older than {result.cutoff:%Y-%m-%d %H:%M} UTC in {result.batches} "
            f"batch(es) of up to {batch_size}, {result.seconds} s",
        )
    else:
        steps.skipped("move", f"no history older than {result.cutoff:%Y-%m-%d %H:%M} UTC")

    if not result.moved:
        steps.skipped("vacuum", "nothing was moved")
    elif not vacuum:
        steps.skipped("vacuum", "not asked to")
    elif connection.in_atomic_block:
        steps.skipped("vacuum", "called inside a transaction, where VACUUM cannot run")
    else:
        vacuum_started = time.monotonic()
        with connection.cursor() as cursor:
            # A weekly move of ~20% of the rows stays under autovacuum's default threshold, and until
            # the table is vacuumed every index scan from the old end (MIN(synced_at), the next
            # clean-up) walks the dead entries: 25 s for the first MIN after moving 2M of 10M rows.
            # VACUUM takes no lock the sync's inserts wait for; ANALYZE keeps the row estimates true.
            cursor.execute("VACUUM (ANALYZE) lead_sync_history")
            cursor.execute("ANALYZE lead_sync_history_archive")
        result.vacuum_seconds = round(time.monotonic() - vacuum_started, 3)
        steps.did("vacuum", f"vacuumed and analysed lead_sync_history, analysed the archive: {result.vacuum_seconds} s")

    # Rows locked by someone else (skipped) or written with an old synced_at during the run.
    result.left_behind = fetch_one(
        "SELECT COUNT(*) AS n FROM lead_sync_history WHERE synced_at < %s", [result.cutoff]
    )["n"]  # type: ignore[index]
    if result.left_behind:
        steps.did("check", f"{result.left_behind} old rows left for the next run (locked or late)")
    else:
        steps.did("check", "no history older than the cutoff remains")
    result.steps = steps.log
    return result


@dataclass
class PruneResult(_Result):
    job_runs: int = 0
    stale_lead_checks: int = 0


def prune_job_records(*, older_than_days: int | None = None, now: datetime | None = None) -> PruneResult:
    """Delete our own bookkeeping (JobRun rows, stale-lead checks) older than JOB_RECORD_RETENTION_DAYS."""
    older_than_days = settings.JOB_RECORD_RETENTION_DAYS if older_than_days is None else older_than_days
    steps = Steps("prune_job_records")
    before = (now or timezone.now()) - timedelta(days=older_than_days)
    result = PruneResult()
    result.job_runs, _ = JobRun.objects.filter(started_at__lt=before).delete()
    result.stale_lead_checks, _ = StaleLeadCheck.objects.filter(checked_at__lt=before).delete()
    steps.did("prune", f"deleted {result.job_runs} job runs and {result.stale_lead_checks} stale-lead checks "
                       f"older than {older_than_days} days")
    result.steps = steps.log
    return result


# --------------------------------------------------------------------------- monthly export

_EXPORT_FIELDS = (
    "id", "lead_id", "sync_type", "sync_direction", "sync_status", "fields_changed", "error_message",
    "created_at", "synced_at", "archived_at",
)


class _HashingWriter:
    """A write-only file wrapper that hashes exactly the bytes handed to the file."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def archive_file_name(month: date) -> str:
    return f"lead_sync_history_{month:%Y-%m}.jsonl.gz"


def _month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=dt_timezone.utc)
    end = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=dt_timezone.utc)
    return start, end


def _row_line(values: tuple[Any, ...]) -> bytes:
    row = dict(zip(_EXPORT_FIELDS, values))
    row["lead_id"] = str(row["lead_id"])
    for name in ("created_at", "synced_at", "archived_at"):
        row[name] = row[name].astimezone(dt_timezone.utc).isoformat()
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _write_month_file(month: date, path: Path) -> tuple[int, int, str, int]:
    """Write the month's archive rows (by id) to `path` via a temp file; returns count, id sum, sha256, size.

    Rename after fsync: a reader (or the verify step) never sees a half-written file under the
    final name, and a crash leaves only a temp file the next run overwrites.
    """
    start, end = _month_bounds(month)
    tmp = path.with_name(f".{path.name}.tmp")
    count = id_sum = 0
    with open(tmp, "wb") as raw:
        writer = _HashingWriter(raw)
        # mtime=0: the same rows always give the same bytes, so a re-export has the same checksum.
        with gzip.GzipFile(filename="", mode="wb", fileobj=writer, mtime=0) as gz:  # type: ignore[arg-type]
            # A transaction so the ORM streams through a server-side cursor without materialising.
            with transaction.atomic():
                rows = (
                    LeadSyncHistoryArchive.objects.filter(synced_at__gte=start, synced_at__lt=end)
                    .order_by("id")
                    .values_list(*_EXPORT_FIELDS)
                    .iterator(chunk_size=5000)
                )
                for values in rows:
                    gz.write(_row_line(values))
                    count += 1
                    id_sum += values[0]
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return count, id_sum, writer.sha256.hexdigest(), writer.size


def file_sha256(path: Path) -> str:
    sha256 = hashlib.sha256()
    with open(path, "rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 20), b""):
            sha256.update(chunk)
    return sha256.hexdigest()


def read_archive_file(path: Path) -> tuple[int, int, str]:
    """Read a month file back from disk: (row count, id sum, sha256 of the file). Raises on damage."""
    count = id_sum = 0
    with gzip.open(path, "rb") as gz:
        for line in gz:
            id_sum += int(json.loads(line)["id"])
            count += 1
    return count, id_sum, file_sha256(path)


def _archive_month_totals(month: date) -> tuple[int, int]:
    start, end = _month_bounds(month)
    row = fetch_one(
        "SELECT COUNT(*) AS n, COALESCE(SUM(id), 0) AS s FROM lead_sync_history_archive "
        "WHERE synced_at >= %s AND synced_at < %s",
        [start, end],
    )
    return int(row["n"]), int(row["s"])  # type: ignore[index]


class _RowsChanged(Exception):
    """The archive rows of a month are not the ones in its verified file; nothing was deleted."""


def _delete_exported_rows(export: ArchiveExport) -> int:
    """Delete the month's archive rows, only if they are exactly the rows in the verified file."""
    start, end = _month_bounds(export.month)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH gone AS (
                DELETE FROM lead_sync_history_archive WHERE synced_at >= %s AND synced_at < %s RETURNING id
            )
            SELECT COUNT(*), COALESCE(SUM(id), 0) FROM gone
            """,
            [start, end],
        )
        count, id_sum = cursor.fetchone()
        if (count, int(id_sum)) != (export.row_count, int(export.id_sum)):
            # Rolling back puts every row back: a half-checked delete is worse than none.
            raise _RowsChanged(f"{count} rows (id sum {id_sum}) in the archive, {export.row_count} in the file")
    return count


@dataclass
class ExportResult(_Result):
    archive_dir: str = ""
    exported: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    rows_deleted: int = 0
    problems: list[str] = field(default_factory=list)


def export_archive_months(
    *,
    archive_dir: Path | str | None = None,
    delete_after_export: bool | None = None,
    now: datetime | None = None,
) -> ExportResult:
    """Write each whole UTC calendar month of the archive table to a verified gzip JSON-lines file.

    A month is exported once it is over and none of its rows is still in lead_sync_history.
    Each file is read back from disk and checked against its manifest (row count, id sum,
    sha256) before anything is deleted; rows are deleted only with delete_after_export, and only
    if they are exactly the rows in the file. A file that does not match its manifest is reported
    and left alone, as are its rows. Re-running rewrites nothing that is already verified.
    """
    archive_dir = Path(archive_dir or settings.ARCHIVE_DIR)
    delete_after_export = settings.ARCHIVE_DELETE_AFTER_EXPORT if delete_after_export is None else delete_after_export
    now = now or timezone.now()
    this_month = date(now.astimezone(dt_timezone.utc).year, now.astimezone(dt_timezone.utc).month, 1)
    steps = Steps("export_archive_months")
    result = ExportResult(archive_dir=str(archive_dir))
    archive_dir.mkdir(parents=True, exist_ok=True)

    # Months with rows in the archive, plus months whose last check found a problem (re-checked
    # until an operator fixes them). A verified month whose rows were deleted is done.
    months = {month for month in archive_months() if month < this_month}
    months |= set(
        ArchiveExport.objects.filter(month__lt=this_month)
        .exclude(status=ArchiveExportStatus.VERIFIED)
        .values_list("month", flat=True)
    )
    months = sorted(months)
    if not months:
        steps.skipped("months", "no whole month in the archive")
    for month in months:
        label = f"{month:%Y-%m}"
        start, end = _month_bounds(month)
        if fetch_one("SELECT EXISTS (SELECT 1 FROM lead_sync_history WHERE synced_at >= %s AND synced_at < %s) AS e",
                     [start, end])["e"]:  # type: ignore[index]
            steps.skipped(label, "some of its rows are still in lead_sync_history (clean-up has not moved them yet)")
            continue
        _export_month(month, archive_dir=archive_dir, delete=delete_after_export, now=now, steps=steps, result=result)
    result.steps = steps.log
    return result


def _export_month(
    month: date, *, archive_dir: Path, delete: bool, now: datetime, steps: Steps, result: ExportResult
) -> None:
    label = f"{month:%Y-%m}"
    path = archive_dir / archive_file_name(month)
    export = ArchiveExport.objects.filter(month=month).first()
    in_archive, in_archive_sum = _archive_month_totals(month)

    if export is not None:
        if not path.exists():
            if in_archive == 0:
                export.status = ArchiveExportStatus.MISSING
                export.save(update_fields=["status"])
                result.problems.append(f"{label}: file {path.name} is missing and its rows were already deleted")
                steps.problem(label, result.problems[-1])
                return
            steps.did(label, f"file {path.name} is missing; exporting the {in_archive} archived rows again")
            export = None
        else:
            if not _verify(export, path, now=now, steps=steps, result=result):
                return
            if in_archive == 0:
                steps.skipped(label, f"already exported ({export.row_count} rows) and emptied")
                return
            if (in_archive, in_archive_sum) != (export.row_count, int(export.id_sum)):
                if export.rows_deleted:
                    result.problems.append(
                        f"{label}: {in_archive} rows reached the archive after the month was exported and emptied"
                    )
                    steps.problem(label, result.problems[-1])
                    return
                steps.did(label, f"archive holds {in_archive} rows, the file {export.row_count}: exporting again")
                export = None

    if export is None:
        count, id_sum, sha256, size = _write_month_file(month, path)
        export, _ = ArchiveExport.objects.update_or_create(
            month=month,
            defaults={
                "file_name": path.name, "row_count": count, "id_sum": id_sum, "sha256": sha256,
                "size_bytes": size, "exported_at": now, "verified_at": None,
                "status": ArchiveExportStatus.WRITTEN, "rows_deleted": 0, "deleted_at": None,
            },
        )
        result.exported.append(label)
        steps.did(f"{label} write", f"{count} rows -> {path.name} ({size} bytes, sha256 {sha256[:12]}…)")
        if not _verify(export, path, now=now, steps=steps, result=result):
            return

    if not delete:
        steps.skipped(f"{label} delete", "ARCHIVE_DELETE_AFTER_EXPORT is off: the rows stay in the archive")
        return
    try:
        deleted = _delete_exported_rows(export)
    except _RowsChanged as exc:
        result.problems.append(f"{label}: not deleted: {exc}")
        steps.problem(f"{label} delete", result.problems[-1])
        return
    export.rows_deleted = deleted
    export.deleted_at = timezone.now()
    export.save(update_fields=["rows_deleted", "deleted_at"])
    result.rows_deleted += deleted
    steps.did(f"{label} delete", f"deleted {deleted} archive rows, all in the verified file")


def _verify(export: ArchiveExport, path: Path, *, now: datetime, steps: Steps, result: ExportResult) -> bool:
    """Read the file back from disk and compare it with its manifest; mark the manifest accordingly."""
    label = f"{export.month:%Y-%m}"
    expected = (export.row_count, int(export.id_sum), export.sha256)
    try:
        if export.verified_at is not None and file_sha256(path) == export.sha256:
            # The very bytes that were parsed and matched before: no need to parse millions of lines again.
            found = expected
        else:
            found = read_archive_file(path)
        error = None
    except (OSError, EOFError, ValueError, KeyError) as exc:  # gzip/JSON damage
        found, error = None, f"{type(exc).__name__}: {exc}"
    if found != expected:
        export.status = ArchiveExportStatus.CORRUPT
        export.save(update_fields=["status"])
        detail = error or (
            f"file has {found[0]} rows, sha256 {found[2][:12]}…; manifest says {export.row_count}, "  # type: ignore[index]
            f"{export.sha256[:12]}…"
        )
        result.problems.append(f"{label}: {path.name} does not match its manifest ({detail}); nothing deleted")
        steps.problem(f"{label} verify", result.problems[-1])
        return False
    export.status = ArchiveExportStatus.VERIFIED
    export.verified_at = now
    export.save(update_fields=["status", "verified_at"])
    result.verified.append(label)
    steps.did(f"{label} verify", f"{path.name} read back: {export.row_count} rows, checksum matches the manifest")
    return True


# --------------------------------------------------------------------------- checks and snapshots


def record_stale_leads(*, now: datetime | None = None) -> StaleLeadCheck:
    """Run check_stale_leads() and keep its answer as a StaleLeadCheck row."""
    steps = Steps("record_stale_leads")
    row = fetch_one("SELECT stale_count, oldest_pending FROM check_stale_leads()") or {}
    check = StaleLeadCheck.objects.create(checked_at=now or timezone.now(), **row)
    steps.did("check", f"{check.stale_count} pending leads older than an hour, oldest created {check.oldest_pending}")
    return check


def refresh_snapshots() -> dict[str, float]:
    """Recompute every dashboard snapshot in Redis (seconds per selector); nothing when snapshots are off."""
    steps = Steps("refresh_snapshots")
    if settings.SELECTOR_SNAPSHOT_TTL <= 0:
        steps.skipped("refresh", "SELECTOR_SNAPSHOT_TTL is 0: pages read the database directly")
        return {}
    timings = snapshots.refresh_all()
    steps.did("refresh", f"{len(timings)} snapshots in {sum(timings.values()):.2f} s")
    return timings
