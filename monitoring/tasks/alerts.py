"""Alerting tasks: the 5-minute check, the dead-man check on it, and message delivery.

Each is thin (one service), runs inside record_job, and is safe to run twice at once: the
services claim their work with row locks and conditional updates.
"""
from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import transaction

from monitoring.alerts.rules import ALERT_CHECK_TASK, DEADMAN_TASK
from monitoring.models import RuleKind
from monitoring.services import alerts as alert_services
from monitoring.services.jobs import JobAlreadyRunning, record_job

logger = logging.getLogger(__name__)

DELIVER_TASK = "monitoring.deliver_notifications"


def deliver_soon() -> None:
    """Ask a worker to send queued messages now rather than at the next minute's sweep.

    After commit, so the worker sees the rows; a broker hiccup only delays them to that sweep.
    """

    def enqueue() -> None:
        try:
            deliver_notifications.delay()
        except Exception:
            logger.warning("could not enqueue %s; the beat sweep will send the messages", DELIVER_TASK, exc_info=True)

    transaction.on_commit(enqueue)


def _check(task_name: str, kinds: list[str] | None = None) -> dict[str, Any]:
    # single_instance: a duplicated beat's second start records 'skipped' instead of checking twice.
    try:
        with record_job(task_name, single_instance=True) as run:
            report = alert_services.evaluate_alerts(kinds=kinds)
            run.rows_touched = len(report.queued)
            run.detail = report.as_dict()
            if report.queued:
                deliver_soon()
    except JobAlreadyRunning:
        return {"skipped": "another run holds the lock"}
    return run.detail


@shared_task(name=ALERT_CHECK_TASK)
def evaluate_alerts() -> dict[str, Any]:
    """Check every alert rule but the dead-man one (beat: every 5 minutes)."""
    return _check(ALERT_CHECK_TASK)


@shared_task(name=DEADMAN_TASK)
def check_deadman() -> dict[str, Any]:
    """Fire 'alert check not completing' through the normal channels (beat: every 5 minutes)."""
    return _check(DEADMAN_TASK, [RuleKind.DEADMAN])


@shared_task(name=DELIVER_TASK)
def deliver_notifications() -> dict[str, Any]:
    """Send queued messages and due retries (beat: every minute; also right after a check queued some)."""
    # Not single-instance: each delivery is claimed by a conditional update, so two sweeps never send one twice.
    with record_job(DELIVER_TASK) as run:
        outcomes = alert_services.deliver_due_notifications()
        run.rows_touched = sum(outcomes.values())
        run.detail = outcomes
    return run.detail
