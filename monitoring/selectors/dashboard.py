"""One function per dashboard number of the spec; pages, API, metrics and alerts all call these.

Each keeps the spec's query shape and column names, with the spec's defects fixed (see
migrations 0003/0004). Whole-table aggregates are @snapshotted; reads bounded by an index
(recent errors, stuck leads, the last hour) go to the database each time.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from monitoring.choices import LeadSyncStatus, SyncType

from ._sql import fetch_all, fetch_one
from .snapshots import snapshotted

Row = dict[str, Any]


def _tz(tz: str | None) -> str:
    return tz or settings.TIME_ZONE


@snapshotted
def health_summary() -> Row:
    """The lead_sync_health_dashboard row (overall health, totals, rates, 24 h errors)."""
    return fetch_one("SELECT * FROM lead_sync_health_dashboard")  # type: ignore[return-value]


@snapshotted
def sync_status_overview() -> list[Row]:
    """Spec §1: leads per sync status with share, last sync and average errors, biggest first."""
    return fetch_all(
        """
        SELECT sync_status,
               COUNT(*) AS lead_count,
               ROUND(COUNT(*) * 100.0 / SUM(COUNT(*)) OVER (), 2) AS percentage,
               MAX(last_synced_at) AS last_sync_time,
               ROUND(AVG(sync_error_count), 2) AS avg_errors
        FROM leads
        GROUP BY sync_status
        ORDER BY lead_count DESC, sync_status
        """
    )


@snapshotted
def sync_monitoring() -> list[Row]:
    """The sync_monitoring view: five rows, error third (the n8n metrics[2] contract)."""
    return fetch_all("SELECT sync_status, count, percentage, last_sync_time, avg_errors FROM sync_monitoring")


@snapshotted
def hourly_performance(*, hours: int = 24, tz: str | None = None) -> list[Row]:
    """Spec §2: attempts, errors and average attempt time per hour (buckets in the display zone)."""
    return fetch_all(
        """
        SELECT DATE_TRUNC('hour', synced_at AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s AS sync_hour,
               COUNT(*) AS syncs_completed,
               COUNT(*) FILTER (WHERE sync_status = 'error') AS sync_errors,
               ROUND(AVG(EXTRACT(EPOCH FROM (synced_at - created_at))), 2) AS avg_sync_time_seconds
        FROM lead_sync_history
        WHERE synced_at > NOW() - make_interval(hours => %(hours)s)
        GROUP BY 1
        ORDER BY 1 DESC
        """,
        {"tz": _tz(tz), "hours": hours},
    )


@snapshotted
def lead_flow(*, days: int = 7, tz: str | None = None) -> list[Row]:
    """Spec §3: leads created per day, source and direction, with average score."""
    return fetch_all(
        """
        SELECT (DATE_TRUNC('day', created_at AT TIME ZONE %(tz)s))::date AS date,
               lead_source,
               sync_direction,
               COUNT(*) AS lead_count,
               ROUND(AVG(lead_score), 2) AS avg_score
        FROM leads
        WHERE created_at > NOW() - make_interval(days => %(days)s)
        GROUP BY 1, lead_source, sync_direction
        ORDER BY 1 DESC, lead_count DESC, lead_source NULLS LAST, sync_direction
        """,
        {"tz": _tz(tz), "days": days},
    )


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


@snapshotted
def segment_distribution() -> list[Row]:
    """Spec §5: leads per segment (None = unsegmented), synced, in Twenty, average score and confidence."""
    return fetch_all(
        """
        SELECT cs.segment_name,
               COUNT(l.id) AS total_leads,
               COUNT(*) FILTER (WHERE l.sync_status = 'synced') AS synced_leads,
               COUNT(*) FILTER (WHERE l.twenty_id IS NOT NULL) AS in_twenty,
               ROUND(AVG(l.lead_score), 2) AS avg_lead_score,
               ROUND(AVG(l.segment_confidence), 3) AS avg_confidence
        FROM leads l
        LEFT JOIN customer_segments cs ON l.segment_id = cs.id
        GROUP BY cs.segment_name
        ORDER BY total_leads DESC, cs.segment_name NULLS LAST
        """
    )


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


@snapshotted
def lead_analytics(*, limit: int = 7) -> list[Row]:
    """The newest `limit` days of the lead_analytics view (UTC days)."""
    # The date predicate is pushed into the view: only those days are aggregated (a scan of leads
    # with a filter on the UTC day; idx_leads_created_at cannot serve that expression).
    return fetch_all(
        """
        SELECT * FROM lead_analytics
        WHERE date > (NOW() AT TIME ZONE 'UTC')::date - %(limit)s
        ORDER BY date DESC
        LIMIT %(limit)s
        """,
        {"limit": limit},
    )


def daily_summary(*, days: int | None = None) -> list[Row]:
    """Rows of the lead_sync_daily_summary materialized view (UTC days), newest first."""
    where = "WHERE sync_date >= (NOW() AT TIME ZONE 'UTC')::date - %(days)s" if days else ""
    return fetch_all(
        f"""
        SELECT sync_date, sync_direction, sync_status, sync_count, unique_leads
        FROM lead_sync_daily_summary {where}
        ORDER BY sync_date DESC, sync_direction, sync_status
        """,
        {"days": days},
    )


def daily_summary_refreshed_at() -> datetime | None:
    """When refresh_daily_summary() last completed (None: never)."""
    row = fetch_one(
        "SELECT refreshed_at FROM materialized_view_refreshes WHERE view_name = 'lead_sync_daily_summary'"
    )
    return row["refreshed_at"] if row else None


def stale_leads() -> Row:
    """check_stale_leads(): pending leads older than an hour, and the oldest one's created_at."""
    return fetch_one("SELECT * FROM check_stale_leads()")  # type: ignore[return-value]


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
        {"LIMIT %(limit)s" if limit else ""}
        """,
        {"status": LeadSyncStatus.SYNCING, "older_than": older_than, "limit": limit},
    )


def stuck_lead_count(*, older_than: timedelta = timedelta(minutes=10)) -> int:
    """How many leads stuck_leads() would return, without fetching them."""
    row = fetch_one(f"SELECT COUNT(*) AS n FROM leads WHERE {_STUCK}", {"status": LeadSyncStatus.SYNCING, "older_than": older_than})
    return int(row["n"])  # type: ignore[index]


def webhook_updates_per_minute(*, minutes: int = 60, tz: str | None = None) -> list[Row]:
    """Spec debug query: webhook_update attempts per minute over the last hour."""
    return fetch_all(
        """
        SELECT DATE_TRUNC('minute', synced_at) AS minute, COUNT(*) AS webhook_count
        FROM lead_sync_history
        WHERE sync_type = %(sync_type)s
        AND synced_at > NOW() - make_interval(mins => %(minutes)s)
        GROUP BY minute
        ORDER BY minute DESC
        """,
        {"sync_type": SyncType.WEBHOOK_UPDATE, "minutes": minutes},
    )


def failure_rate(*, window: timedelta = timedelta(hours=1)) -> Row:
    """Failed share of attempts in the window: {attempts, errors, rate} (rate None when no attempts, fix 1)."""
    return fetch_one(
        """
        SELECT COUNT(*) AS attempts,
               COUNT(*) FILTER (WHERE sync_status = 'error') AS errors,
               ROUND(COUNT(*) FILTER (WHERE sync_status = 'error') * 100.0 / NULLIF(COUNT(*), 0), 2) AS rate
        FROM lead_sync_history
        WHERE synced_at > NOW() - %(window)s
        """,
        {"window": window},
    )  # type: ignore[return-value]


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
        {"LIMIT %(limit)s" if limit else ""}
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
