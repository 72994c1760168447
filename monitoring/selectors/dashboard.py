"""One function per dashboard number of the spec; pages, API, metrics and alerts all call these.

Each keeps the spec's query shape and column names, with the spec's defects fixed (see
migrations 0003/0004). Whole-table aggregates come from the rollups (selectors/rollups.py,
live and exact, re-exported here under their old names); reads bounded by an index (recent
errors, stuck leads, the newest attempt per direction) go to the tables each time.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from monitoring.choices import LeadSyncStatus

from ._sql import fetch_all, fetch_one
from .rollups import STATUS_TOTALS_CTE
from .rollups import (  # noqa: F401  (re-exported: the names every caller uses)
    daily_summary,
    failure_rate,
    health_summary,
    hourly_performance,
    lead_analytics,
    lead_flow,
    leads_in_status,
    segment_distribution,
    stale_leads,
    sync_monitoring,
    sync_status_overview,
    webhook_updates_per_minute,
)

Row = dict[str, Any]


RECENT_ERRORS_SQL = """
    SELECT l.id,
           NULLIF(concat_ws(' ', l.first_name, l.last_name), '') AS lead_name,
           l.email,
           l.sync_error_message,
           l.sync_error_count,
           l.last_synced_at,
           lsh.error_message AS last_error_detail
    FROM leads l
    LEFT JOIN LATERAL (
        SELECT error_message
        FROM lead_sync_history
        WHERE lead_id = l.id
        AND sync_status = 'error'
        ORDER BY synced_at DESC NULLS LAST, id DESC
        LIMIT 1
    ) lsh ON true
    WHERE l.sync_status = 'error'
    ORDER BY l.sync_error_count DESC, l.last_synced_at DESC NULLS LAST, l.id
    LIMIT %(limit)s
"""


def recent_errors(*, limit: int = 20) -> list[Row]:
    """Spec §4: leads in error, most errors first, with the newest failed attempt's message."""
    return fetch_all(RECENT_ERRORS_SQL, {"limit": limit})


def last_error_details(lead_ids: list[Any]) -> dict[Any, str | None]:
    """The newest failed attempt's message for each of these leads (one index probe per lead)."""
    if not lead_ids:
        return {}
    rows = fetch_all(
        """
        SELECT l.id, lsh.error_message
        FROM unnest(%(ids)s::uuid[]) AS l(id)
        LEFT JOIN LATERAL (
            SELECT error_message FROM lead_sync_history
            WHERE lead_id = l.id AND sync_status = 'error'
            ORDER BY synced_at DESC NULLS LAST, id DESC
            LIMIT 1
        ) lsh ON true
        """,
        {"ids": list(lead_ids)},
    )
    return {row["id"]: row["error_message"] for row in rows}


def real_time_activity() -> list[Row]:
    """The real_time_sync_activity view (the 100 newest attempts of the last hour) with each failed
    attempt's error message, which the spec's view leaves out (a primary-key probe per row)."""
    return fetch_all(
        """
        SELECT a.*, h.error_message
        FROM real_time_sync_activity a
        JOIN lead_sync_history h ON h.id = a.id
        ORDER BY a.synced_at DESC, a.id DESC
        """
    )


def daily_summary_refreshed_at() -> datetime | None:
    """When refresh_daily_summary() last completed (None: never)."""
    row = fetch_one(
        "SELECT refreshed_at FROM materialized_view_refreshes WHERE view_name = 'lead_sync_daily_summary'"
    )
    return row["refreshed_at"] if row else None


# Stuck: in 'syncing' since longer than %(older_than)s (measured from sync_started_at, fix 8).
_STUCK = "sync_status = %(status)s AND COALESCE(sync_started_at, updated_at) < NOW() - %(older_than)s"


