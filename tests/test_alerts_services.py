"""The operator actions and the delivery queue of monitoring/services/alerts.py, called directly.

Each test pins what an action changes and, as much, what it leaves alone: mutation testing showed
that acknowledging one incident could have acknowledged every firing one, and re-enabling one
channel every disabled one, with every view test still passing.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
import time_machine
from django.utils import timezone

from monitoring.alerts.transports import PermanentError, TransientError
from monitoring.models import (
    AlertRule, Channel, ChannelKind, Delivery, DeliveryStatus, Incident, IncidentState, MessageKind, RuleKind, Severity,
)
from monitoring.services import alerts as alert_services
from tests.alert_helpers import add_attempts, db_now, only_rule, rule

pytestmark = pytest.mark.django_db

LOGGER = "monitoring.services.alerts"


def _incident(kind: str) -> Incident:
    now = timezone.now()
    return Incident.objects.create(
        rule=rule(kind), severity=Severity.WARNING, started_at=now, last_checked_at=now, last_notified_at=now,
        summary=f"{kind} fired",
    )


def _channel(name: str, **fields) -> Channel:
    return Channel.objects.create(name=name, kind=ChannelKind.EMAIL, config={"to": ["ops@example.com"]}, **fields)


def _delivery(channel: Channel, incident: Incident | None = None, **fields) -> Delivery:
    fields.setdefault("kind", MessageKind.FIRING)
    return Delivery.objects.create(incident=incident, channel=channel, subject="[LeadSync] stalled", body="No sync.", **fields)


def test_acknowledging_one_incident_leaves_the_others_alone(operator, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    stalled, stale = _incident(RuleKind.SYNC_STALLED), _incident(RuleKind.STALE_LEADS)

    with time_machine.travel(timezone.now(), tick=False) as clock:
        at = timezone.now()
        acknowledged = alert_services.acknowledge_incident(incident_id=stalled.pk, user=operator)
        clock.shift(timedelta(seconds=5))
        snoozed = alert_services.snooze_incident(incident_id=stale.pk, user=operator)

    assert (acknowledged.pk, acknowledged.acknowledged_by, acknowledged.acknowledged_at, acknowledged.rule.name) == (
        stalled.pk, operator, at, stalled.rule.name)
    stale.refresh_from_db()
    assert (stale.acknowledged_by, stale.acknowledged_at) == (None, None)
    assert (snoozed.snoozed_by, snoozed.snoozed_at) == (operator, at + timedelta(seconds=5))
    stalled.refresh_from_db()
    assert (stalled.snoozed_by, stalled.snoozed_at) == (None, None)
    assert [(level, message) for name, level, message in caplog.record_tuples if name == LOGGER] == [
        (logging.INFO, f"incident {stalled.pk} acknowledged by {operator}"),
        (logging.INFO, f"incident {stale.pk} snoozed by {operator}"),
    ]


def test_re_enabling_one_channel_leaves_the_other_disabled_ones_alone(operator, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    then = timezone.now() - timedelta(hours=1)
    slack = _channel("ops slack", enabled=False, disabled_reason="Slack refused: HTTP 404", disabled_at=then)
    mail = _channel("ops mail", enabled=False, disabled_reason="SMTP refused the login", disabled_at=then)

    channel = alert_services.enable_channel(channel_id=slack.pk, user=operator)

    assert (channel.pk, channel.enabled, channel.disabled_reason, channel.disabled_at) == (slack.pk, True, "", None)
    mail.refresh_from_db()
    assert (mail.enabled, mail.disabled_reason, mail.disabled_at) == (False, "SMTP refused the login", then)
    assert [(level, message) for name, level, message in caplog.record_tuples if name == LOGGER] == [
        (logging.INFO, f"channel ops slack re-enabled by {operator}")
    ]
    with pytest.raises(alert_services.AlertActionError) as refused:
        alert_services.enable_channel(channel_id=slack.pk, user=operator)
    assert refused.value.messages == ["Channel “ops slack” is already enabled."]


def test_a_resend_copies_the_message_to_the_same_incident_and_channel(operator):
    incident = _incident(RuleKind.SYNC_STALLED)
    channel = _channel("ops mail")
    original = _delivery(channel, incident, kind=MessageKind.REMINDER, sequence=3, status=DeliveryStatus.FAILED)

    again = alert_services.resend_delivery(delivery_id=original.pk, user=operator)

    again.refresh_from_db()
    assert (again.incident_id, again.channel_id, again.kind, again.sequence, again.subject, again.body) == (
        incident.pk, channel.pk, MessageKind.REMINDER, 3, "[LeadSync] stalled", "No sync.")
    assert (again.status, again.resend_of_id, again.requested_by) == (DeliveryStatus.PENDING, original.pk, operator)
    with pytest.raises(alert_services.AlertActionError) as twice:
        alert_services.resend_delivery(delivery_id=original.pk, user=operator)
    assert twice.value.messages == ["This message has already been re-sent; see the newer row in the delivery log."]


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "Channel “ops mail” is disabled (by an administrator); re-enable it first."),
        ("SMTP refused the login", "Channel “ops mail” is disabled (SMTP refused the login); re-enable it first."),
    ],
)
def test_a_resend_to_a_disabled_channel_says_why_it_is_disabled(operator, reason, message):
    channel = _channel("ops mail", enabled=False, disabled_reason=reason)
    original = _delivery(channel, _incident(RuleKind.SYNC_STALLED), status=DeliveryStatus.SKIPPED)

    with pytest.raises(alert_services.AlertActionError) as refused:
        alert_services.resend_delivery(delivery_id=original.pk, user=operator)

    assert refused.value.messages == [message]
    assert Delivery.objects.count() == 1


def test_a_test_message_is_queued_as_a_delivery_of_its_own(operator):
    channel = _channel("ops mail")

    queued = alert_services.queue_test_message(channel=channel, user=operator)

    queued.refresh_from_db()
    assert (queued.incident, queued.channel, queued.kind, queued.status, queued.requested_by) == (
        None, channel, MessageKind.TEST, DeliveryStatus.PENDING, operator)
    assert (queued.subject, queued.body) == (
        "[TEST] LeadSync Portal alert channel",
        f"Test message requested by {operator.get_username()}: this channel receives LeadSync alerts.",
    )


def test_due_deliveries_oldest_first_then_by_id_at_most_200_by_default(db):
    channel = _channel("ops mail", enabled=False, disabled_reason="off")  # sending skips: no network
    now = timezone.now()
    newest = _delivery(channel, created_at=now)
    # Two created at the same instant, the higher id written first: the id breaks the tie, not the disk order.
    tied_second = _delivery(channel, created_at=now - timedelta(minutes=1), pk=10_000_002)
    tied_first = _delivery(channel, created_at=now - timedelta(minutes=1), pk=10_000_001)
    oldest = _delivery(channel, created_at=now - timedelta(minutes=2))

    assert alert_services.due_delivery_ids() == [oldest.pk, tied_first.pk, tied_second.pk, newest.pk]
    assert alert_services.due_delivery_ids(limit=2) == [oldest.pk, tied_first.pk]

    Delivery.objects.bulk_create(
        Delivery(channel=channel, kind=MessageKind.TEST, subject="t", body="t", created_at=now - timedelta(hours=1))
        for _ in range(197)
    )
    assert len(alert_services.due_delivery_ids()) == 200
    outcomes = alert_services.deliver_due_notifications()
    assert outcomes == {DeliveryStatus.SKIPPED: 200}
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 1
    assert set(Delivery.objects.filter(status=DeliveryStatus.SKIPPED).values_list("error", flat=True)) == {
        "channel disabled: off"}


def test_a_delivery_another_worker_took_is_counted_as_claimed_elsewhere(db, monkeypatch):
    sent = _delivery(_channel("ops mail"), status=DeliveryStatus.SENT)
    monkeypatch.setattr(alert_services, "due_delivery_ids", lambda limit: [sent.pk])  # due when listed, gone since

    assert alert_services.deliver_due_notifications() == {"claimed_elsewhere": 1}


def test_a_sending_claim_is_taken_over_just_after_the_delivery_time_limit_and_30_s(db, settings):
    hard_limit = settings.TASK_TIME_LIMITS["deliveries"][1]
    channel = _channel("ops mail")
    now = timezone.now()
    just_over = _delivery(channel, status=DeliveryStatus.SENDING, claimed_at=now - timedelta(seconds=hard_limit + 30.5))
    _delivery(channel, status=DeliveryStatus.SENDING, claimed_at=now - timedelta(seconds=hard_limit + 29.5),
              kind=MessageKind.RECOVERY)

    with time_machine.travel(now, tick=False):
        assert alert_services.due_delivery_ids() == [just_over.pk]


def test_seconds_until_another_workers_claim_may_be_taken_over(db, settings):
    hard_limit = settings.TASK_TIME_LIMITS["deliveries"][1]
    channel = _channel("ops mail")
    now = timezone.now()
    fresh = _delivery(channel, status=DeliveryStatus.SENDING, claimed_at=now - timedelta(seconds=10))
    abandoned = _delivery(channel, status=DeliveryStatus.SENDING, claimed_at=now - timedelta(hours=1),
                          kind=MessageKind.RECOVERY)
    pending = _delivery(channel, kind=MessageKind.REMINDER)
    sent = _delivery(channel, kind=MessageKind.TEST, status=DeliveryStatus.SENT, claimed_at=now - timedelta(seconds=5))

    with time_machine.travel(now, tick=False):
        # Stale at claimed + limit + 30 s; one second more so the retry finds it stale, not on the edge.
        assert alert_services.seconds_until_claim_is_stale(fresh.pk) == hard_limit + 30 - 10 + 1
        assert alert_services.seconds_until_claim_is_stale(abandoned.pk) == 1.0
        assert alert_services.seconds_until_claim_is_stale(pending.pk) is None
        assert alert_services.seconds_until_claim_is_stale(sent.pk) is None  # claimed once, but no longer held


# ---- deliver_notification: what a worker writes back, and only to its own claim ---------------------


class FakeTransport:
    """A channel's transport: runs `during` while "sending" (another worker, an admin), then raises `error`."""

    def __init__(self, error: Exception | None = None, during=None) -> None:
        self.error, self.during = error, during

    def __call__(self, channel):  # stands in for transport_for(channel)
        return self

    def notify(self, message) -> None:
        if self.during:
            self.during()
        if self.error:
            raise self.error


