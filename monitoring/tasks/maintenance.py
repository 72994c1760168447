"""Maintenance tasks: thin wrappers, one service each, each run recorded and kept to one instance.

A second start while one runs is recorded as skipped and exits (record_job's advisory lock).
CELERY_TASK_ACKS_LATE + REJECT_ON_WORKER_LOST re-queue a run whose worker died; every service
here is safe to run again, which is how such a run is finished.
"""
from __future__ import annotations

from typing import Any

from celery import shared_task

from monitoring.models import JobRun
from monitoring.services import maintenance
from monitoring.services.jobs import run_recorded


class MaintenanceProblem(Exception):
    """A run finished but found something an operator must look at (recorded as a failed run)."""


@shared_task(name="monitoring.refresh_daily_summary")
def refresh_daily_summary() -> dict[str, Any]:
    def body(run: JobRun) -> None:
        result = maintenance.refresh_daily_summary()
        run.rows_touched = result.summary_rows
        run.detail = result.as_detail()

    return run_recorded("monitoring.refresh_daily_summary", body)


@shared_task(name="monitoring.archive_history")
def archive_history() -> dict[str, Any]:
    def body(run: JobRun) -> None:
        moved = maintenance.archive_history()
        pruned = maintenance.prune_job_records()
        run.rows_touched = moved.moved
        run.detail = {**moved.as_detail(), "pruned": pruned.as_detail()}

    return run_recorded("monitoring.archive_history", body)


@shared_task(name="monitoring.export_archive_months")
def export_archive_months() -> dict[str, Any]:
    def body(run: JobRun) -> None:
        result = maintenance.export_archive_months()
        run.rows_touched = result.rows_deleted
        run.detail = result.as_detail()
        if result.problems:
            # Failing the run puts it in red on the Jobs page; the detail keeps what did succeed.
            raise MaintenanceProblem("; ".join(result.problems))

    return run_recorded("monitoring.export_archive_months", body)


@shared_task(name="monitoring.record_stale_leads")
def record_stale_leads() -> dict[str, Any]:
    def body(run: JobRun) -> None:
        check = maintenance.record_stale_leads()
        run.rows_touched = check.stale_count
        run.detail = {
            "stale_count": check.stale_count,
            "oldest_pending": check.oldest_pending.isoformat() if check.oldest_pending else None,
        }

    return run_recorded("monitoring.record_stale_leads", body)


@shared_task(name="monitoring.refresh_snapshots")
def refresh_snapshots() -> dict[str, Any]:
    def body(run: JobRun) -> None:
        timings = maintenance.refresh_snapshots()
        run.rows_touched = len(timings)
        run.detail = {"seconds": {name: round(seconds, 3) for name, seconds in timings.items()}}

    return run_recorded("monitoring.refresh_snapshots", body)
