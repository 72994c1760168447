"""/healthz (liveness, no database) and /readyz (database, Redis, a recent alert evaluation)."""
from __future__ import annotations

import socket
from datetime import datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from monitoring.alerts.rules import ALERT_CHECK_TASK, DEADMAN_TASK, evaluate_rule
from monitoring.models import AlertRule, Channel, ChannelKind, Delivery, Incident, JobRun, RuleKind

READYZ = reverse("monitoring:readyz")


def closed_port() -> int:
    # Bind and release: nothing listens there for the next few milliseconds.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alert_check_finished(minutes_ago: float, outcome: str = "succeeded") -> JobRun:
    """A run of the alert check and, at the same time, of the dead-man check (readiness needs both)."""
    finished = timezone.now() - timedelta(minutes=minutes_ago)
    JobRun.objects.create(
        task_name=DEADMAN_TASK, started_at=finished - timedelta(seconds=2), finished_at=finished, outcome=outcome
    )
    return JobRun.objects.create(
        task_name=ALERT_CHECK_TASK, started_at=finished - timedelta(seconds=2), finished_at=finished, outcome=outcome
    )


def test_healthz_answers_without_the_database(client):
    # No db fixture: pytest-django blocks database access, so any query would fail this test.
    response = client.get(reverse("monitoring:healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_everything_answers(client, db):
    with time_machine.travel(timezone.now(), tick=False):  # the clock stands still: the age is exact
        alert_check_finished(minutes_ago=4)
        response = client.get(READYZ)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["redis"] == {"ok": True}
    alert = body["checks"]["alert_check"]
    assert alert["ok"] is True and alert["max_age_seconds"] == 900
    assert alert["age_seconds"] == 240.0


def test_not_ready_when_redis_does_not_answer(client, db, settings):
    alert_check_finished(minutes_ago=1)
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = client.get(READYZ)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    assert body["checks"]["database"] == {"ok": True}


def test_not_ready_when_the_alert_check_never_completed(client, db):
    alert_check_finished(minutes_ago=1, outcome="failed")  # a failed run does not count
    response = client.get(READYZ)
    assert response.status_code == 503
    assert response.json()["checks"]["alert_check"] == {
        "ok": False, "age_seconds": None, "max_age_seconds": 900, "error": "never completed"}


def test_not_ready_when_the_last_alert_check_is_too_old(client, db):
    alert_check_finished(minutes_ago=16)  # older than 3 x 5 minutes
    alert_check_finished(minutes_ago=1, outcome="failed")
    response = client.get(READYZ)
    assert response.status_code == 503
    alert = response.json()["checks"]["alert_check"]
    assert alert["ok"] is False and 960 <= alert["age_seconds"] < 970


@pytest.mark.parametrize(("max_age", "status"), [(1200, 200), (600, 503)])
def test_max_age_is_a_setting(client, db, settings, max_age, status):
    settings.READYZ_ALERT_CHECK_MAX_AGE = max_age
    alert_check_finished(minutes_ago=15)
    assert client.get(READYZ).status_code == status


def test_alert_check_can_be_left_out(client, db, settings):
    settings.READYZ_ALERT_CHECK_MAX_AGE = 0
    response = client.get(READYZ)
    assert response.status_code == 200
    assert response.json()["checks"]["alert_check"]["ok"] is True


def test_readyz_reveals_no_sync_data(client, sync_dataset):
    alert_check_finished(minutes_ago=1)
    content = client.get(READYZ).content.decode()
    assert "error_leads" not in content and "ada" not in content.lower()


def test_probes_are_not_redirected_to_https(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    alert_check_finished(minutes_ago=1)
    assert client.get(reverse("monitoring:healthz")).status_code == 200
    assert client.get(READYZ).status_code == 200
    # Everything else still is.
    assert client.get(reverse("monitoring:api-sync-metrics")).status_code == 301


def test_readyz_and_the_deadman_rule_read_the_same_completed_run(client, db):
    alert_check_finished(minutes_ago=6)
    newest = alert_check_finished(minutes_ago=2)
    alert_check_finished(minutes_ago=1, outcome="failed")  # newer, but not completed
    alert = client.get(READYZ).json()["checks"]["alert_check"]
    deadman = evaluate_rule(AlertRule.objects.get(kind=RuleKind.DEADMAN))
    assert deadman.values["last_completed"] == newest.finished_at.isoformat()
    # JSON keeps milliseconds.
    assert datetime.fromisoformat(alert["last_completed_at"]) == newest.finished_at.replace(
        microsecond=newest.finished_at.microsecond // 1000 * 1000)


# --- late checks and the delivery backlog (issue 10) ------------------------------------------------


def test_not_ready_when_the_deadman_check_is_late(client, db):
    alert_check_finished(minutes_ago=1)
    JobRun.objects.filter(task_name=DEADMAN_TASK).update(finished_at=timezone.now() - timedelta(minutes=20))
    response = client.get(READYZ)
    assert response.status_code == 503
    deadman = response.json()["checks"]["deadman_check"]
    assert deadman["ok"] is False and deadman["error"].startswith("late: last completed 12")
    assert deadman["error"].endswith("s ago (limit 900 s)")
    assert response.json()["checks"]["alert_check"]["ok"] is True


def _delivery(**fields) -> Delivery:
    rule = AlertRule.objects.get(kind=RuleKind.SYNC_STALLED)
    now = timezone.now()
    incident = Incident.objects.create(
        rule=rule, severity=rule.severity, summary="s", started_at=now, last_checked_at=now, last_notified_at=now
    )
    channel = Channel.objects.create(name=f"c{Channel.objects.count()}", kind=ChannelKind.SLACK,
                                     config={"webhook_url": "http://127.0.0.1:9/x"})
    return Delivery.objects.create(incident=incident, channel=channel, kind="firing", subject="s", body="b", **fields)


@pytest.mark.parametrize(
    ("fields", "waited", "status"),
    [
        ({"status": "pending", "created_at": -11}, 660, 503),
        ({"status": "pending", "created_at": -9}, 540, 200),
        ({"status": "sending", "claimed_at": -12}, 720, 503),
        ({"status": "retrying", "next_retry_at": -11}, 660, 503),
        ({"status": "retrying", "next_retry_at": 5, "created_at": -60}, None, 200),  # still backing off
        ({"status": "sent", "created_at": -60}, None, 200),
    ],
)
def test_not_ready_when_a_delivery_waits_longer_than_the_backlog_limit(client, db, fields, waited, status):
    alert_check_finished(minutes_ago=1)
    now = timezone.now()
    _delivery(**{key: now + timedelta(minutes=value) if isinstance(value, int) else value
                 for key, value in fields.items()})
    response = client.get(READYZ)
    assert response.status_code == status
    backlog = response.json()["checks"]["delivery_backlog"]
    assert backlog["max_age_seconds"] == 600
    if waited is None:
        assert backlog == {"ok": True, "oldest_waiting_seconds": None, "max_age_seconds": 600}
    else:
        assert waited <= backlog["oldest_waiting_seconds"] < waited + 10
        assert backlog["ok"] is (status == 200)
        if status == 503:
            assert backlog["error"].startswith(f"a delivery has waited {waited}")
            assert backlog["error"].endswith("s to be sent (limit 600 s)")


def test_not_ready_when_the_compactor_falls_behind(client, db, settings):
    """The `rollups` worker gone: the sync's deltas pile up and every page adds them up on each
    read. /readyz says how many wait once they pass READYZ_ROLLUP_BACKLOG_MAX; a fold clears it."""
    from monitoring.services import rollups as rollup_services
    from tests.maintenance_helpers import insert_history, make_lead

    alert_check_finished(minutes_ago=1)
    rollup_services.compact_rollups()
    settings.READYZ_ROLLUP_BACKLOG_MAX = 5
    lead = make_lead()  # one lead delta
    insert_history(lead, timezone.now() - timedelta(minutes=1), count=4)  # four attempt deltas

    at_limit = client.get(READYZ)
    assert at_limit.status_code == 200
    assert at_limit.json()["checks"]["rollup_backlog"] == {"ok": True, "pending_deltas": 5, "max_deltas": 5}

    insert_history(lead, timezone.now(), count=1)
    behind = client.get(READYZ)
    assert behind.status_code == 503 and behind["Retry-After"] == "30"
    assert behind.json()["checks"]["rollup_backlog"] == {
        "ok": False, "pending_deltas": 6, "max_deltas": 5,
        "error": "over 5 deltas wait for the compactor (limit 5): is the rollups worker running?",
    }

    assert rollup_services.compact_rollups().folded == 6
    caught_up = client.get(READYZ)
    assert caught_up.status_code == 200
    assert caught_up.json()["checks"]["rollup_backlog"] == {"ok": True, "pending_deltas": 0, "max_deltas": 5}

    settings.READYZ_ROLLUP_BACKLOG_MAX = 0
    assert client.get(READYZ).json()["checks"]["rollup_backlog"] == {"ok": True, "skipped": "READYZ_ROLLUP_BACKLOG_MAX is 0"}
