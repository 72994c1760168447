"""The alert lifecycle: one firing message, the due reminders, one recovery, on every channel.

Python time is frozen per check (time-machine) because reminders and durations are measured
with it; the stall rule compares history with the database clock, which is not frozen, so the
tests switch it by adding a history row.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine
from django.core import mail

from monitoring.alerts import rules as alert_rules
from monitoring.models import AlertRule, Delivery, DeliveryStatus, Incident, IncidentState, MessageKind, RuleKind
from monitoring.selectors.alerts import firing_alerts
from monitoring.services import alerts as alert_services
from tests.alert_helpers import RecordingServer, add_attempts, channels, db_now, only_rule, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=dt_timezone.utc)


def check_at(minutes: float) -> alert_services.EvaluationReport:
    with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
        report = alert_services.evaluate_alerts()
        alert_services.deliver_due_notifications()
    return report


def sent(server: RecordingServer) -> dict[str, list[str]]:
    """Subjects received per channel, in order."""
    slack = [r["json"]["text"].split("\n")[0].strip("*") for r in server.requests if r["path"].startswith("/services/")]
    telegram = [r["json"]["text"].split("\n")[0] for r in server.requests if r["path"].startswith("/bot")]
    return {"email": [m.subject for m in mail.outbox], "slack": slack, "telegram": telegram}


def test_firing_firing_resolved_sends_one_firing_the_due_reminders_and_one_recovery(server, channels):
    only_rule(RuleKind.SYNC_STALLED)  # empty history: stalled

    assert check_at(0).fired == ["Sync stalled: no attempt for 30 min"]
    for minutes in (5, 10, 55):  # still firing, no reminder due yet
        assert check_at(minutes).reminded == []
    assert check_at(60).reminded == ["Sync stalled: no attempt for 30 min"]  # reminder 1 due at 60 min
    assert check_at(65).reminded == []
    assert check_at(120).reminded == ["Sync stalled: no attempt for 30 min"]  # reminder 2
    add_attempts(1, finished=db_now())  # the sync is back
    assert check_at(125).resolved == ["Sync stalled: no attempt for 30 min"]
    assert check_at(130).resolved == []  # stays clear: nothing more

    name = "Sync stalled: no attempt for 30 min"
    expected = [
        f"[CRITICAL] FIRING: {name}",
        f"[CRITICAL] STILL FIRING for 1 h: {name}",
        f"[CRITICAL] STILL FIRING for 2 h: {name}",
        f"[RESOLVED] {name} after 2 h 5 min",
    ]
    assert sent(server) == {"email": expected, "slack": expected, "telegram": expected}
    incident = Incident.objects.get()
    assert (incident.state, incident.started_at, incident.resolved_at) == (
        IncidentState.RESOLVED, T0, T0 + timedelta(minutes=125)
    )
    assert incident.reminders_sent == 2
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 12
    recovery = mail.outbox[-1].body
    assert "Resolved 2026-03-02 11:05 UTC after 2 h 5 min (firing since 2026-03-02 09:00 UTC)." in recovery
    assert "When it fired: No sync attempt has ever been recorded." in recovery


def test_a_new_incident_after_recovery_fires_again(server, channels):
    only_rule(RuleKind.SYNC_STALLED, reminder_minutes=0)
    check_at(0)
    add_attempts(1, finished=db_now())
    check_at(5)
    from monitoring.models import LeadSyncHistory

    LeadSyncHistory.objects.all().delete()
    assert check_at(10).fired == ["Sync stalled: no attempt for 30 min"]
    assert [s.split(":")[0] for s in sent(server)["slack"]] == ["[CRITICAL] FIRING", "[RESOLVED] Sync stalled", "[CRITICAL] FIRING"]
    assert Incident.objects.count() == 2


def test_reminders_off_sends_none(server, channels):
    only_rule(RuleKind.SYNC_STALLED, reminder_minutes=0)
    for minutes in (0, 60, 120, 180):
        check_at(minutes)
    assert len(sent(server)["slack"]) == 1


def test_a_checker_outage_sends_one_catch_up_reminder(server, channels):
    only_rule(RuleKind.SYNC_STALLED)
    check_at(0)
    check_at(200)  # 3 reminders were due while no check ran: one goes out, numbered 3
    check_at(205)
    assert Delivery.objects.filter(kind=MessageKind.REMINDER).values_list("sequence", flat=True).distinct().get() == 3
    assert len(sent(server)["slack"]) == 2


@pytest.mark.parametrize("action", ["acknowledge_incident", "snooze_incident"])
def test_acknowledged_or_snoozed_incident_gets_no_reminders_but_its_recovery(server, channels, operator, action):
    only_rule(RuleKind.SYNC_STALLED)
    check_at(0)
    getattr(alert_services, action)(incident_id=Incident.objects.get().pk, user=operator)
    check_at(60)
    check_at(120)
    add_attempts(1, finished=db_now())
    check_at(125)

    for subjects in sent(server).values():
        assert [s.split(" ")[0] for s in subjects] == ["[CRITICAL]", "[RESOLVED]"]
    verb = "Acknowledged by operator" if action == "acknowledge_incident" else "Snoozed by operator until resolved."
    assert verb in mail.outbox[-1].body


def test_consecutive_checks_hold_back_the_first_message(server, channels):
    stall = only_rule(RuleKind.SYNC_STALLED, consecutive_checks=3)
    assert check_at(0).fired == []
    assert check_at(5).fired == []
    add_attempts(1, finished=db_now())
    check_at(10)  # one clear check resets the count
    from monitoring.models import LeadSyncHistory

    LeadSyncHistory.objects.all().delete()
    assert check_at(15).fired == []
    assert check_at(20).fired == []
    assert check_at(25).fired == [stall.name]
    assert Incident.objects.get().started_at == T0 + timedelta(minutes=25)


def test_recovery_waits_for_the_configured_clear_checks(server, channels):
    only_rule(RuleKind.SYNC_STALLED, clear_checks=2)
    check_at(0)
    add_attempts(1, finished=db_now())
    assert check_at(5).resolved == []
    assert Incident.objects.get().state == IncidentState.FIRING
    assert check_at(10).resolved == ["Sync stalled: no attempt for 30 min"]
    assert sent(server)["slack"][-1] == "[RESOLVED] Sync stalled: no attempt for 30 min after 10 min"


def test_rule_without_chosen_channels_uses_all_and_chosen_channels_restrict(server, channels):
    stall = only_rule(RuleKind.SYNC_STALLED)
    stall.channels.set([channels["slack"]])
    check_at(0)
    assert Delivery.objects.get().channel == channels["slack"]
    assert mail.outbox == []


def test_recovery_goes_where_the_firing_went_even_if_channels_change(server, channels):
    stall = only_rule(RuleKind.SYNC_STALLED)
    stall.channels.set([channels["slack"]])
    check_at(0)
    stall.channels.set([channels["email"]])
    add_attempts(1, finished=db_now())
    check_at(5)
    assert sent(server)["slack"] == ["[CRITICAL] FIRING: Sync stalled: no attempt for 30 min", "[RESOLVED] Sync stalled: no attempt for 30 min after 5 min"]
    assert mail.outbox == []


def test_disabling_a_firing_rule_resolves_it_with_a_message(server, channels):
    stall = only_rule(RuleKind.SYNC_STALLED)
    check_at(0)
    AlertRule.objects.filter(pk=stall.pk).update(enabled=False)
    assert check_at(5).resolved == [stall.name]
    assert "Now: The rule was disabled." in mail.outbox[-1].body


def test_a_failing_rule_is_recorded_and_does_not_stop_the_others(server, channels, monkeypatch):
    def broken(rule):
        raise RuntimeError("selector exploded")

    monkeypatch.setitem(alert_rules.EVALUATORS, RuleKind.FAILURE_RATE, broken)
    report = check_at(0)
    assert report.failed == {"Sync failure rate above 10 %": "RuntimeError: selector exploded"}
    assert "Sync stalled: no attempt for 30 min" in report.fired
    assert AlertRule.objects.get(kind=RuleKind.FAILURE_RATE).last_error == "RuntimeError: selector exploded"


def test_second_incident_for_a_rule_is_refused_by_the_database(server, channels):
    stall = only_rule(RuleKind.SYNC_STALLED)
    check_at(0)
    report = alert_services.EvaluationReport()
    evaluation = alert_rules.evaluate_rule(stall)
    # A racing checker that missed the open incident tries to open another: the partial unique index refuses.
    alert_services._fire(stall, evaluation, T0, report)
    assert report.fired == [] and report.queued == []
    assert Incident.objects.count() == 1 and Delivery.objects.count() == 3


def test_queueing_a_message_twice_writes_one_delivery_per_channel(server, channels):
    only_rule(RuleKind.SYNC_STALLED)
    check_at(0)
    incident = Incident.objects.get()
    again = alert_services._queue(incident, MessageKind.FIRING, list(channels.values()), now=T0)
    assert again == []
    assert Delivery.objects.filter(kind=MessageKind.FIRING).count() == 3


def test_firing_alerts_shape(server, channels):
    only_rule(RuleKind.SYNC_STALLED)
    check_at(0)
    [alert] = firing_alerts()
    assert alert["rule"] == "Sync stalled: no attempt for 30 min"
    assert alert["severity"] == "critical"
    assert alert["started_at"] == T0
    assert alert["summary"] == "No sync attempt has ever been recorded."
    assert alert["values"] == {"last_sync": None, "quiet_minutes": 30.0}
    assert alert["acknowledged_by"] is None and alert["snoozed"] is False
