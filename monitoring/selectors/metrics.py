"""The machine-readable view of the sync: one payload for the HTTP API and the MCP server,
and the extra numbers /metrics exposes. Built from the dashboard selectors, so every figure
has one source (rollups or index-bound, hence cheap at millions of rows).
"""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone


from . import dashboard
from .alerts import firing_alerts
from . import rollups

Row = dict[str, Any]

RECENT_SYNCS = 10
ANALYTICS_DAYS = 7


def sync_metrics_payload() -> dict[str, Any]:
    """The get-sync-metrics document: the spec's MCP tool shape plus health and alerts.

    metrics is the sync_monitoring view (always five rows, error third), so the spec's n8n
    expression {{$json.metrics[2].count}} reads the number of leads in error.
    """
    health = dict(dashboard.health_summary())
    health.pop("id", None)  # a constant key the view carries for Django's read-only model
    return {
        "metrics": dashboard.sync_monitoring(),
        "recentSyncs": dashboard.recent_history(limit=RECENT_SYNCS),
        "analytics": dashboard.lead_analytics(limit=ANALYTICS_DAYS),
        "timestamp": timezone.now(),
        "health": health,
        "alerts": firing_alerts(),
    }


def json_ready(value: Any) -> Any:
    """`value` with Decimal, datetime and UUID turned into what DjangoJSONEncoder writes (strings)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def attempts_by_direction(*, window: timedelta = timedelta(hours=1)) -> dict[str, Row]:
    """Attempts and failed attempts per history direction in the window: {direction: {attempts, errors}}.

    Every direction is present (zeros when quiet), so a scrape never loses a series. From the
    rollups: live and exact (it was a minute-old snapshot of a 0.5 s count).
    """
    return rollups.attempts_by_direction(window=window)


def attempt_totals() -> list[Row]:
    """All-time attempts/errors/conflicts per direction, monotonic (Prometheus _total counters)."""
    return rollups.attempt_totals()