def stuck_leads(*, older_than: timedelta = timedelta(minutes=10), limit: int | None = None) -> list[Row]:
    """Leads in 'syncing' since longer than `older_than` (measured from sync_started_at, fix 8)."""
    return fetch_all(
        f"""
        SELECT id, NULLIF(concat_ws(' ', first_name, last_name), '') AS lead_name, email, company_name,
               sync_direction, sync_started_at, updated_at, sync_error_count
        FROM leads
        WHERE {_STUCK}
        ORDER BY COALESCE(sync_started_at, updated_at)
        {"LIMIT %(limit)s" if limit is not None else ""}
        """,
        {"status": LeadSyncStatus.SYNCING, "older_than": older_than, "limit": limit},
    )


def stuck_lead_count(*, older_than: timedelta = timedelta(minutes=10)) -> int:
    """How many leads stuck_leads() would return, without fetching them: every lead in syncing
    (the rollup, live) minus those that went into syncing within `older_than` (an index range on
    idx_leads_syncing_since, bounded by the write rate), so the cost does not grow with the number
    of stuck leads. One statement, one snapshot: exact."""
    row = fetch_one(
        f"""
        WITH {STATUS_TOTALS_CTE}
        SELECT ((SELECT COALESCE(SUM(lead_count), 0) FROM status_totals WHERE sync_status = %(status)s)
                - (SELECT COUNT(*) FROM leads WHERE sync_status = %(status)s
                     AND COALESCE(sync_started_at, updated_at) >= NOW() - %(older_than)s))::bigint AS n
        """,
        {"status": LeadSyncStatus.SYNCING, "older_than": older_than},
    )
    return int(row["n"])  # type: ignore[index]


def last_sync_times() -> Row:
    """Newest attempt overall and per direction: {last_sync, twenty_to_supabase, supabase_to_twenty}."""
    return fetch_one(
        """
        SELECT (SELECT MAX(synced_at) FROM lead_sync_history) AS last_sync,
               (SELECT MAX(synced_at) FROM lead_sync_history
                 WHERE sync_direction = 'twenty_to_supabase') AS twenty_to_supabase,
               (SELECT MAX(synced_at) FROM lead_sync_history
                 WHERE sync_direction = 'supabase_to_twenty') AS supabase_to_twenty
        """
    )  # type: ignore[return-value]


def sync_stalled(*, quiet_for: timedelta = timedelta(minutes=30)) -> bool:
    """True when no attempt finished within `quiet_for`; an empty history counts as stalled (fix 2)."""
    row = fetch_one(
        "SELECT COALESCE(MAX(synced_at) < NOW() - %(quiet)s, true) AS stalled FROM lead_sync_history",
        {"quiet": quiet_for},
    )
    return bool(row["stalled"])  # type: ignore[index]


def high_error_leads(*, threshold: int = 5, limit: int | None = None) -> list[Row]:
    """Spec alert 3: leads with more than `threshold` sync errors, most first."""
    return fetch_all(
        f"""
        SELECT id, NULLIF(concat_ws(' ', first_name, last_name), '') AS lead_name, sync_error_count
        FROM leads
        WHERE sync_error_count > %(threshold)s
        ORDER BY sync_error_count DESC, id
        {"LIMIT %(limit)s" if limit is not None else ""}
        """,
        {"threshold": threshold, "limit": limit},
    )


def high_error_lead_count(*, threshold: int = 5) -> int:
    """How many leads high_error_leads() would return: an index-only COUNT on idx_leads_high_error_count (threshold >= 5)."""
    row = fetch_one("SELECT COUNT(*) AS n FROM leads WHERE sync_error_count > %(threshold)s", {"threshold": threshold})
    return int(row["n"])  # type: ignore[index]


def recent_history(*, limit: int = 10) -> list[Row]:
    """The newest `limit` attempts (for the metrics API's recentSyncs)."""
    return fetch_all(
        """
        SELECT id, lead_id, sync_type, sync_direction, sync_status, fields_changed, error_message,
               created_at, synced_at
        FROM lead_sync_history
        ORDER BY synced_at DESC, id DESC
        LIMIT %(limit)s
        """,
        {"limit": limit},
    )
