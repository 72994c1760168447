"""Bulkheads and redelivery with real worker processes on the real Redis broker (issue 10, findings 2 and 6).

- A hung delivery endpoint holds one slot of the deliveries worker; a healthy channel still gets
  its message, and evaluate_alerts and check_deadman run on time on the checks worker.
- A maintenance worker SIGKILLed in the middle of the archive: another worker redoes the task
  once the broker's visibility timeout has passed (5 s here, via CELERY_VISIBILITY_TIMEOUT), and
  no history row is lost or duplicated.
- The rollup compactor folds on its own worker while the maintenance worker is busy with an
  archive (issue 12): the pages' numbers do not wait for maintenance.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from leadsync_portal.celery import app
from monitoring.choices import HistoryDirection, HistoryStatus, SyncType
from monitoring.models import (
    Channel,
    ChannelKind,
    Delivery,
    DeliveryStatus,
    Incident,
    JobOutcome,
    JobRun,
    Lead,
    LeadSyncHistory,
    LeadSyncHistoryArchive,
    MessageKind,
    RuleKind,
)
from monitoring.tasks import alerts as alert_tasks
from monitoring.tasks import maintenance as maintenance_tasks
from tests.alert_helpers import RecordingServer, only_rule
from tests.test_alerts_celery import _wait_for as wait_for

from .hostile_servers import silent_server

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def workers() -> Iterator[Callable[..., subprocess.Popen]]:
    """Start `celery worker -Q <queue>` processes (prefork, as in production) on the test database."""
    started: list[subprocess.Popen] = []

    def start(queue: str, concurrency: int = 1, **env: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "leadsync_portal", "worker", "-Q", queue, "-c", str(concurrency),
             "-n", f"{queue}-{len(started)}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--loglevel", "INFO"],
            cwd=ROOT, start_new_session=True,  # its own process group: SIGKILL takes the pool children too
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "leadsync_portal.settings_test",
                 "DATABASE_URL": _database_url(), "DATABASE_POOL": "0", **env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        started.append(process)
        return process

    app.control.purge()
    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    app.control.purge()


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def runs(task: str, outcome: str = JobOutcome.SUCCEEDED) -> int:
    return JobRun.objects.filter(task_name=task, outcome=outcome).count()


def test_a_hung_endpoint_never_delays_a_check_or_a_healthy_channel(workers):
    with silent_server() as hung_port, RecordingServer() as healthy:
        hung = Channel.objects.create(
            name="hung slack", kind=ChannelKind.SLACK, config={"webhook_url": f"http://127.0.0.1:{hung_port}/hook"}
        )
        good = Channel.objects.create(
            name="good slack", kind=ChannelKind.SLACK, config={"webhook_url": f"{healthy.url}/hook"}
        )
        only_rule(RuleKind.SYNC_STALLED).channels.set([hung, good])
        # The endpoint holds its delivery for a minute (its deadline), far longer than this test waits.
        workers("deliveries", concurrency=2, ALERTS_HTTP_TIMEOUT="60")
        workers("checks")
        alert_tasks.evaluate_alerts.delay()
        assert wait_for(lambda: Delivery.objects.filter(channel=hung, status=DeliveryStatus.SENDING).exists(), 60)
        assert wait_for(lambda: len(healthy.requests) == 1, 20), "the healthy channel waited behind the hung one"

        # While the hung delivery holds its slot, the next checks run at once.
        queued_at = time.monotonic()
        alert_tasks.evaluate_alerts.delay()
        alert_tasks.check_deadman.delay()
        assert wait_for(
            lambda: runs("monitoring.evaluate_alerts") == 2 and runs("monitoring.check_deadman") == 1, 30
        ), "a check waited behind a delivery"
        checks_seconds = time.monotonic() - queued_at
        assert Delivery.objects.get(channel=hung).status == DeliveryStatus.SENDING  # still hung meanwhile
    assert checks_seconds < 30


def test_hung_channels_hold_one_slot_each_however_many_messages_wait_for_them(workers):
    """Six messages to two hanging webhooks are queued before one to a healthy channel, on a
    3-slot worker: each hanging channel holds one slot, the third slot sends the healthy message
    at once. (Before, the six took all three slots for a whole deadline, then again: the soak saw a
    healthy channel get its alert 20 s late behind two hostile ones.)"""
    with silent_server() as hung_a, silent_server() as hung_b, RecordingServer() as healthy:
        hung = [
            Channel.objects.create(name=f"hung {n}", kind=ChannelKind.SLACK,
                                   config={"webhook_url": f"http://127.0.0.1:{port}/hook"})
            for n, port in (("a", hung_a), ("b", hung_b))
        ]
        good = Channel.objects.create(name="good", kind=ChannelKind.SLACK, config={"webhook_url": f"{healthy.url}/hook"})
        rule = only_rule(RuleKind.SYNC_STALLED)
        now = timezone.now()
        incident = Incident.objects.create(rule=rule, severity=rule.severity, started_at=now, last_checked_at=now,
                                           last_notified_at=now, summary="test")
        def delivery(channel: Channel, sequence: int) -> int:
            return Delivery.objects.create(incident=incident, channel=channel, kind=MessageKind.REMINDER,
                                           sequence=sequence, subject="s", body="b", created_at=now).pk
        waiting = [delivery(channel, n) for n in range(1, 4) for channel in hung]
        healthy_one = delivery(good, 1)
        for delivery_id in [*waiting, healthy_one]:
            alert_tasks.deliver_notification.delay(delivery_id)
        queued_at = time.monotonic()
        workers("deliveries", concurrency=3, ALERTS_HTTP_TIMEOUT="60")
        assert wait_for(lambda: len(healthy.requests) == 1, 30), "the healthy channel waited behind the hung ones"
        seconds = time.monotonic() - queued_at
        sending = Delivery.objects.filter(status=DeliveryStatus.SENDING)
        assert sorted(sending.values_list("channel__name", flat=True)) == ["hung a", "hung b"]  # one each
        assert Delivery.objects.get(pk=healthy_one).status == DeliveryStatus.SENT
    assert seconds < 30  # worker start-up included; the hung deliveries hold their slots for 60 s


def _old_history(lead: Lead, count: int) -> None:
    at = timezone.now() - timedelta(days=settings.HISTORY_RETENTION_DAYS + 5)
    LeadSyncHistory.objects.bulk_create(
        LeadSyncHistory(
            lead=lead, sync_type=SyncType.SCHEDULED, sync_direction=HistoryDirection.TWENTY_TO_SUPABASE,
            sync_status=HistoryStatus.SYNCED, created_at=at, synced_at=at,
        )
        for _ in range(count)
    )


def test_a_task_of_a_killed_worker_is_redone_by_another_within_the_visibility_timeout(workers):
    lead = Lead.objects.create(email="old@example.com")
    _old_history(lead, 8)
    ids = set(LeadSyncHistory.objects.values_list("pk", flat=True))
    # One row per batch and a second between batches: the archive is still running when killed.
    slow = workers("maintenance", HISTORY_ARCHIVE_BATCH_SIZE="1", HISTORY_ARCHIVE_BATCH_PAUSE_MS="1000")
    maintenance_tasks.archive_history.delay()
    assert wait_for(lambda: LeadSyncHistoryArchive.objects.count() >= 2, 60), "the archive never started"
    kill(slow)
    killed_at = time.monotonic()
    assert LeadSyncHistoryArchive.objects.count() < 8  # killed in the middle

    workers("maintenance", CELERY_VISIBILITY_TIMEOUT="5")
    assert wait_for(lambda: runs("monitoring.archive_history") == 1, 90), "the task was not redone"
    redone_after = time.monotonic() - killed_at
    # Nothing lost, nothing twice: every row once, in the archive.
    assert set(LeadSyncHistoryArchive.objects.values_list("pk", flat=True)) == ids
    assert not LeadSyncHistory.objects.exists()
    # The killed run is recorded as interrupted by the one that finished the work.
    assert runs("monitoring.archive_history", JobOutcome.FAILED) == 1
    assert redone_after < 60


@pytest.mark.django_db(transaction=False)
def test_every_task_has_a_queue_and_time_limits():
    from django.conf import settings as conf

    ours = sorted(name for name in app.tasks if name.startswith("monitoring."))
    assert ours, "no tasks registered"
    routes = conf.CELERY_TASK_ROUTES
    for name in ours:
        queue = routes[name]["queue"]
        soft, hard = conf.TASK_TIME_LIMITS[queue]
        task = app.tasks[name]
        assert (task.soft_time_limit, task.time_limit) == (soft, hard), name
        assert 0 < soft < hard <= conf.CELERY_VISIBILITY_TIMEOUT, name
    assert routes["monitoring.evaluate_alerts"] == routes["monitoring.check_deadman"] == {"queue": "checks"}
    assert routes["monitoring.deliver_notification"] == routes["monitoring.send_test_message"] == {"queue": "deliveries"}
    assert routes["monitoring.archive_history"] == {"queue": "maintenance"}
    # The compactor has a worker of its own (issue 12): no archive, export, verify or rebuild
    # holds it up, and its limits are its queue's 20 / 30 s (the decorator's once lost to
    # CELERY_TASK_ANNOTATIONS: it ran with the maintenance queue's 900 / 960 s).
    assert routes["monitoring.compact_rollups"] == {"queue": "rollups"}
    assert [name for name, route in routes.items() if route["queue"] == "rollups"] == ["monitoring.compact_rollups"]
    compact = app.tasks["monitoring.compact_rollups"]
    assert (compact.soft_time_limit, compact.time_limit) == (20, 30)
    assert routes["monitoring.verify_rollups"] == routes["monitoring.rebuild_rollups"] == {"queue": "maintenance"}
    # A task from a killed worker comes back in minutes, not kombu's default hour.
    assert conf.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= 20 * 60
    assert conf.CELERY_TASK_ACKS_LATE and conf.CELERY_TASK_REJECT_ON_WORKER_LOST


def _lead_deltas() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM rollup_lead_deltas")
        return cursor.fetchone()[0]


def test_the_compactor_folds_on_its_own_worker_while_maintenance_is_busy(workers):
    """An archive keeps the one-slot maintenance worker busy for 20 s; the compactor, queued while
    it runs, still folds at once on the rollups worker. (On the maintenance queue, as before, it
    waited for the archive to finish.) The archive writes history deltas all the while, so the
    test watches the leads' deltas, which only a compaction removes."""
    from monitoring.tasks import rollups as rollup_tasks

    # The rollups worker is up once it has folded a first lead's delta.
    workers("rollups")
    lead = Lead.objects.create(email="old@example.com")
    rollup_tasks.compact_rollups.delay()
    assert wait_for(lambda: _lead_deltas() == 0, 60), "the rollups worker never folded"

    _old_history(lead, 20)
    workers("maintenance", HISTORY_ARCHIVE_BATCH_SIZE="1", HISTORY_ARCHIVE_BATCH_PAUSE_MS="1000")
    maintenance_tasks.archive_history.delay()
    assert wait_for(lambda: LeadSyncHistoryArchive.objects.count() >= 1, 60), "the archive never started"
    Lead.objects.create(email="new@example.com")
    assert _lead_deltas() == 1
    rollup_tasks.compact_rollups.delay()
    assert wait_for(lambda: _lead_deltas() == 0, 15), "the compactor waited for the maintenance worker"
    # The archive was still running when the fold was done: one row a second, twenty rows.
    assert LeadSyncHistoryArchive.objects.count() < 20
    assert not JobRun.objects.filter(task_name="monitoring.archive_history", outcome=JobOutcome.SUCCEEDED).exists()


