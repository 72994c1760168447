"""Two checks (or two senders) running at once, each on its own database connection, send one message.

These tests commit for real (transaction=True), so the threads see each other's rows and locks;
serialized_rollback restores the migrations' rows (default rules, roles, schedules) afterwards.
"""
from __future__ import annotations

import threading

import pytest
from django.core import mail
from django.db import connection

from monitoring.alerts import rules as alert_rules
from monitoring.models import Delivery, DeliveryStatus, Incident, MessageKind, RuleKind
from monitoring.services import alerts as alert_services
from tests.alert_helpers import make_channels, only_rule, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def run_in_threads(count: int, work) -> list:
    """Start `count` threads at the same instant; each runs `work()` on its own connection."""
    barrier = threading.Barrier(count)
    results: list = []
    errors: list = []

    def target() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(work())
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return results


def test_two_parallel_checks_open_one_incident_and_send_one_message_per_channel(server, monkeypatch):
    channels = make_channels(server.url)
    only_rule(RuleKind.SYNC_STALLED)
    real = alert_rules.EVALUATORS[RuleKind.SYNC_STALLED]
    other_check_done = threading.Event()

    def slow(rule):
        # The check that got the rule's lock holds it until the other check has finished: that one
        # must meet the lock and skip (no sleep that a loaded machine might outlast). A check that
        # waited for the lock instead would stall both until this deadline and fail below.
        other_check_done.wait(timeout=30)
        return real(rule)

    monkeypatch.setitem(alert_rules.EVALUATORS, RuleKind.SYNC_STALLED, slow)

    def check():
        report = alert_services.evaluate_alerts()
        other_check_done.set()
        alert_services.deliver_due_notifications()
        return report

    reports = run_in_threads(2, check)

    assert sorted(len(r.fired) for r in reports) == [0, 1]
    assert sorted(len(r.skipped) for r in reports) == [0, 1]  # the second found the rule locked
    assert Incident.objects.count() == 1
    assert Delivery.objects.filter(kind=MessageKind.FIRING).count() == len(channels)
    assert len(server.requests) == 2 and len(mail.outbox) == 1


def test_parallel_checks_after_one_another_still_send_once(server):
    make_channels(server.url)
    only_rule(RuleKind.SYNC_STALLED)
    reports = run_in_threads(4, alert_services.evaluate_alerts)
    alert_services.deliver_due_notifications()

    assert sum(len(r.fired) for r in reports) == 1
    assert Incident.objects.count() == 1
    assert Delivery.objects.count() == 3
    assert len(server.requests) == 2 and len(mail.outbox) == 1


def test_two_parallel_senders_send_each_message_once(server):
    make_channels(server.url)
    only_rule(RuleKind.SYNC_STALLED)
    alert_services.evaluate_alerts()
    server.delay = 0.3  # a slow Slack/Telegram keeps the first sender busy while the second looks

    outcomes = run_in_threads(2, alert_services.deliver_due_notifications)

    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 3
    assert len(server.requests) == 2 and len(mail.outbox) == 1
    assert sum(o.get(DeliveryStatus.SENT, 0) for o in outcomes) == 3


def test_a_check_started_while_another_runs_is_recorded_as_skipped_and_does_not_fail():
    from django.db import connections

    from monitoring.models import JobOutcome, JobRun
    from monitoring.services.jobs import _lock_key
    from monitoring.tasks.alerts import check_deadman, evaluate_alerts

    # The running check: another session holds the task's advisory lock.
    key = _lock_key("monitoring.evaluate_alerts")
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])

        assert evaluate_alerts.apply().get() == {"skipped": "another run holds the lock"}  # not a failed task
        assert check_deadman.apply().get()["evaluated"] == 1  # a different task, its own lock

        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
    finally:
        other.close()

    run = JobRun.objects.get(task_name="monitoring.evaluate_alerts")
    assert (run.outcome, run.detail, run.finished_at is not None) == (JobOutcome.SKIPPED, {"skipped": "another run holds the lock"}, True)
    assert Incident.objects.count() == 0  # the skipped start checked nothing
    assert evaluate_alerts.apply().get()["evaluated"] == 9  # the lock is free again (8 rules + the rollup-verify rule)
