"""Rollup tasks: the compactor (every 5 s) on its own `rollups` queue, and the weekly verify and the
rebuild on `maintenance`. Queues and time limits come from CELERY_TASK_QUEUES_BY_NAME and
TASK_TIME_LIMITS in the settings (the only place they are set).

The compactor is not recorded as a JobRun: at one run every 5 s that would be 17,000 rows a day
of bookkeeping about nothing. It logs what it folded; the verify job is recorded like the others.
"""
from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from monitoring.models import JobRun
from monitoring.services import rollups
from monitoring.services.jobs import run_recorded

logger = logging.getLogger(__name__)

COMPACT_TASK = "monitoring.compact_rollups"
VERIFY_TASK = "monitoring.verify_rollups"
REBUILD_TASK = "monitoring.rebuild_rollups"


class RollupsDisagree(Exception):
    """The rollups no longer match the tables (recorded as a failed run; the alert rule reads it)."""


# Its own queue and worker, with short limits (20 / 30 s): a fold is milliseconds, and no
# maintenance run can delay it.
@shared_task(name=COMPACT_TASK, ignore_result=True)
def compact_rollups() -> dict[str, Any]:
    result = rollups.compact_rollups()
    if result.skipped:
        logger.info("compact_rollups: another compactor holds the lock; this one exits")
    elif result.folded:
        logger.info("compact_rollups: folded %s deltas in %.3f s", result.folded, result.seconds)
    return {"folded": result.folded, "skipped": result.skipped, "seconds": result.seconds}


# The maintenance queue's limits (900 / 960 s); at 1M leads / 10M attempts a verify took 102 s and a
# rebuild 66 s (docs/operating.md). For tables ten times larger run `manage.py rebuild_rollups`.
@shared_task(name=VERIFY_TASK)
def verify_rollups() -> dict[str, Any]:
    def body(run: JobRun) -> None:
        result = rollups.verify_rollups()
        run.rows_touched = sum(result.mismatches.values())
        run.detail = {"mismatches": result.mismatches, "seconds": result.seconds}
        if not result.agree:
            raise RollupsDisagree(
                "rollups disagree with the tables: "
                + ", ".join(f"{name} ({count} keys)" for name, count in result.mismatches.items())
                + "; run `manage.py rebuild_rollups`"
            )

    return run_recorded(VERIFY_TASK, body)


@shared_task(name=REBUILD_TASK)
def rebuild_rollups() -> dict[str, Any]:
    def body(run: JobRun) -> None:
        result = rollups.rebuild_rollups()
        run.detail = {"history_days": result.history_days, "batches": result.batches,
                      "longest_batch_seconds": result.longest_batch_seconds, "seconds": result.seconds}

    return run_recorded(REBUILD_TASK, body)
