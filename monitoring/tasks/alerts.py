"""Alerting tasks: the 5-minute check, the dead-man check on it, and message delivery.

Each is thin (one service), runs inside run_recorded (a JobRun row per run), and is safe to run twice at once: the
services claim their work with row locks and conditional updates.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.db import transaction

from monitoring.alerts.rules import ALERT_CHECK_TASK, DEADMAN_TASK
from monitoring.models import JobRun, RuleKind
from monitoring.services import alerts as alert_services
from monitoring.services.jobs import run_recorded

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


def _check(*, kinds: list[str] | None) -> Callable[[JobRun], None]:
    """A run_recorded body: evaluate the rules (of `kinds`) and queue delivery of what changed."""

    def body(run: JobRun) -> None:
        report = alert_services.evaluate_alerts(kinds=kinds)
        run.rows_touched = len(report.queued)
        run.detail = report.as_dict()
        if report.queued:
            deliver_soon()

    return body


@shared_task(name=ALERT_CHECK_TASK)
def evaluate_alerts() -> dict[str, Any]:
    """Check every alert rule but the dead-man one (beat: every 5 minutes)."""
    # single instance: a duplicated beat's second start records 'skipped' instead of checking twice.
    return run_recorded(ALERT_CHECK_TASK, _check(kinds=None))


@shared_task(name=DEADMAN_TASK)
def check_deadman() -> dict[str, Any]:
    """Fire 'alert check not completing' through the normal channels (beat: every 5 minutes)."""
    return run_recorded(DEADMAN_TASK, _check(kinds=[RuleKind.DEADMAN]))


@shared_task(name=DELIVER_TASK)
def deliver_notifications() -> dict[str, Any]:
    """Send queued messages and due retries (beat: every minute; also right after a check queued some)."""
    # Not single-instance: each delivery is claimed by a conditional update, so two sweeps never send one twice.
    def body(run: JobRun) -> None:
        outcomes = alert_services.deliver_due_notifications()
        run.rows_touched = sum(outcomes.values())
        run.detail = outcomes

    return run_recorded(DELIVER_TASK, body, single_instance=False)


SEND_TEST_TASK = "monitoring.send_test_message"


# Queue `deliveries` (CELERY_TASK_ROUTES, with the other per-delivery tasks): a slow endpoint holds one
# delivery slot, never the web request that asked for the test.
@shared_task(name=SEND_TEST_TASK, soft_time_limit=60, time_limit=90)
def send_test_message(delivery_id: int) -> str | None:
    """Send one test message queued by the channel admin; the outcome is its delivery-log row."""
    return alert_services.deliver_notification(delivery_id=delivery_id)


def send_test_message_soon(delivery_id: int) -> None:
    """Enqueue send_test_message after commit; if the broker is down the minute sweep sends it."""

    def enqueue() -> None:
        try:
            send_test_message.delay(delivery_id)
        except Exception:
            logger.warning("could not enqueue %s; the beat sweep will send it", SEND_TEST_TASK, exc_info=True)

    transaction.on_commit(enqueue)