def test_a_sent_delivery_has_no_error_and_touches_no_other_row_claimed_at_the_same_instant(db, monkeypatch):
    channel = _channel("ops mail")
    ours = _delivery(channel)
    monkeypatch.setattr(alert_services, "transport_for", FakeTransport())

    with time_machine.travel(timezone.now(), tick=False):
        # Another worker's row, claimed at the very same instant.
        theirs = _delivery(channel, kind=MessageKind.RECOVERY, status=DeliveryStatus.SENDING, claimed_at=timezone.now())
        assert alert_services.deliver_notification(delivery_id=ours.pk) == DeliveryStatus.SENT

    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert (ours.status, ours.error, ours.attempts) == (DeliveryStatus.SENT, "", 1)
    assert (theirs.status, theirs.completed_at) == (DeliveryStatus.SENDING, None)


def test_a_claim_taken_over_while_sending_is_left_to_its_new_owner(db, monkeypatch):
    ours = _delivery(_channel("ops mail"))
    later = timezone.now() + timedelta(minutes=3)

    def taken_over():
        Delivery.objects.filter(pk=ours.pk).update(claimed_at=later)

    monkeypatch.setattr(alert_services, "transport_for", FakeTransport(during=taken_over))

    assert alert_services.deliver_notification(delivery_id=ours.pk) == DeliveryStatus.SENT

    ours.refresh_from_db()
    assert (ours.status, ours.claimed_at, ours.completed_at) == (DeliveryStatus.SENDING, later, None)


