"""Reads for alerting: what fires now, recent incidents, rules, channels and the delivery log.

`firing_alerts()` is a contract: the metrics API and the Alerts page both call it; keep its name
and keys (rule, severity, started_at, summary, values, ...).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Case, Exists, F, Min, OuterRef, Q, QuerySet, Subquery, When
from django.utils import timezone

from monitoring.models import (
    AlertRule,
    Channel,
    Delivery,
    DeliveryStatus,
    Incident,
    IncidentState,
    JobOutcome,
    JobRun,
)

from ._sql import fetch_one


def database_now() -> datetime:
    """The database's clock (NOW()), so rules compare history times with the clock that wrote them."""
    return fetch_one("SELECT NOW() AS now")["now"]  # type: ignore[index]


def last_completed_run(task_name: str) -> datetime | None:
    """When the newest successful run of `task_name` finished (None: never); job_run_task_started index."""
    return (
        JobRun.objects.filter(task_name=task_name, outcome=JobOutcome.SUCCEEDED, finished_at__isnull=False)
        .order_by("-started_at")
        .values_list("finished_at", flat=True)
        .first()
    )


def oldest_waiting_delivery_seconds() -> float | None:
    """How long the longest-waiting due delivery has waited to be sent (None: none waits).

    Waiting since: created (pending), its retry time (retrying and due; a retry still backing off
    is not late), or its claim (sending: a worker holds it). For /readyz's delivery backlog."""
    now = timezone.now()
    since = Case(
        When(status=DeliveryStatus.PENDING, then=F("created_at")),
        When(status=DeliveryStatus.RETRYING, then=F("next_retry_at")),
        When(status=DeliveryStatus.SENDING, then=F("claimed_at")),
    )
    oldest = (
        Delivery.objects.filter(
            Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING])
            | Q(status=DeliveryStatus.RETRYING, next_retry_at__lte=now)
        )
        .aggregate(oldest=Min(since))["oldest"]
    )
    return None if oldest is None else round((now - oldest).total_seconds(), 1)


def first_run(task_name: str) -> datetime | None:
    """When `task_name` first started (None: never), e.g. when the scheduler began working."""
    return JobRun.objects.filter(task_name=task_name).order_by("started_at").values_list("started_at", flat=True).first()


def _alert_dict(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.pk,
        "rule": incident.rule.name,
        "rule_id": incident.rule_id,
        "kind": incident.rule.kind,
        "severity": incident.severity,
        "state": incident.state,
        "started_at": incident.started_at,
        "last_checked_at": incident.last_checked_at,
        "summary": incident.summary,
        "values": incident.values,
        "last_values": incident.last_values,
        "affected_count": incident.affected_count,
        "acknowledged_by": incident.acknowledged_by.get_username() if incident.acknowledged_by else None,
        "acknowledged_at": incident.acknowledged_at,
        "snoozed": incident.snoozed_at is not None,
        "snoozed_by": incident.snoozed_by.get_username() if incident.snoozed_by else None,
        "duration_seconds": int(incident.duration.total_seconds()),
    }


def firing_incidents() -> QuerySet[Incident]:
    """Open incidents, critical first, newest first (one query with rule and users joined)."""
    return (
        Incident.objects.filter(state=IncidentState.FIRING)
        .select_related("rule", "acknowledged_by", "snoozed_by")
        .order_by("severity", "-started_at")  # 'critical' sorts before 'warning'
    )


def firing_alerts() -> list[dict[str, Any]]:
    """Alerts firing now as plain dicts: rule, severity, started_at, summary, values, affected_count, ..."""
    return [_alert_dict(incident) for incident in firing_incidents()]


def recent_incidents(*, limit: int | None = None) -> QuerySet[Incident]:
    """Incidents newest first, firing or resolved, with their rule (the page paginates, the export takes them all)."""
    return Incident.objects.select_related("rule", "acknowledged_by", "snoozed_by").order_by("-started_at", "-id")[:limit]


def rule_evaluations() -> QuerySet[AlertRule]:
    """Every rule with its last evaluation, value and chosen channels."""
    return AlertRule.objects.prefetch_related("channels").order_by("name")


def channel_health() -> QuerySet[Channel]:
    """Every channel with its state and the outcome of its latest delivery."""
    latest = Delivery.objects.filter(channel=OuterRef("pk")).order_by("-created_at", "-id")
    return Channel.objects.annotate(
        last_delivery_status=Subquery(latest.values("status")[:1]),
        last_delivery_at=Subquery(latest.values("created_at")[:1]),
        last_delivery_error=Subquery(latest.values("error")[:1]),
    ).order_by("name")


def delivery_log(*, limit: int | None = None) -> QuerySet[Delivery]:
    """Deliveries newest first with channel and incident rule (alert_delivery_created index; the page paginates)."""
    return (
        Delivery.objects.select_related("channel", "incident__rule", "requested_by")
        .annotate(has_resend=Exists(Delivery.objects.filter(resend_of=OuterRef("pk"))))
        .order_by("-created_at", "-id")[:limit]
    )
