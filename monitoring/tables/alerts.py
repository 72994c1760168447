"""Tables of the Alerts page (django-tables2); the rows come from monitoring.selectors.alerts."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import django_tables2 as tables

from monitoring.alerts.messages import format_duration
from monitoring.models import AlertRule, Channel, Delivery, DeliveryStatus, Incident
from monitoring.tables.portal import PortalTable, TimestampColumn, format_timestamp


def _actions(template: str) -> tables.TemplateColumn:
    """The row's buttons: for the page only, an export lists data."""
    return tables.TemplateColumn(template_name=f"monitoring/alerts/{template}", verbose_name="", exclude_from_export=True)


class _Plain(PortalTable):
    """Rows come in the order their selector gives (newest first, critical first): no re-sorting."""

    class Meta(PortalTable.Meta):
        orderable = False
        empty_text = "Nothing here."


class IncidentTable(_Plain):
    rule = tables.Column(accessor="rule__name", verbose_name="Rule")
    severity = tables.Column()
    state = tables.Column()
    started_at = TimestampColumn("Started")
    resolved_at = TimestampColumn("Resolved at")
    duration = tables.Column(empty_values=(), verbose_name="Duration")
    summary = tables.Column(verbose_name="What fired")
    affected_count = tables.Column(verbose_name="Affected")
    handled = tables.Column(empty_values=(), verbose_name="Acknowledged / snoozed")

    class Meta(_Plain.Meta):
        model = Incident
        fields = ("rule", "severity", "state", "started_at", "resolved_at", "duration", "summary", "affected_count")
        sequence = ("rule", "severity", "state", "started_at", "resolved_at", "duration", "summary", "affected_count", "handled")
        empty_text = "No incidents yet."

    def render_duration(self, record: Incident) -> str:
        return format_duration(record.duration) + ("" if record.resolved_at else " (ongoing)")

    def render_handled(self, record: Incident) -> str:
        notes = []
        if record.acknowledged_by_id:
            notes.append(
                f"acknowledged by {record.acknowledged_by.get_username()} at {format_timestamp(record.acknowledged_at)}"
            )
        if record.snoozed_by_id:
            notes.append(f"snoozed by {record.snoozed_by.get_username()} until resolved")
        # Plain strings: django-tables2 escapes them (user names are user input).
        return "; ".join(notes) if notes else "—"


class FiringIncidentTable(IncidentTable):
    actions = _actions("_incident_actions.html")

    class Meta(IncidentTable.Meta):
        exclude = ("state", "resolved_at")
        empty_text = "Nothing is firing."


class AlertRuleTable(_Plain):
    threshold = tables.Column()
    window = tables.Column()
    last_evaluated_at = TimestampColumn("Last check")
    last_breached = tables.Column(verbose_name="Result", empty_values=())
    last_summary = tables.Column(verbose_name="Last value")
    channels = tables.Column(empty_values=(), verbose_name="Channels")

    class Meta(_Plain.Meta):
        model = AlertRule
        fields = (
            "name", "kind", "severity", "threshold", "window", "enabled", "last_evaluated_at", "last_breached",
            "last_summary", "consecutive_breaches",
        )
        sequence = (*fields, "channels")

    def render_threshold(self, value: Decimal) -> str:
        return f"{value.normalize():f}"

    def render_window(self, value: timedelta) -> str:
        return format_duration(value)

    def render_last_breached(self, record: AlertRule) -> str:
        if record.last_error:
            return f"evaluation failed: {record.last_error}"
        return {None: "waiting for the first check", True: "breached", False: "clear"}[record.last_breached]

    def render_channels(self, record: AlertRule) -> str:
        chosen = [channel.name for channel in record.channels.all()]
        return ", ".join(chosen) if chosen else "all channels"


class ChannelTable(_Plain):
    enabled = tables.Column(verbose_name="Health", empty_values=())
    last_delivery_status = tables.Column(verbose_name="Last delivery")
    last_delivery_at = TimestampColumn("Last delivery at")
    actions = _actions("_channel_actions.html")

    class Meta(_Plain.Meta):
        model = Channel
        fields = ("name", "kind", "enabled", "disabled_reason", "last_delivery_status", "last_delivery_at")
        empty_text = "No channel configured: alerts are recorded here but sent nowhere. Add one in the admin."

    def render_enabled(self, record: Channel) -> str:
        return "enabled" if record.enabled else "DISABLED"

    def render_last_delivery_status(self, value: str) -> str:
        return DeliveryStatus(value).label


class DeliveryTable(_Plain):
    rule = tables.Column(accessor="incident__rule__name", verbose_name="Rule")
    channel = tables.Column(accessor="channel__name", verbose_name="Channel")
    created_at = TimestampColumn("Queued")
    completed_at = TimestampColumn("Completed")
    next_retry_at = TimestampColumn("Next retry")
    actions = _actions("_delivery_actions.html")

    class Meta(_Plain.Meta):
        model = Delivery
        fields = ("created_at", "rule", "kind", "channel", "subject", "status", "attempts", "next_retry_at", "completed_at", "error")
        empty_text = "No message sent yet."

    def render_kind(self, record: Delivery, value: Any) -> str:
        return f"{value} #{record.sequence}" if record.sequence else str(value)
