"""The alert lifecycle: evaluate rules, open and close incidents, queue and deliver messages, operator actions.

Concurrency (several workers, a duplicated beat): each rule is evaluated under its row lock taken
with SKIP LOCKED, so a parallel check skips a rule another is evaluating; an open incident is unique
per rule (partial unique index); a message is a Delivery row unique per incident, channel, kind and
reminder number; a worker sends a row only after claiming it with a conditional UPDATE. None of this
holds a lock while a transport talks to the network.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from monitoring.alerts.messages import render
from monitoring.alerts.rules import Evaluation, evaluate_rule, graver
from monitoring.alerts.transports import Message, PermanentError, TransientError, transport_for
from monitoring.models import (
    AlertRule,
    Channel,
    Delivery,
    DeliveryStatus,
    Incident,
    IncidentState,
    MessageKind,
    RuleKind,
)

logger = logging.getLogger(__name__)

# Transient failures are retried after 1, 2, 4, 8, 16 minutes; the sixth failure gives up.
MAX_ATTEMPTS = 6
BACKOFF_BASE = timedelta(minutes=1)


def stale_claim() -> timedelta:
    """A worker that died mid-send leaves its row 'sending'; after this long another may take it.

    Just over the delivery task's hard time limit: by then the claimant has finished or been
    killed, so taking the row over can never send a message twice."""
    return timedelta(seconds=settings.TASK_TIME_LIMITS["deliveries"][1] + 30)


class AlertActionError(ValidationError):
    """An operator action that does not apply (already acknowledged, resolved, ...): shown, not a 500."""


@dataclass
class EvaluationReport:
    evaluated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    fired: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "evaluated": len(self.evaluated),
            "skipped_locked": self.skipped,
            "failed": self.failed,
            "fired": self.fired,
            "reminded": self.reminded,
            "resolved": self.resolved,
            "deliveries_queued": len(self.queued),
        }


def backoff(attempts: int) -> timedelta:
    """Wait before retry number `attempts` (1-based): 1, 2, 4, 8, 16 minutes."""
    return BACKOFF_BASE * (2 ** max(attempts - 1, 0))


# --- evaluation -----------------------------------------------------------------------------------


def evaluate_alerts(*, kinds: Iterable[str] | None = None) -> EvaluationReport:
    """Check every enabled rule (of `kinds`; default all but the dead-man rule) and act on state changes.

    Returns what happened; the caller queues delivery of report.queued. A rule whose evaluation
    fails is recorded on the rule and never stops the others.
    """
    if kinds is None:
        kinds = [kind for kind in RuleKind.values if kind != RuleKind.DEADMAN]
    kinds = list(kinds)
    report = EvaluationReport()
    # Disabled rules are visited only while they still have an open incident, to close it.
    candidates = (
        AlertRule.objects.filter(kind__in=kinds)
        .filter(Q(enabled=True) | Q(incidents__state=IncidentState.FIRING))
        .distinct()
        .order_by("pk")
        .values_list("pk", "name")
    )
    for rule_id, name in candidates:
        try:
            with transaction.atomic():
                # SKIP LOCKED: a parallel check evaluating this rule owns it; counting the check twice
                # would advance consecutive-check counters and could double a message.
                rule = AlertRule.objects.select_for_update(skip_locked=True).filter(pk=rule_id).first()
                if rule is None:
                    report.skipped.append(name)
                    continue
                if rule.enabled:
                    _evaluate_locked(rule, report)
                else:
                    _close_for_disabled_rule(rule, report)
        except Exception as exc:  # one broken rule must not silence the others
            logger.exception("alert rule %s: evaluation failed", name)
            error = f"{type(exc).__name__}: {exc}"
            AlertRule.objects.filter(pk=rule_id).update(last_error=error, last_evaluated_at=timezone.now())
            report.failed[name] = error
    return report


def _evaluate_locked(rule: AlertRule, report: EvaluationReport) -> None:
    now = timezone.now()
    evaluation = evaluate_rule(rule)
    report.evaluated.append(rule.name)
    rule.last_evaluated_at = now
    rule.last_breached = evaluation.breached
    rule.last_values = evaluation.values
    rule.last_summary = evaluation.summary
    rule.last_error = ""
    incident = Incident.objects.filter(rule=rule, state=IncidentState.FIRING).first()
    if evaluation.breached:
        rule.consecutive_breaches += 1
        rule.consecutive_clears = 0
        if incident is None:
            if rule.consecutive_breaches >= rule.consecutive_checks:
                _fire(rule, evaluation, now, report)
        else:
            _still_firing(rule, incident, evaluation, now, report)
    else:
        rule.consecutive_clears += 1
        rule.consecutive_breaches = 0
        if incident is not None:
            if rule.consecutive_clears >= rule.clear_checks:
                _resolve(incident, evaluation.values, evaluation.summary, now, report)
            else:
                Incident.objects.filter(pk=incident.pk).update(last_checked_at=now, last_values=evaluation.values)
    rule.save(
        update_fields=[
            "last_evaluated_at", "last_breached", "last_values", "last_summary", "last_error",
            "consecutive_breaches", "consecutive_clears",
        ]
    )


def _fire(rule: AlertRule, evaluation: Evaluation, now: datetime, report: EvaluationReport) -> None:
    incident = Incident(
        rule=rule,
        severity=graver(rule.severity, evaluation.severity),
        started_at=now,
        last_checked_at=now,
        last_notified_at=now,
        summary=evaluation.summary,
        values=evaluation.values,
        last_values=evaluation.values,
        affected_count=evaluation.affected_count,
    )
    try:
        with transaction.atomic():
            incident.save()
    except IntegrityError:
        # Another check opened this rule's incident first (one firing incident per rule): it sends.
        logger.info("alert rule %s: incident already open", rule.name)
        return
    report.fired.append(rule.name)
    report.queued += _queue(incident, MessageKind.FIRING, _targets(rule), now=now)


def _still_firing(
    rule: AlertRule, incident: Incident, evaluation: Evaluation, now: datetime, report: EvaluationReport
) -> None:
    # A warning that turns critical is shown (and reminded) as critical from now on; it never grades down.
    incident.severity = graver(incident.severity, evaluation.severity)
    Incident.objects.filter(pk=incident.pk).update(
        last_checked_at=now, last_values=evaluation.values, affected_count=evaluation.affected_count, severity=incident.severity
    )
    if not rule.reminder_minutes or incident.muted:
        return
    interval = timedelta(minutes=rule.reminder_minutes)
    # Reminder n is due at started + n intervals (no drift with the check interval); after an outage
    # of the checker only one catch-up reminder goes out.
    due = (now - incident.started_at) // interval
    if due <= incident.reminders_sent:
        return
    claimed = Incident.objects.filter(pk=incident.pk, state=IncidentState.FIRING, reminders_sent=incident.reminders_sent).update(
        reminders_sent=due, last_notified_at=now
    )
    if claimed != 1:
        return
    incident.refresh_from_db()
    report.reminded.append(rule.name)
    report.queued += _queue(
        incident, MessageKind.REMINDER, _notified_channels(incident), now=now, sequence=due, summary=evaluation.summary
    )


def _resolve(incident: Incident, values: dict, summary: str, now: datetime, report: EvaluationReport) -> None:
    resolved = Incident.objects.filter(pk=incident.pk, state=IncidentState.FIRING).update(
        state=IncidentState.RESOLVED, resolved_at=now, last_checked_at=now, last_values=values
    )
    if resolved != 1:
        return
    incident.refresh_from_db()
    report.resolved.append(incident.rule.name)
    # Recovery goes wherever the firing message went, acknowledged or snoozed or not.
    report.queued += _queue(incident, MessageKind.RECOVERY, _notified_channels(incident), now=now, summary=summary)


def _close_for_disabled_rule(rule: AlertRule, report: EvaluationReport) -> None:
    incident = Incident.objects.filter(rule=rule, state=IncidentState.FIRING).first()
    if incident is not None:
        # A disabled rule will never be checked again: close its incident and say so, rather than leave it open forever.
        _resolve(incident, incident.last_values, "The rule was disabled.", timezone.now(), report)
    # Re-enabled later, it starts counting consecutive checks afresh.
    AlertRule.objects.filter(pk=rule.pk).update(consecutive_breaches=0, consecutive_clears=0)


def _targets(rule: AlertRule) -> list[Channel]:
    chosen = list(rule.channels.all())
    return chosen or list(Channel.objects.all())


def _notified_channels(incident: Incident) -> list[Channel]:
    return list(
        Channel.objects.filter(deliveries__incident=incident, deliveries__kind=MessageKind.FIRING).distinct().order_by("pk")
    )


def _queue(
    incident: Incident,
    kind: str,
    channels: list[Channel],
    *,
    now: datetime,
    sequence: int = 0,
    summary: str | None = None,
) -> list[int]:
    """Write one Delivery row per channel before anything is sent; returns the ids to deliver."""
    message = render(incident, kind, now=now, summary=summary)
    queued: list[int] = []
    for channel in channels:
        skipped = not channel.enabled
        try:
            with transaction.atomic():
                delivery = Delivery.objects.create(
                    incident=incident,
                    channel=channel,
                    kind=kind,
                    sequence=sequence,
                    subject=message.subject,
                    body=message.body,
                    created_at=now,
                    # A disabled channel's message is logged as skipped so nothing is lost silently.
                    status=DeliveryStatus.SKIPPED if skipped else DeliveryStatus.PENDING,
                    completed_at=now if skipped else None,
                    error=f"channel disabled: {channel.disabled_reason}" if skipped else "",
                )
        except IntegrityError:
            continue  # already queued (one message per incident, channel, kind and number)
        if not skipped:
            queued.append(delivery.pk)
    return queued


# --- delivery -------------------------------------------------------------------------------------


def _due(now: datetime) -> Q:
    return (
        Q(status=DeliveryStatus.PENDING)
        | Q(status=DeliveryStatus.RETRYING, next_retry_at__lte=now)
        | Q(status=DeliveryStatus.SENDING, claimed_at__lt=now - stale_claim())
    )


# A channel sends one message at a time: a hanging endpoint then holds one delivery slot however
# many messages wait for it, and a worker with N slots keeps N - 1 free for the other channels.
# Session-level advisory lock (key space CHANNEL_SLOT_LOCK, channel id): never held by a
# transaction, and gone with the connection when a worker dies in the middle of a send.
CHANNEL_SLOT_LOCK = 0x4C53  # "LS"
CHANNEL_BUSY = "channel busy"


@contextmanager
def _channel_slot(channel_id: int) -> Iterator[bool]:
    """Yields whether this worker got the channel's sending slot; releases it afterwards."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [CHANNEL_SLOT_LOCK, channel_id])
        got = bool(cursor.fetchone()[0])
    try:
        yield got
    finally:
        if got:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [CHANNEL_SLOT_LOCK, channel_id])
            except Exception:  # the connection is gone, and the lock with it
                logger.warning("could not release the sending slot of channel %s", channel_id, exc_info=True)