def test_the_compactor_schedule_names_no_queue_so_its_route_decides(db):
    """Beat passes a row's queue to apply_async, where it wins over CELERY_TASK_ROUTES: a row saying
    "maintenance" kept the compactor there. Migration 0303 clears it, and no beat row may name a
    queue other than its task's route."""
    import importlib

    from django.apps import apps
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from leadsync_portal.celery import app as celery_app

    # A transactional test before this one may have flushed the migrations' rows: make the row again.
    PeriodicTask.objects.filter(task="monitoring.compact_rollups").delete()
    PeriodicTask.objects.create(name="Fold rollup deltas (every 5 seconds)", task="monitoring.compact_rollups",
                                interval=IntervalSchedule.objects.create(every=5, period="seconds"), queue="maintenance")
    # Where beat's options would send it, before and after the migration.
    assert celery_app.amqp.router.route({"queue": "maintenance"}, "monitoring.compact_rollups")["queue"].name == "maintenance"
    migration = importlib.import_module("monitoring.migrations.0303_compactor_queue")
    migration.set_queue(None)(apps, None)
    assert PeriodicTask.objects.get(task="monitoring.compact_rollups").queue is None
    assert celery_app.amqp.router.route({}, "monitoring.compact_rollups")["queue"].name == "rollups"
    routes = settings.CELERY_TASK_ROUTES
    for row in PeriodicTask.objects.exclude(task="celery.backend_cleanup"):
        assert row.queue in (None, "", routes[row.task]["queue"]), (row.name, row.queue)
