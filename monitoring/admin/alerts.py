"""Alert rules and channels are edited here; incidents and the delivery log are read-only records."""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from monitoring.admin.guards import GuardedChangeListMixin
from monitoring.models import AlertRule, Channel, Delivery, Incident
from monitoring.services.alerts import queue_test_message
from monitoring.tasks.alerts import send_test_message_soon


@admin.register(AlertRule)
class AlertRuleAdmin(GuardedChangeListMixin, admin.ModelAdmin):
    list_display = (
        "name", "kind", "direction", "severity", "threshold", "window", "min_attempts", "consecutive_checks",
        "reminder_minutes", "enabled", "last_evaluated_at", "last_breached",
    )
    list_filter = ("kind", "severity", "enabled")
    list_editable = ("enabled",)
    search_fields = ("name",)
    filter_horizontal = ("channels",)
    readonly_fields = (
        "last_evaluated_at", "last_breached", "last_summary", "last_values", "last_error",
        "consecutive_breaches", "consecutive_clears",
    )
    fieldsets = (
        (None, {"fields": ("name", "kind", "direction", "severity", "enabled")}),
        ("Condition", {"fields": ("threshold", "window", "min_attempts", "consecutive_checks", "clear_checks")}),
        ("Notifications", {"fields": ("channels", "reminder_minutes")}),
        ("Last evaluation", {"fields": readonly_fields}),
    )


@admin.register(Channel)
class ChannelAdmin(GuardedChangeListMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "enabled", "disabled_reason", "disabled_at")
    list_filter = ("kind", "enabled")
    search_fields = ("name",)
    readonly_fields = ("disabled_at", "created_at")
    actions = ("send_test_message", "enable_channels")

    def get_exclude(self, request: HttpRequest, obj: Channel | None = None) -> Any:
        # The config holds tokens and webhook URLs: only those who may change channels see it.
        if not request.user.has_perm("monitoring.change_channel"):
            return ("config",)
        return super().get_exclude(request, obj)

    @admin.action(description="Send a test message now", permissions=["change"])
    def send_test_message(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        """Queue one test delivery per channel; a worker sends it, the delivery log shows the outcome."""
        log = reverse("monitoring:alerts") + "#deliveries"
        for channel in queryset:
            delivery = queue_test_message(channel=channel, user=request.user)
            send_test_message_soon(delivery.pk)
            self.message_user(
                request,
                format_html(
                    "{}: test message queued; its result appears in the <a href=\"{}\">delivery log</a> within a minute.",
                    channel.name, log,
                ),
                messages.SUCCESS,
            )

    @admin.action(description="Re-enable selected channels", permissions=["change"])
    def enable_channels(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        count = queryset.filter(enabled=False).update(enabled=True, disabled_reason="", disabled_at=None)
        self.message_user(request, f"{count} channel(s) re-enabled.")


class _ReadOnly(GuardedChangeListMixin, admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(_ReadOnly):
    list_display = ("rule", "state", "severity", "started_at", "resolved_at", "affected_count", "acknowledged_by", "snoozed_by")
    list_filter = ("state", "severity", "rule")
    list_select_related = ("rule", "acknowledged_by", "snoozed_by")
    date_hierarchy = "started_at"


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnly):
    list_display = ("created_at", "incident", "channel", "kind", "sequence", "status", "attempts", "next_retry_at", "completed_at")
    list_filter = ("status", "kind", "channel")
    list_select_related = ("incident__rule", "channel")
    search_fields = ("subject", "error")