def deliver_notification(*, delivery_id: int) -> str | None:
    """Send one queued delivery if it is due and this worker claims it; returns the new status.

    None: not ours (not due, or another worker holds it). CHANNEL_BUSY: the channel is sending
    another message right now; nothing was changed, so the caller asks again a little later.
    """
    channel_id = Delivery.objects.filter(pk=delivery_id).values_list("channel_id", flat=True).first()
    if channel_id is None:
        return None
    with _channel_slot(channel_id) as free:
        if not free:
            return CHANNEL_BUSY if Delivery.objects.filter(_due(timezone.now()), pk=delivery_id).exists() else None
        return _send(delivery_id)


def _send(delivery_id: int) -> str | None:
    now = timezone.now()
    claimed = Delivery.objects.filter(_due(now), pk=delivery_id).update(
        status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if claimed != 1:
        return None
    delivery = Delivery.objects.select_related("channel").get(pk=delivery_id)
    channel = delivery.channel
    mine = Delivery.objects.filter(pk=delivery_id, claimed_at=now, status=DeliveryStatus.SENDING)

    def complete(status: str, error: str = "", **extra: object) -> str:
        mine.update(status=status, error=error[:2000], completed_at=timezone.now(), **extra)
        return status

    if not channel.enabled:
        return complete(DeliveryStatus.SKIPPED, f"channel disabled: {channel.disabled_reason}")
    try:
        transport_for(channel).notify(Message(delivery.subject, delivery.body))
    except PermanentError as exc:
        reason = f"{channel.get_kind_display()} refused: {exc}"
        Channel.objects.filter(pk=channel.pk, enabled=True).update(
            enabled=False, disabled_reason=reason, disabled_at=timezone.now()
        )
        logger.warning("channel %s disabled: %s", channel.name, reason)
        return complete(DeliveryStatus.FAILED, str(exc))
    except Exception as exc:  # transient, or a bug: retry with backoff rather than lose the message
        if not isinstance(exc, TransientError):
            logger.exception("delivery %s to %s: unexpected error", delivery_id, channel.name)
        error = f"{type(exc).__name__}: {exc}"
        if delivery.attempts >= MAX_ATTEMPTS:
            return complete(DeliveryStatus.FAILED, f"gave up after {delivery.attempts} attempts; last: {error}")
        mine.update(
            status=DeliveryStatus.RETRYING,
            error=error[:2000],
            claimed_at=None,
            next_retry_at=now + backoff(delivery.attempts),
        )
        return DeliveryStatus.RETRYING
    return complete(DeliveryStatus.SENT)


def due_delivery_ids(*, limit: int = 200) -> list[int]:
    """Deliveries to send now (new, retry due, or abandoned by a dead worker), oldest first."""
    return list(
        Delivery.objects.filter(_due(timezone.now())).order_by("created_at", "pk").values_list("pk", flat=True)[:limit]
    )


def seconds_until_claim_is_stale(delivery_id: int) -> float | None:
    """For a delivery another worker holds ('sending'): seconds until its claim may be taken over."""
    claimed_at = (
        Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.SENDING).values_list("claimed_at", flat=True).first()
    )
    if claimed_at is None:
        return None
    return max(1.0, (claimed_at + stale_claim() - timezone.now()).total_seconds() + 1)


