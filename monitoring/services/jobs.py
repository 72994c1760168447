"""Recording runs of scheduled tasks, and keeping each task to one instance at a time."""
from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from django.db import DatabaseError, connection
from django.utils import timezone

from monitoring.models import JobOutcome, JobRun

logger = logging.getLogger(__name__)


class JobAlreadyRunning(Exception):
    """Another worker holds this task's lock; this start exits without doing anything."""


def _lock_key(name: str) -> int:
    # Advisory locks take a bigint; a stable hash of the task name keeps keys equal across processes.
    return zlib.crc32(f"leadsync:{name}".encode())


@contextlib.contextmanager
def advisory_lock(name: str) -> Iterator[None]:
    """Hold a session-level PostgreSQL advisory lock for `name`, or raise JobAlreadyRunning."""
    key = _lock_key(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        if not cursor.fetchone()[0]:
            raise JobAlreadyRunning(name)
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        except DatabaseError:
            # The session is gone (lost database, killed backend): its advisory locks went with it.
            # Raising here would hide the error that ended the run.
            logger.warning("%s: could not release the advisory lock; the session is gone", name)


@contextlib.contextmanager
def record_job(task_name: str, *, single_instance: bool = False) -> Iterator[JobRun]:
    """Record one run of `task_name` as a JobRun row; set run.rows_touched / run.detail inside.

    With single_instance, a second concurrent start is recorded as skipped, logs why, and raises
    JobAlreadyRunning out of the `with` (a context manager cannot skip its body otherwise):
    callers catch it, e.g. through run_recorded(). Exceptions are recorded as failed and re-raised.
    """
    run = JobRun.objects.create(task_name=task_name, started_at=timezone.now())
    with contextlib.ExitStack() as held:
        if single_instance:
            try:
                held.enter_context(advisory_lock(task_name))
            except JobAlreadyRunning:
                run.outcome = JobOutcome.SKIPPED
                run.detail = {**run.detail, "skipped": "another run holds the lock"}
                run.finished_at = timezone.now()
                run.save()
                logger.info("%s: another run is in progress; this one exits", task_name)
                raise
            _close_abandoned_runs(run)
        try:
            yield run
        except Exception as exc:
            run.outcome = JobOutcome.FAILED
            run.error = f"{type(exc).__name__}: {exc}"
            run.finished_at = timezone.now()
            _reconnect_if_lost()
            run.save()
            raise
        if run.outcome == JobOutcome.RUNNING:
            run.outcome = JobOutcome.SUCCEEDED
        run.finished_at = timezone.now()
        run.save()
    logger.info("%s: %s, %s rows, %s", task_name, run.outcome, run.rows_touched, run.detail)


def run_recorded(task_name: str, body: Callable[[JobRun], None], *, single_instance: bool = True) -> dict[str, Any]:
    """Run `body(run)` inside record_job; returns run.detail, or a 'skipped' note if another run holds the lock."""
    try:
        with record_job(task_name, single_instance=single_instance) as run:
            body(run)
    except JobAlreadyRunning:
        return {"skipped": "another run holds the lock"}
    return run.detail


def _close_abandoned_runs(run: JobRun) -> None:
    """Mark earlier 'running' rows of this task as failed: we hold its lock, so none is alive.

    A worker killed mid-run (or a lost database) leaves its JobRun at 'running' forever; the
    next run that gets the lock is the first moment we know for sure it is dead.
    """
    abandoned = JobRun.objects.filter(task_name=run.task_name, outcome=JobOutcome.RUNNING).exclude(pk=run.pk)
    count = abandoned.update(outcome=JobOutcome.FAILED, error="interrupted: the worker or its database connection was lost")
    if count:
        logger.warning("%s: marked %s interrupted run(s) as failed", run.task_name, count)


def _reconnect_if_lost() -> None:
    """After a lost connection Django keeps the dead one; drop it so the next query reconnects.

    Only outside a transaction: inside one, closing would silently discard the caller's work.
    """
    if connection.in_atomic_block or connection.connection is None:
        return
    if not connection.is_usable():
        connection.close()
