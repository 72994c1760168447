"""Beat + worker: the schedules exist in the database and a real task runs through Redis on a real worker."""
from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from leadsync_portal.celery import app
from monitoring.models import Delivery, DeliveryStatus, Incident, JobOutcome, JobRun, RuleKind
from monitoring.tasks import alerts as alert_tasks
from tests.alert_helpers import RecordingServer, make_channels, only_rule

SCHEDULES = {
    "monitoring.evaluate_alerts": (5, IntervalSchedule.MINUTES),
    "monitoring.check_deadman": (5, IntervalSchedule.MINUTES),
    "monitoring.deliver_notifications": (1, IntervalSchedule.MINUTES),
}


@pytest.mark.django_db
def test_beat_schedules_exist():
    rows = {
        task.task: (task.interval.every, task.interval.period, task.enabled)
        for task in PeriodicTask.objects.filter(task__in=SCHEDULES).select_related("interval")
    }
    assert rows == {name: (*every, True) for name, every in SCHEDULES.items()}
    for name in SCHEDULES:
        assert name in app.tasks  # a worker knows the name beat sends


# The scheduler closes and commits connections as beat does, so it runs in a committing test.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_database_scheduler_loads_the_alert_schedules():
    scheduler = DatabaseScheduler(app=app)
    try:
        scheduled = {
            entry.task: entry.schedule.run_every.total_seconds()
            for entry in scheduler.schedule.values()
            if entry.task in SCHEDULES
        }
    finally:
        # Run its at-exit sync now, not whenever it is garbage-collected inside some later test's transaction.
        scheduler._finalize()
    assert scheduled == {name: every * 60 for name, (every, _) in SCHEDULES.items()}


def _wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_check_runs_on_a_real_worker_through_redis_and_delivers(settings):
    with RecordingServer() as server:
        settings.ALERTS_TELEGRAM_API_URL = server.url
        channels = make_channels(server.url)
        only_rule(RuleKind.SYNC_STALLED).channels.set([channels["slack"]])
        app.control.purge()  # nothing left over in this Redis database's queue

        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=15):
            alert_tasks.evaluate_alerts.delay()
            # The check queues the message and asks the worker (through Redis again) to deliver it.
            assert _wait_for(lambda: len(server.requests) == 1), "no message reached the local Slack"
            # One task per delivery (issue 10 bulkheads), not the minute's sweep, sent it.
            assert _wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.SENT).exists())
            assert not JobRun.objects.filter(task_name="monitoring.deliver_notifications").exists()

    check = JobRun.objects.get(task_name="monitoring.evaluate_alerts")
    assert check.outcome == JobOutcome.SUCCEEDED
    assert check.detail["fired"] == ["Sync stalled: no attempt for 30 min"]
    assert Incident.objects.count() == 1
    assert list(Delivery.objects.values_list("status", flat=True)) == [DeliveryStatus.SENT]
    assert server.requests[0]["json"]["text"].startswith("*[CRITICAL] FIRING: Sync stalled")


@pytest.mark.django_db
def test_deadman_task_fires_through_the_normal_channels(settings, django_capture_on_commit_callbacks):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from monitoring.services.alerts import deliver_due_notifications

    with RecordingServer() as server:
        channels = make_channels(server.url)
        deadman = only_rule(RuleKind.DEADMAN)
        deadman.channels.set([channels["slack"]])
        finished = timezone.now()
        JobRun.objects.create(
            task_name="monitoring.evaluate_alerts", started_at=finished, finished_at=finished, outcome=JobOutcome.SUCCEEDED
        )
        with time_machine.travel(finished + timedelta(minutes=16), tick=False):
            with django_capture_on_commit_callbacks() as callbacks:
                detail = alert_tasks.check_deadman()
            deliver_due_notifications()

    assert detail["fired"] == [deadman.name]
    assert len(callbacks) == 1  # asked a worker to deliver right away
    run = JobRun.objects.get(task_name="monitoring.check_deadman")
    assert (run.outcome, run.rows_touched) == (JobOutcome.SUCCEEDED, 1)
    assert server.requests[0]["json"]["text"].startswith(f"*[CRITICAL] FIRING: {deadman.name}*")


@pytest.mark.django_db
def test_evaluate_task_records_its_run_and_leaves_the_deadman_rule_alone():
    only_rule(RuleKind.SYNC_STALLED)
    from monitoring.models import AlertRule

    AlertRule.objects.filter(kind=RuleKind.DEADMAN).update(enabled=True)
    detail = alert_tasks.evaluate_alerts()
    run = JobRun.objects.get(task_name="monitoring.evaluate_alerts")
    assert run.outcome == JobOutcome.SUCCEEDED
    assert run.detail == detail
    assert detail["fired"] == ["Sync stalled: no attempt for 30 min"]
    assert AlertRule.objects.get(kind=RuleKind.DEADMAN).last_evaluated_at is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_second_alert_check_while_one_runs_is_recorded_as_skipped():
    from monitoring.models import JobOutcome, JobRun
    from monitoring.services.jobs import advisory_lock
    from monitoring.tasks.alerts import evaluate_alerts as evaluate_task

    with advisory_lock("monitoring.evaluate_alerts"):  # this session plays the run in progress
        # The task takes its own connection in another thread, like a second worker.
        import threading

        from django.db import connection

        result: dict = {}

        def second_worker() -> None:
            try:
                result.update(evaluate_task.apply().get())
            finally:
                connection.close()

        worker = threading.Thread(target=second_worker)
        worker.start()
        worker.join(30)
    assert result == {"skipped": "another run holds the lock"}
    run = JobRun.objects.get(task_name="monitoring.evaluate_alerts")
    assert run.outcome == JobOutcome.SKIPPED