def deliver_due_notifications(*, limit: int = 200) -> dict[str, int]:
    """Send every due delivery here, one after another; returns counts by outcome.

    The workers send one task per delivery instead (monitoring.deliver_notification); this inline
    form serves the tests and a manual catch-up from a shell."""
    ids = due_delivery_ids(limit=limit)
    outcomes: Counter[str] = Counter()
    for delivery_id in ids:
        outcomes[deliver_notification(delivery_id=delivery_id) or "claimed_elsewhere"] += 1
    return dict(outcomes)


# --- operator actions -----------------------------------------------------------------------------


def acknowledge_incident(*, incident_id: int, user: AbstractBaseUser) -> Incident:
    """Record who is on it; reminders stop, the recovery message still goes out."""
    return _mute(incident_id, user, "acknowledged")


def snooze_incident(*, incident_id: int, user: AbstractBaseUser) -> Incident:
    """Mute reminders until the incident resolves; the recovery message still goes out."""
    return _mute(incident_id, user, "snoozed")


def _mute(incident_id: int, user: AbstractBaseUser, action: str) -> Incident:
    # Conditional update: of two operators clicking at once, one records it and the other is told.
    done = Incident.objects.filter(pk=incident_id, state=IncidentState.FIRING, **{f"{action}_at__isnull": True}).update(
        **{f"{action}_by": user, f"{action}_at": timezone.now()}
    )
    incident = Incident.objects.select_related("rule").get(pk=incident_id)
    if done != 1:
        raise AlertActionError(_why_not(incident, action))
    logger.info("incident %s %s by %s", incident_id, action, user)
    return incident


