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
from .alerts import firing_alerts  # noqa: F401  (re-exported: /metrics reads it from here)
from ._sql import fetch_all

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

    Every direction is present (zeros when quiet), so a scrape never loses a series.
    """
    # Bounded by synced_at: idx_sync_history_monitoring (synced_at DESC, sync_status) serves it.
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


def latest_job_runs() -> list[Row]:
    """The newest run of each scheduled task: task_name, started_at, finished_at, outcome."""
    # Loose index scan: walk the distinct task names through the task_name index, then take
    # each one's newest run from job_run_task_started. Stays a few probes per task however
    # many runs the table holds, where DISTINCT ON would read them all.
    return fetch_all(
        """
        WITH RECURSIVE names AS (
            (SELECT task_name FROM monitoring_job_run ORDER BY task_name LIMIT 1)
            UNION ALL
            SELECT (SELECT j.task_name FROM monitoring_job_run j
                     WHERE j.task_name > n.task_name ORDER BY j.task_name LIMIT 1)
            FROM names n
            WHERE n.task_name IS NOT NULL
        )
        SELECT r.task_name, r.started_at, r.finished_at, r.outcome
        FROM names n
        CROSS JOIN LATERAL (
            SELECT task_name, started_at, finished_at, outcome
            FROM monitoring_job_run
            WHERE task_name = n.task_name
            ORDER BY started_at DESC
            LIMIT 1
        ) r
        WHERE n.task_name IS NOT NULL
        ORDER BY r.task_name
        """
    )
