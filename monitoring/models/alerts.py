"""Alerting as data (healthchecks style): rules, their incidents, channels and the delivery log.

A state change is a row: an Incident opens when a rule starts firing and closes when it recovers;
every message to every channel is a Delivery row written before the transport is called and
completed after it. Workers claim rows with conditional UPDATEs, so two of them never send twice.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from monitoring.choices import (
    ChannelKind,
    DeliveryStatus,
    HistoryDirection,
    IncidentState,
    MessageKind,
    RuleKind,
    Severity,
)


class Channel(models.Model):
    """A place alerts go to: an e-mail list, a Slack incoming webhook or a Telegram chat."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=ChannelKind.choices)
    config = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            'Email: {"to": ["ops@example.com"]}. Slack: {"webhook_url": "https://hooks.slack.com/services/..."}. '
            'Telegram: {"bot_token": "123456:ABC...", "chat_id": "-1001234567890"}.'
        ),
    )
    enabled = models.BooleanField(default=True)
    disabled_reason = models.TextField(
        blank=True, default="", help_text="Why the channel was switched off (set when the service refused for good)."
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "monitoring_alert_channel"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        # Imported here: the transports module imports these models.
        from monitoring.alerts.transports import transport_for

        transport_for(self).validate_config()


class AlertRule(models.Model):
    """One condition checked every few minutes; thresholds are data so operators tune them in the admin."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=30, choices=RuleKind.choices)
    direction = models.CharField(
        max_length=30,
        choices=HistoryDirection.choices,
        blank=True,
        default="",
        help_text="Only for 'one direction quiet': the direction that must keep producing history.",
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    threshold = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=0,
        help_text=(
            "Fires when the value is above this: failure rate in %, error count per lead, number of stale or "
            "stuck leads; for the dead-man rule, the number of missed check intervals. Unused by stall and health rules."
        ),
    )
    window = models.DurationField(
        default=timedelta(hours=1),
        help_text=(
            "Failure rate: attempts of this long ago. Stalls: quiet for this long. Stuck leads: syncing for this long. "
            "Dead-man: the check interval when no beat schedule says otherwise. Stale leads: fixed 1 h by check_stale_leads()."
        ),
    )
    min_attempts = models.PositiveIntegerField(
        default=20, help_text="Rate rules: fewer attempts than this in the window never fire (too few to judge)."
    )
    consecutive_checks = models.PositiveIntegerField(
        default=1, help_text="The condition must hold for this many checks in a row before the alert fires."
    )
    clear_checks = models.PositiveIntegerField(
        default=1, help_text="A firing alert recovers after this many clear checks in a row."
    )
    reminder_minutes = models.PositiveIntegerField(
        default=60, help_text="Remind every N minutes while firing and not acknowledged or snoozed (0: never)."
    )
    channels = models.ManyToManyField(
        Channel, blank=True, related_name="rules", help_text="Where this rule's messages go; none selected = every channel."
    )
    enabled = models.BooleanField(default=True)

    # Evaluation state, written by evaluate_alerts() under this row's lock.
    consecutive_breaches = models.PositiveIntegerField(default=0, editable=False)
    consecutive_clears = models.PositiveIntegerField(default=0, editable=False)
    last_evaluated_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_breached = models.BooleanField(null=True, editable=False)
    last_values = models.JSONField(default=dict, blank=True, editable=False)
    last_summary = models.TextField(blank=True, default="", editable=False)
    last_error = models.TextField(blank=True, default="", editable=False, help_text="Why the last evaluation failed.")

    class Meta:
        db_table = "monitoring_alert_rule"
        ordering = ["name"]
        permissions = [("manage_alerts", "Can acknowledge, snooze and re-send alerts and re-enable channels")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind=RuleKind.DIRECTION_STALLED, direction__in=HistoryDirection.values)
                | (~Q(kind=RuleKind.DIRECTION_STALLED) & Q(direction="")),
                name="alert_rule_direction_only_for_direction_stall",
                violation_error_message="Choose a direction for a one-direction stall rule, and only for that kind.",
            ),
            models.CheckConstraint(
                condition=Q(consecutive_checks__gte=1),
                name="alert_rule_consecutive_checks_min_1",
                violation_error_message="Consecutive checks must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(clear_checks__gte=1),
                name="alert_rule_clear_checks_min_1",
                violation_error_message="Clear checks must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(window__gt=timedelta(0)),
                name="alert_rule_window_positive",
                violation_error_message="The window must be longer than zero.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Incident(models.Model):
    """One stretch of time a rule was firing, with the numbers that made it fire."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="incidents")
    state = models.CharField(max_length=10, choices=IncidentState.choices, default=IncidentState.FIRING)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    started_at = models.DateTimeField()
    last_checked_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(help_text="What fired, in words, as first sent.")
    values = models.JSONField(default=dict, help_text="The numbers that made the rule fire.")
    last_values = models.JSONField(default=dict, help_text="The numbers at the latest check.")
    affected_count = models.IntegerField(null=True, blank=True, help_text="Leads or attempts concerned.")
    reminders_sent = models.PositiveIntegerField(default=0)
    last_notified_at = models.DateTimeField(help_text="When the firing message or the latest reminder was queued.")
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    snoozed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    snoozed_at = models.DateTimeField(null=True, blank=True, help_text="Reminders muted until the incident resolves.")

    class Meta:
        db_table = "monitoring_alert_incident"
        ordering = ["-started_at"]
        constraints = [
            # The database, not hope, keeps a rule to one open incident (two checks racing cannot open two).
            models.UniqueConstraint(
                fields=["rule"], condition=Q(state=IncidentState.FIRING), name="alert_incident_one_firing_per_rule"
            ),
        ]
        indexes = [
            # recent_incidents() and firing_alerts(): newest first, by state.
            models.Index(fields=["state", "-started_at"], name="alert_incident_state_started"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.state} since {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def muted(self) -> bool:
        return self.acknowledged_at is not None or self.snoozed_at is not None

    @property
    def duration(self) -> timedelta:
        return (self.resolved_at or timezone.now()) - self.started_at


class Delivery(models.Model):
    """One message to one channel: written before the transport is called, completed with its outcome."""

    # Empty for test messages, which belong to no incident.
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=10, choices=MessageKind.choices)
    sequence = models.PositiveIntegerField(default=0, help_text="Reminder number (0 for firing and recovery).")
    subject = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker took this row to send it.")
    next_retry_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    # CASCADE, not SET_NULL: nulling a re-send's link makes it a second "original" of the same
    # message and breaks alert_delivery_once_per_message (deleting a channel was an IntegrityError).
    # A re-send is the same message again: it goes with its original.
    resend_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="resends",
        help_text="The delivery an operator asked to send again.",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "monitoring_alert_delivery"
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            # Exactly one firing, one recovery and one of each reminder per incident and channel, whoever queues it.
            models.UniqueConstraint(
                fields=["incident", "channel", "kind", "sequence"],
                condition=Q(resend_of__isnull=True),
                name="alert_delivery_once_per_message",
            ),
            # A failed delivery is re-sent at most once (a failed re-send can itself be re-sent): double clicks send once.
            models.UniqueConstraint(fields=["resend_of"], name="alert_delivery_one_resend"),
        ]
        indexes = [
            # deliver_due_notifications(): the due rows by status.
            models.Index(fields=["status", "next_retry_at"], name="alert_delivery_due"),
            # delivery_log(): newest first.
            models.Index(fields=["-created_at"], name="alert_delivery_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.channel_id}: {self.status}"
