"""Alerting tasks: the 5-minute check, the dead-man check on it, and message delivery.

Queues (settings CELERY_TASK_ROUTES): the checks and the minute's delivery sweep run on `checks`;
each delivery is its own task on `deliveries`, so one stuck endpoint holds one delivery slot and
never a check. Every task is safe to run twice at once: the services claim their work with row
locks and conditional updates, which is what makes acks_late (redelivery after a dead worker) safe.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from celery import shared_task
from django.db import transaction

from monitoring.alerts.rules import ALERT_CHECK_TASK, DEADMAN_TASK
from monitoring.models import JobRun, RuleKind
from monitoring.services import alerts as alert_services
from monitoring.services.jobs import run_recorded

logger = logging.getLogger(__name__)

DELIVER_TASK = "monitoring.deliver_notifications"  # the sweep
DELIVER_ONE_TASK = "monitoring.deliver_notification"
CHANNEL_BUSY_RETRY_SECONDS = 2
CHANNEL_BUSY_RETRIES = 30  # about a minute; then the minute's sweep queues it again


def _enqueue(delivery_ids: Iterable[int]) -> int:
    """Queue one delivery task each; returns how many went to the broker (the rest wait for the sweep)."""
    sent = 0
    for delivery_id in delivery_ids:
        try:
            deliver_notification.delay(delivery_id)
            sent += 1
        except Exception:
            # The broker is down or hung (bounded by the broker timeouts): the next sweep retries.
            logger.warning("could not enqueue delivery %s; the beat sweep will send it", delivery_id, exc_info=True)
            break
    return sent


def deliver_soon(delivery_ids: Iterable[int] | None = None) -> None:
    """Ask the deliveries workers to send these (default: every due) messages now, not at the next sweep.

    After commit, so the worker sees the rows; a broker hiccup only delays them to that sweep.
    """
    ids = list(delivery_ids) if delivery_ids is not None else None

    def enqueue() -> None:
        _enqueue(ids if ids is not None else alert_services.due_delivery_ids())

    transaction.on_commit(enqueue)


def _check(*, kinds: list[str] | None) -> Callable[[JobRun], None]:
    """A run_recorded body: evaluate the rules (of `kinds`) and queue delivery of what changed."""

    def body(run: JobRun) -> None:
        report = alert_services.evaluate_alerts(kinds=kinds)
        run.rows_touched = len(report.queued)
        run.detail = report.as_dict()
        if report.queued:
            deliver_soon(report.queued)

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
    """Queue a task for every due message and retry (beat: every minute); sends nothing itself."""

    # Not single-instance: a delivery queued twice is still claimed once by a conditional update.
    def body(run: JobRun) -> None:
        due = alert_services.due_delivery_ids()
        queued = _enqueue(due)
        run.rows_touched = queued
        run.detail = {"due": len(due), "queued": queued}

    return run_recorded(DELIVER_TASK, body, single_instance=False)


@shared_task(name=DELIVER_ONE_TASK, bind=True)
def deliver_notification(self: Any, delivery_id: int) -> str:
    """Send one message if it is due and this worker claims it (its own task: one slow endpoint, one slot)."""
    status = alert_services.deliver_notification(delivery_id=delivery_id)
    if status == alert_services.CHANNEL_BUSY:
        # The channel is sending another message (a slow endpoint holds one slot, not every slot):
        # ask again soon, without holding a slot meanwhile; the minute's sweep is the backstop.
        if self.request.retries >= CHANNEL_BUSY_RETRIES:
            return status
        raise self.retry(countdown=CHANNEL_BUSY_RETRY_SECONDS, max_retries=CHANNEL_BUSY_RETRIES)
    if status is not None:
        return status
    # Someone else holds it. If that worker died (this message came back after its loss), its
    # claim becomes takeable once it is surely dead: look again then, a few times at most.
    wait = alert_services.seconds_until_claim_is_stale(delivery_id)
    if wait is None:
        return "not due"
    raise self.retry(countdown=wait, max_retries=3)


SEND_TEST_TASK = "monitoring.send_test_message"


# Queue `deliveries` (CELERY_TASK_ROUTES, with the other per-delivery tasks): a slow endpoint holds one
# delivery slot, never the web request that asked for the test.
@shared_task(name=SEND_TEST_TASK)
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
