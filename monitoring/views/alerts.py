"""The Alerts page (everyone with portal access) and its actions (operators and superusers only)."""
from __future__ import annotations

from typing import Any

import django_tables2 as tables

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from monitoring.alerts import MANAGE_ALERTS_PERMISSION
from monitoring.tables.alerts import AlertRuleTable, ChannelTable, DeliveryTable, FiringIncidentTable, IncidentTable
from monitoring.selectors import alerts as alert_selectors
from monitoring.services import alerts as alert_services
from monitoring.tasks.alerts import deliver_soon

from .base import PortalAccessMixin
from .lists import PortalTablesView


class AlertsView(PortalTablesView):
    """Five tables on the shared base, so each paginates and exports (`?_export=csv&_table=deliveries`)."""

    template_name = "monitoring/alerts.html"
    export_name = "alerts"
    per_page = 100  # a page of incidents and deliveries; older ones on the next pages and in the export

    def get_tables(self) -> dict[str, tables.Table]:
        self.firing = list(alert_selectors.firing_incidents())
        self.channels = list(alert_selectors.channel_health())
        return {
            "firing": FiringIncidentTable(self.firing),
            "incidents": IncidentTable(alert_selectors.recent_incidents()),
            # A list: a few dozen rules at most, and len() of a list costs no COUNT query.
            "rules": AlertRuleTable(list(alert_selectors.rule_evaluations())),
            "channels": ChannelTable(self.channels),
            "deliveries": DeliveryTable(alert_selectors.delivery_log()),
        }

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            can_manage=self.request.user.has_perm(MANAGE_ALERTS_PERMISSION),
            firing_count=len(self.firing),
            firing_table=self.tables["firing"],
            incident_table=self.tables["incidents"],
            rule_table=self.tables["rules"],
            channel_table=self.tables["channels"],
            disabled_channels=[channel for channel in self.channels if not channel.enabled],
            delivery_table=self.tables["deliveries"],
            **kwargs,
        )


class AlertActionView(PortalAccessMixin, View):
    """POST-only action on one object; permission checked here, CSRF by the middleware."""

    http_method_names = ["post"]
    permission_required = (PortalAccessMixin.permission_required, MANAGE_ALERTS_PERMISSION)
    done_message = ""

    def act(self, pk: int) -> object:
        raise NotImplementedError

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        try:
            obj = self.act(pk)
        except ObjectDoesNotExist:
            raise Http404("No such alert object.") from None
        except alert_services.AlertActionError as exc:
            return render(request, "monitoring/alerts/action_error.html", {"error": " ".join(exc.messages)}, status=400)
        messages.success(request, self.done_message.format(obj=obj))
        return HttpResponseRedirect(reverse("monitoring:alerts"))


class IncidentAcknowledgeView(AlertActionView):
    done_message = "Acknowledged “{obj.rule.name}”: reminders stop; the recovery message will still be sent."

    def act(self, pk: int) -> object:
        return alert_services.acknowledge_incident(incident_id=pk, user=self.request.user)


class IncidentSnoozeView(AlertActionView):
    done_message = "Snoozed “{obj.rule.name}” until it resolves: no reminders; the recovery message will still be sent."

    def act(self, pk: int) -> object:
        return alert_services.snooze_incident(incident_id=pk, user=self.request.user)


class DeliveryResendView(AlertActionView):
    done_message = "Queued the message again to {obj.channel.name}."

    def act(self, pk: int) -> object:
        delivery = alert_services.resend_delivery(delivery_id=pk, user=self.request.user)
        deliver_soon([delivery.pk])
        return delivery


class ChannelEnableView(AlertActionView):
    done_message = "Channel {obj.name} is enabled again."

    def act(self, pk: int) -> object:
        return alert_services.enable_channel(channel_id=pk, user=self.request.user)