def _why_not(incident: Incident, action: str) -> str:
    if incident.state != IncidentState.FIRING:
        return f"“{incident.rule.name}” is already resolved."
    return f"“{incident.rule.name}” is already {action}."


def resend_delivery(*, delivery_id: int, user: AbstractBaseUser) -> Delivery:
    """Queue a failed or skipped message again, as a new delivery-log row pointing at the original."""
    original = Delivery.objects.select_related("channel").get(pk=delivery_id)
    if original.status not in (DeliveryStatus.FAILED, DeliveryStatus.SKIPPED):
        raise AlertActionError(f"Only failed or skipped messages can be re-sent; this one is {original.get_status_display().lower()}.")
    channel = original.channel
    if not channel.enabled:
        raise AlertActionError(f"Channel “{channel.name}” is disabled ({channel.disabled_reason or 'by an administrator'}); re-enable it first.")
    try:
        with transaction.atomic():
            return Delivery.objects.create(
                incident_id=original.incident_id,
                channel=channel,
                kind=original.kind,
                sequence=original.sequence,
                subject=original.subject,
                body=original.body,
                resend_of=original,
                requested_by=user,
            )
    except IntegrityError:
        raise AlertActionError("This message has already been re-sent; see the newer row in the delivery log.") from None


TEST_SUBJECT = "[TEST] LeadSync Portal alert channel"


def queue_test_message(*, channel: Channel, user: AbstractBaseUser) -> Delivery:
    """A test message for `channel` as a delivery-log row; a worker sends it (task monitoring.send_test_message).

    Sending inside the web request held it for as long as the endpoint stalled (30 s and a 500
    against a slow webhook); as a delivery it gets the same deadline, retries and log as an alert.
    """
    return Delivery.objects.create(
        incident=None,
        channel=channel,
        kind=MessageKind.TEST,
        subject=TEST_SUBJECT,
        body=f"Test message requested by {user.get_username()}: this channel receives LeadSync alerts.",
        requested_by=user,
    )


def enable_channel(*, channel_id: int, user: AbstractBaseUser) -> Channel:
    """Switch a channel back on after its configuration was fixed."""
    done = Channel.objects.filter(pk=channel_id, enabled=False).update(enabled=True, disabled_reason="", disabled_at=None)
    channel = Channel.objects.get(pk=channel_id)
    if done != 1:
        raise AlertActionError(f"Channel “{channel.name}” is already enabled.")
    logger.info("channel %s re-enabled by %s", channel.name, user)
    return channel
