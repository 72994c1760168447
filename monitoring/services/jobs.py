"""Recording runs of scheduled tasks, and keeping each task to one instance at a time."""
from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import Iterator

from django.db import connection
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
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


@contextlib.contextmanager
def record_job(task_name: str, *, single_instance: bool = False) -> Iterator[JobRun]:
    """Record one run of `task_name` as a JobRun row; set run.rows_touched / run.detail inside.

    With single_instance, a second concurrent start is recorded as skipped, logs why and raises
    JobAlreadyRunning from the `with` statement, so its body never runs (a context manager cannot
    skip its body otherwise): tasks catch it and return. Exceptions are recorded as failed and re-raised.
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
        try:
            yield run
        except Exception as exc:
            run.outcome = JobOutcome.FAILED
            run.error = f"{type(exc).__name__}: {exc}"
            run.finished_at = timezone.now()
            run.save()
            raise
    if run.outcome == JobOutcome.RUNNING:
        run.outcome = JobOutcome.SUCCEEDED
    run.finished_at = timezone.now()
    run.save()
    logger.info("%s: %s, %s rows, %s", task_name, run.outcome, run.rows_touched, run.detail)
