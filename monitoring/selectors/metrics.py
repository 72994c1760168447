"""The machine-readable view of the sync: one payload for the HTTP API and the MCP server,
and the extra numbers /metrics exposes. Built from the dashboard selectors, so every figure
has one source (snapshotted or index-bound, hence cheap at millions of rows).
"""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from monitoring.choices import HistoryDirection

from . import dashboard
from .alerts import firing_alerts
from ._sql import fetch_all
from .snapshots import snapshotted

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


@snapshotted
def attempts_by_direction(*, window: timedelta = timedelta(hours=1)) -> dict[str, Row]:
    """Attempts and failed attempts per history direction in the window: {direction: {attempts, errors}}.

    Every direction is present (zeros when quiet), so a scrape never loses a series.
    """
    # Bounded by synced_at: idx_sync_history_monitoring (synced_at DESC, sync_status) finds the
    # hour's rows, but counting them reads each one's heap page (thousands at a busy hour, 0.5 s
    # on the bench), hence a snapshot like the other whole-table numbers /metrics serves.
    rows = fetch_all(
        """
        SELECT sync_direction,
               COUNT(*) AS attempts,
               COUNT(*) FILTER (WHERE sync_status = 'error') AS errors
        FROM lead_sync_history
        WHERE synced_at > NOW() - %(window)s
        GROUP BY sync_direction
        """,
        {"window": window},
    )
    found = {row["sync_direction"]: row for row in rows}
    return {
        direction.value: {
            "attempts": found.get(direction.value, {}).get("attempts", 0),
            "errors": found.get(direction.value, {}).get("errors", 0),
        }
        for direction in HistoryDirection
    }