def test_a_permanent_failure_keeps_a_reason_someone_else_gave_first_and_truncates_the_error(db, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    channel = _channel("ops mail")
    ours = _delivery(channel)
    first = timezone.now() - timedelta(minutes=1)

    def disabled_meanwhile():
        Channel.objects.filter(pk=channel.pk).update(enabled=False, disabled_reason="by an admin", disabled_at=first)

    monkeypatch.setattr(alert_services, "transport_for",
                        FakeTransport(PermanentError("bad token " + "x" * 3000), during=disabled_meanwhile))

    assert alert_services.deliver_notification(delivery_id=ours.pk) == DeliveryStatus.FAILED

    ours.refresh_from_db()
    channel.refresh_from_db()
    assert (ours.status, ours.error) == (DeliveryStatus.FAILED, ("bad token " + "x" * 3000)[:2000])
    assert (channel.enabled, channel.disabled_reason, channel.disabled_at) == (False, "by an admin", first)
    assert [(level, message) for name, level, message in caplog.record_tuples if name == LOGGER] == [
        (logging.WARNING, f"channel ops mail disabled: Email refused: bad token {'x' * 3000}")
    ]


def test_a_transient_failure_releases_the_claim_and_only_an_unexpected_error_is_logged(db, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    channel = _channel("ops mail")
    transient, unexpected = _delivery(channel), _delivery(channel, kind=MessageKind.RECOVERY)

    monkeypatch.setattr(alert_services, "transport_for", FakeTransport(TransientError("HTTP 503 " + "x" * 3000)))
    assert alert_services.deliver_notification(delivery_id=transient.pk) == DeliveryStatus.RETRYING
    monkeypatch.setattr(alert_services, "transport_for", FakeTransport(RuntimeError("a bug")))
    assert alert_services.deliver_notification(delivery_id=unexpected.pk) == DeliveryStatus.RETRYING

    transient.refresh_from_db()
    assert (transient.status, transient.claimed_at, transient.error) == (
        DeliveryStatus.RETRYING, None, ("TransientError: HTTP 503 " + "x" * 3000)[:2000])
    assert [(level, message) for name, level, message in caplog.record_tuples if name == LOGGER] == [
        (logging.ERROR, f"delivery {unexpected.pk} to ops mail: unexpected error")
    ]


# ---- evaluation: each check acts on its own rule's incident, and the report adds up -----------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=dt_timezone.utc)
STALLED = "Sync stalled: no attempt for 30 min"


def _check(minutes: float) -> alert_services.EvaluationReport:
    """Evaluate the stall rules only (an incident of another kind is a bystander that must stay as it is)."""
    with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
        return alert_services.evaluate_alerts(kinds=[RuleKind.SYNC_STALLED])


def _report(report: alert_services.EvaluationReport, **expected) -> None:
    base = {"evaluated": 0, "skipped_locked": [], "failed": {}, "fired": [], "reminded": [], "resolved": [],
            "deliveries_queued": 0}
    assert report.as_dict() == {**base, **expected}


def _copy_of_the_stall_rule(name: str) -> AlertRule:
    copy = rule(RuleKind.SYNC_STALLED)
    copy.pk = copy.id = None
    copy.name, copy.enabled = name, True
    copy.save()
    return copy


def test_a_reminder_goes_to_the_channels_of_its_own_incident_with_the_latest_summary(db):
    mine, other = _channel("ops mail"), _channel("other team")
    stall = only_rule(RuleKind.SYNC_STALLED)
    stall.channels.set([mine])
    bystander = _incident(RuleKind.STALE_LEADS)
    _delivery(other, bystander)  # the other incident's firing message went to the other team
    _check(0)
    add_attempts(1, finished=db_now() - timedelta(minutes=45))  # still stalled, but no longer "never"

    report = _check(60)

    _report(report, evaluated=1, reminded=[STALLED], deliveries_queued=1)
    incident = Incident.objects.get(rule=stall)
    assert (incident.reminders_sent, incident.last_notified_at) == (1, T0 + timedelta(minutes=60))
    bystander_after = Incident.objects.get(pk=bystander.pk)
    assert (bystander_after.reminders_sent, bystander_after.last_notified_at) == (0, bystander.last_notified_at)
    [reminder] = Delivery.objects.filter(kind=MessageKind.REMINDER)
    stall.refresh_from_db()
    assert reminder.channel == mine
    assert reminder.body.startswith(stall.last_summary + "\n")
    assert "No sync attempt has ever been recorded." not in reminder.body


def test_one_check_reports_every_rules_messages_fired_and_reminded(db):
    _channel("ops mail")
    AlertRule.objects.update(enabled=False)
    later = _copy_of_the_stall_rule("Sync stalled (copy)")  # a higher id: evaluated after the default rule
    _check(0)
    AlertRule.objects.filter(pk=rule(RuleKind.SYNC_STALLED).pk).update(enabled=True)

    report = _check(60)

    _report(report, evaluated=2, fired=[STALLED], reminded=[later.name], deliveries_queued=2)
    assert len(report.queued) == 2


def test_one_check_reports_every_rules_messages_fired_and_closed(db):
    _channel("ops mail")
    AlertRule.objects.update(enabled=False)
    later = _copy_of_the_stall_rule("Sync stalled (copy)")
    _check(0)
    AlertRule.objects.filter(pk=rule(RuleKind.SYNC_STALLED).pk).update(enabled=True)
    AlertRule.objects.filter(pk=later.pk).update(enabled=False)

    report = _check(5)

    _report(report, evaluated=1, fired=[STALLED], resolved=[later.name], deliveries_queued=2)


def test_a_recovery_closes_only_its_own_incident_with_the_last_figures(db):
    _channel("ops mail")
    stall = only_rule(RuleKind.SYNC_STALLED, clear_checks=2)
    bystander = _incident(RuleKind.STALE_LEADS)
    _check(0)
    add_attempts(1, finished=db_now())

    _report(_check(3), evaluated=1)  # one clear check of the two asked for: still firing, checked
    stall.refresh_from_db()
    still = Incident.objects.get(rule=stall)
    assert (still.state, still.last_checked_at, still.last_values) == (
        IncidentState.FIRING, T0 + timedelta(minutes=3), stall.last_values)

    report = _check(5)

    _report(report, evaluated=1, resolved=[STALLED], deliveries_queued=1)
    stall.refresh_from_db()
    incident = Incident.objects.get(rule=stall)
    assert (incident.state, incident.resolved_at, incident.last_checked_at) == (
        IncidentState.RESOLVED, T0 + timedelta(minutes=5), T0 + timedelta(minutes=5))
    assert incident.last_values == stall.last_values != incident.values
    assert Incident.objects.get(pk=bystander.pk).state == IncidentState.FIRING
    [recovery] = Delivery.objects.filter(kind=MessageKind.RECOVERY)
    assert f"\nNow: {stall.last_summary}\n" in recovery.body


def test_disabling_a_rule_closes_its_firing_incident_only_and_resets_its_counts(db):
    _channel("ops mail")
    stall = only_rule(RuleKind.SYNC_STALLED)
    bystander = _incident(RuleKind.STALE_LEADS)
    # An earlier incident of the same rule, already resolved (and listed first: newest start).
    earlier = Incident.objects.create(
        rule=stall, state=IncidentState.RESOLVED, severity=Severity.WARNING, started_at=T0 + timedelta(minutes=1),
        last_checked_at=T0, last_notified_at=T0, resolved_at=T0 + timedelta(minutes=2), summary="before",
    )
    _check(0)
    AlertRule.objects.filter(pk=stall.pk).update(enabled=False, consecutive_breaches=3, consecutive_clears=2)

    report = _check(5)

    _report(report, resolved=[STALLED], deliveries_queued=1)
    firing = Incident.objects.exclude(pk__in=[earlier.pk, bystander.pk]).get()
    assert (firing.state, firing.resolved_at) == (IncidentState.RESOLVED, T0 + timedelta(minutes=5))
    assert Incident.objects.get(pk=bystander.pk).state == IncidentState.FIRING
    assert Incident.objects.get(pk=earlier.pk).resolved_at == T0 + timedelta(minutes=2)
    stall.refresh_from_db()
    assert (stall.consecutive_breaches, stall.consecutive_clears) == (0, 0)


def test_a_rule_another_check_holds_is_skipped_and_the_next_rules_are_still_checked(db):
    from tests.maintenance_helpers import second_connection

    held, other = sorted(
        AlertRule.objects.filter(kind__in=[RuleKind.SYNC_STALLED, RuleKind.STALE_LEADS], enabled=True), key=lambda r: r.pk
    )[:2]
    with second_connection() as checker, checker.transaction():
        checker.execute("SELECT 1 FROM monitoring_alert_rule WHERE id = %s FOR UPDATE", [held.pk])

        report = alert_services.evaluate_alerts(kinds=[held.kind, other.kind])

    assert (report.skipped, report.evaluated) == ([held.name], [other.name])


def test_a_rule_whose_check_fails_is_logged_and_the_others_still_run(db, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    broken, fine = sorted(
        AlertRule.objects.filter(kind__in=[RuleKind.SYNC_STALLED, RuleKind.STALE_LEADS], enabled=True), key=lambda r: r.pk
    )[:2]
    real = alert_services.evaluate_rule

    def evaluate(rule_):
        if rule_.pk == broken.pk:
            raise RuntimeError("boom")
        return real(rule_)

    monkeypatch.setattr(alert_services, "evaluate_rule", evaluate)

    with time_machine.travel(T0, tick=False):
        report = alert_services.evaluate_alerts(kinds=[broken.kind, fine.kind])

    assert (report.failed, report.evaluated) == ({broken.name: "RuntimeError: boom"}, [fine.name])
    broken.refresh_from_db()
    fine.refresh_from_db()
    assert (broken.last_error, broken.last_evaluated_at) == ("RuntimeError: boom", T0)
    assert (fine.last_error, fine.last_evaluated_at) == ("", T0)
    assert [(level, message) for name, level, message in caplog.record_tuples if name == LOGGER] == [
        (logging.ERROR, f"alert rule {broken.name}: evaluation failed")
    ]


def test_a_new_incident_keeps_the_number_of_leads_that_made_it_fire(db):
    from monitoring.choices import LeadSyncStatus
    from tests.alert_helpers import make_lead

    _channel("ops mail")
    only_rule(RuleKind.HIGH_ERROR_LEADS, consecutive_checks=1)
    for errors in range(6, 18):  # 12 leads over the threshold
        make_lead(first_name=f"L{errors}", sync_status=LeadSyncStatus.ERROR, sync_error_count=errors)

    report = alert_services.evaluate_alerts()

    incident = Incident.objects.get()
    assert (report.fired, incident.affected_count, len(incident.values["leads"])) == ([incident.rule.name], 12, 10)
    assert incident.last_values == incident.values  # the figures of the check that fired it


def test_a_message_for_a_disabled_channel_is_logged_as_skipped_when_queued(db):
    on = _channel("ops mail")
    off = _channel("old mail", enabled=False, disabled_reason="SMTP refused the login")
    only_rule(RuleKind.SYNC_STALLED)

    report = _check(0)

    skipped = Delivery.objects.get(channel=off)
    assert (skipped.status, skipped.completed_at, skipped.error) == (
        DeliveryStatus.SKIPPED, T0, "channel disabled: SMTP refused the login")
    sending = Delivery.objects.get(channel=on)
    assert (report.queued, sending.status, sending.completed_at, sending.error) == (
        [sending.pk], DeliveryStatus.PENDING, None, "")


def test_a_message_already_queued_for_one_channel_does_not_stop_the_next(db):
    first, second = _channel("ops mail"), _channel("ops mail 2")
    incident = _incident(RuleKind.SYNC_STALLED)
    _delivery(first, incident)  # queued by an earlier attempt

    queued = alert_services._queue(incident, MessageKind.FIRING, [first, second], now=timezone.now())

    assert queued == [Delivery.objects.get(channel=second).pk]


def test_one_check_reports_every_rules_messages_reminded_then_fired(db):
    _channel("ops mail")
    AlertRule.objects.update(enabled=False)
    later = _copy_of_the_stall_rule("Sync stalled (copy)")
    AlertRule.objects.filter(pk=later.pk).update(enabled=False)
    AlertRule.objects.filter(pk=rule(RuleKind.SYNC_STALLED).pk).update(enabled=True)
    _check(0)
    AlertRule.objects.filter(pk=later.pk).update(enabled=True)

    report = _check(60)

    _report(report, evaluated=2, fired=[later.name], reminded=[STALLED], deliveries_queued=2)


def test_a_rule_whose_incident_another_check_opened_first_is_logged_and_sends_nothing(db, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    _channel("ops mail")
    stall = only_rule(RuleKind.SYNC_STALLED)
    _check(0)
    opened = Incident.objects.get(rule=stall)
    evaluation = alert_services.evaluate_rule(stall)
    report = alert_services.EvaluationReport()
    caplog.clear()

    # This check missed the incident the other one opened meanwhile: the unique index refuses a second.
    alert_services._fire(stall, evaluation, T0 + timedelta(minutes=1), report)

    _report(report)
    assert list(Incident.objects.values_list("pk", flat=True)) == [opened.pk]
    assert Delivery.objects.count() == 1
    assert [(level, message) for name, level, message in caplog.record_tuples if name == LOGGER] == [
        (logging.INFO, f"alert rule {STALLED}: incident already open")
    ]


# ---- the per-channel sending slot (_channel_slot): held while sending, released after every outcome -

def _slot_is_free(channel: Channel) -> bool:
    """Whether another worker (another session) could take the channel's slot now; gives it back if so."""
    from tests.maintenance_helpers import second_connection

    key = [alert_services.CHANNEL_SLOT_LOCK, channel.pk]
    with second_connection() as other:
        free = other.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()[0]
        if free:
            other.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    return free


@pytest.mark.parametrize(
    ("error", "status"),
    [(None, DeliveryStatus.SENT), (TransientError("HTTP 503"), DeliveryStatus.RETRYING),
     (RuntimeError("a bug"), DeliveryStatus.RETRYING), (PermanentError("bad token"), DeliveryStatus.FAILED)],
)
def test_a_channel_slot_is_held_while_sending_and_free_after_every_outcome(db, monkeypatch, caplog, error, status):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    channel, bystander = _channel("ops mail"), _channel("other team")
    ours = _delivery(channel)
    seen = {}

    def while_sending():
        seen["ours"], seen["bystander"] = _slot_is_free(channel), _slot_is_free(bystander)

    monkeypatch.setattr(alert_services, "transport_for", FakeTransport(error, during=while_sending))

    assert alert_services.deliver_notification(delivery_id=ours.pk) == status

    assert seen == {"ours": False, "bystander": True}  # one channel's slot, not every channel's
    assert _slot_is_free(channel)
    assert "sending slot" not in caplog.text


def test_a_busy_channel_answers_busy_only_for_a_message_of_its_own_that_is_due(db):
    from tests.maintenance_helpers import second_connection

    channel = _channel("ops mail")
    sent = _delivery(channel, status=DeliveryStatus.SENT)
    due = _delivery(_channel("other team"), kind=MessageKind.RECOVERY)  # another message, due, elsewhere

    with second_connection() as other:  # another worker is sending to `channel`
        assert other.execute("SELECT pg_try_advisory_lock(%s, %s)", [alert_services.CHANNEL_SLOT_LOCK, channel.pk]
                             ).fetchone()[0]
        assert alert_services.deliver_notification(delivery_id=sent.pk) is None  # not due: not ours to retry
        retry = _delivery(channel, kind=MessageKind.REMINDER)
        assert alert_services.deliver_notification(delivery_id=retry.pk) == alert_services.CHANNEL_BUSY
    assert Delivery.objects.get(pk=due.pk).status == DeliveryStatus.PENDING


def test_a_delivery_to_a_disabled_channel_frees_the_slot_and_one_that_does_not_exist_is_not_ours(db):
    channel = _channel("old mail", enabled=False, disabled_reason="off")
    skipped = _delivery(channel)

    assert alert_services.deliver_notification(delivery_id=skipped.pk) == DeliveryStatus.SKIPPED
    assert _slot_is_free(channel)
    assert alert_services.deliver_notification(delivery_id=skipped.pk + 1000) is None


def test_a_slot_whose_connection_is_gone_is_given_up_with_a_warning(db, caplog):
    """The worker lost its database session while sending: the lock went with it, so the release
    fails; that is logged (with the error) and raises nothing, so a sent message stays sent."""
    from django.db import OperationalError, connection

    caplog.set_level(logging.INFO, logger=LOGGER)
    channel = _channel("ops mail")

    def session_gone(execute, sql, params, many, context):
        if "pg_advisory_unlock" in sql:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(session_gone):
        with alert_services._channel_slot(channel.pk) as got:
            sent = got  # the send itself went through

    with connection.cursor() as cleanup:  # the lock is still this session's: give it back for the next test
        cleanup.execute("SELECT pg_advisory_unlock(%s, %s)", [alert_services.CHANNEL_SLOT_LOCK, channel.pk])
    assert sent is True
    [record] = [record for record in caplog.records if record.name == LOGGER]
    assert (record.levelno, record.getMessage()) == (
        logging.WARNING, f"could not release the sending slot of channel {channel.pk}")
    assert record.exc_info[0] is OperationalError
