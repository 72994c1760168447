"""Error groups: failed attempts grouped by a fingerprint of their message.

The fingerprint is written once, in SQL (`fingerprint_sql`), so grouping, the lead-list filter
and the tests all use the same normalisation; there is no Python twin to drift from it.
It replaces, in this order: uuids, emails, long id-like tokens (8+ letters/digits/_/- with a
digit), then numbers, except a status code right after "API", "HTTP", "status" or "code", so
"Twenty API 429: rate limit exceeded for lead 123" and "... for lead 456" share a group while a
429 and a 500 do not.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from monitoring.choices import HistoryStatus

from ._sql import fetch_all, fetch_one
from .snapshots import snapshotted

Row = dict[str, Any]

# Days of the sparkline and of the "7 d" count: the window error groups look at.
GROUP_WINDOW_DAYS = 7
MAX_FINGERPRINT_LENGTH = 300

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_EMAIL = r"[a-z0-9._+-]+@[a-z0-9.-]+\.[a-z]{2,}"
_ID_TOKEN = r"\m(?=[a-z_-]*[0-9])[0-9a-z_-]{8,}\M"
_NUMBER = r"(?<![0-9])(?<!(api|http|status|code)[ :=#]{0,2})[0-9]+([.,][0-9]+)*"


def fingerprint_sql(column: str) -> str:
    """SQL expression: the fingerprint of the text in `column` (a trusted column name, never input)."""
    expr = f"COALESCE({column}, '(no message)')"
    for pattern, placeholder in ((_UUID, "<uuid>"), (_EMAIL, "<email>"), (_ID_TOKEN, "<id>"), (_NUMBER, "<n>")):
        expr = f"regexp_replace({expr}, '{pattern}', '{placeholder}', 'gi')"
    return f"left(btrim(regexp_replace({expr}, '\\s+', ' ', 'g')), {MAX_FINGERPRINT_LENGTH})"


FINGERPRINT_OF_ERROR_MESSAGE = fingerprint_sql("error_message")


def fingerprint(message: str | None) -> str:
    """The fingerprint of one message, computed by the database (for tests and ad-hoc checks)."""
    row = fetch_one(f"SELECT {fingerprint_sql('%(message)s::text')} AS fingerprint", {"message": message})
    return row["fingerprint"]  # type: ignore[index]


def _trend_columns(days: int) -> str:
    # One count per day, oldest first, so the sparkline reads left to right.
    parts = [
        f"COUNT(*) FILTER (WHERE synced_at > NOW() - INTERVAL '{d} days' "
        f"AND synced_at <= NOW() - INTERVAL '{d - 1} days')"
        for d in range(days, 0, -1)
    ]
    return "ARRAY[" + ", ".join(parts) + "]"


@snapshotted
def error_groups(*, limit: int = 100) -> list[Row]:
    """Failed attempts of the last 7 days per fingerprint: counts 1 h / 24 h / 7 d, first/last seen,
    affected leads, newest message, and a per-day trend (7 values, oldest first); busiest 24 h first."""
    return fetch_all(
        f"""
        WITH errs AS (
            SELECT lead_id, synced_at, COALESCE(error_message, '(no message)') AS error_message
            FROM lead_sync_history
            WHERE sync_status = %(error)s
            AND synced_at > NOW() - make_interval(days => %(days)s)
        ),
        -- The regexes run once per distinct message, not once per failed attempt: the same
        -- message repeats thousands of times during an outage. MATERIALIZED, or the planner
        -- inlines this and evaluates the expression again for every joined row.
        fingerprints AS MATERIALIZED (
            SELECT error_message, {fingerprint_sql("error_message")} AS fingerprint
            FROM (SELECT DISTINCT error_message FROM errs) AS messages
        )
        SELECT fingerprint,
               COUNT(*) FILTER (WHERE synced_at > NOW() - INTERVAL '1 hour') AS count_1h,
               COUNT(*) FILTER (WHERE synced_at > NOW() - INTERVAL '24 hours') AS count_24h,
               COUNT(*) AS count_7d,
               MIN(synced_at) AS first_seen,
               MAX(synced_at) AS last_seen,
               COUNT(DISTINCT lead_id) AS affected_leads,
               (ARRAY_AGG(error_message ORDER BY synced_at DESC))[1] AS sample_message,
               {_trend_columns(GROUP_WINDOW_DAYS)} AS trend
        FROM errs JOIN fingerprints USING (error_message)
        GROUP BY fingerprint
        ORDER BY count_24h DESC, count_7d DESC, last_seen DESC, fingerprint
        LIMIT %(limit)s
        """,
        {"error": HistoryStatus.ERROR, "days": GROUP_WINDOW_DAYS, "limit": limit},
    )


# Reading one lead while walking idx_leads_created_at costs about half of fetching one lead by
# id for the semi-join (bench, 1M leads: 3 vs 6 us). A newest-first page of R rows out of a group of
# L leads among N reads about R * N / L leads walking and L leads collecting, so walk when
# R * N / L < WALK_COST_RATIO * L. Largest bench group (35 000 leads): 77 ms walking against
# 250-410 ms collecting; a 500-lead group stays a semi-join (~20 ms).
WALK_COST_RATIO = 2
# The size probe reads at most this many failed attempts from the index (about 3 ms).
_SIZE_PROBE_ATTEMPTS = 20_000


# No index entry may hold an unbounded message (a 6 KB one was refused, issue 10): migration
# 0170 splits the group index by message size. Messages up to this many bytes ride in
# idx_sync_history_error_group_leads (index-only); longer ones in idx_sync_history_error_group_long
# (heap visited). Each half repeats its index's predicate word for word so the planner picks it.
SHORT_MESSAGE_BYTES = 1000
SHORT_MESSAGE_SQL = f"COALESCE(octet_length(error_message), 0) <= {SHORT_MESSAGE_BYTES}"
LONG_MESSAGE_SQL = f"COALESCE(octet_length(error_message), 0) > {SHORT_MESSAGE_BYTES}"


def _group_rows_sql() -> str:
    """lead_id of each failed attempt of a group; parameters: _group_rows_params(...)."""
    half = (
        "SELECT lead_id FROM lead_sync_history "
        f"WHERE sync_status = %s AND synced_at > %s AND {FINGERPRINT_OF_ERROR_MESSAGE} = %s AND "
    )
    return f"{half}{SHORT_MESSAGE_SQL} UNION ALL {half}{LONG_MESSAGE_SQL}"


def _group_rows_params(group_fingerprint: str, since: datetime) -> tuple[Any, ...]:
    return (HistoryStatus.ERROR.value, since, group_fingerprint) * 2


def error_group_size_probe(group_fingerprint: str, since: datetime) -> tuple[int, int]:
    """(distinct leads of the group, capped at what _SIZE_PROBE_ATTEMPTS attempts hold; the planner's
    estimate of all leads). Index-only for messages up to SHORT_MESSAGE_BYTES (idx_sync_history_error_group_leads)."""
    row = fetch_one(
        f"""
        SELECT (SELECT COUNT(DISTINCT lead_id) FROM ({_group_rows_sql()} LIMIT %s) AS probe) AS group_leads,
               (SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = 'leads'::regclass) AS total_leads
        """,
        (*_group_rows_params(group_fingerprint, since), _SIZE_PROBE_ATTEMPTS),
    )
    return int(row["group_leads"]), int(row["total_leads"])  # type: ignore[index]


def leads_in_error_group(
    queryset: QuerySet,
    group_fingerprint: str,
    *,
    since: datetime | None = None,
    newest_first_rows: int | None = None,
) -> QuerySet:
    """Narrow a Lead queryset to leads with a failed attempt of this fingerprint (default: last 7 days).

    newest_first_rows: pass how many rows the caller will read when it reads the queryset newest
    first (ORDER BY created_at DESC, id: the lead list's default order), e.g. page x per page + 1.
    For a large group the condition is then written so PostgreSQL cannot turn it into a semi-join:
    it hashes the group's lead ids once (index-only) and walks idx_leads_created_at newest first,
    stopping at the LIMIT. Otherwise (any other order, deep pages, small groups, exports) it stays
    a semi-join that collects the group's leads and sorts them. Both select the same rows.
    """
    since = since or timezone.now() - timedelta(days=GROUP_WINDOW_DAYS)
    params = _group_rows_params(group_fingerprint, since)
    if newest_first_rows is not None and _walk_is_cheaper(group_fingerprint, since, newest_first_rows):
        # "IS TRUE" keeps the IN out of the planner's semi-join pull-up: it becomes a hashed
        # SubPlan filtered per lead. lead_id is NOT NULL, so IN is never NULL and IS TRUE keeps
        # exactly the rows the semi-join keeps.
        return queryset.filter(
            RawSQL(f'("leads"."id" IN ({_group_rows_sql()})) IS TRUE', params, output_field=BooleanField())
        )
    return queryset.filter(id__in=RawSQL(_group_rows_sql(), params))


def _walk_is_cheaper(group_fingerprint: str, since: datetime, rows_needed: int) -> bool:
    group_leads, total_leads = error_group_size_probe(group_fingerprint, since)
    # total_leads 0: the table was never analysed, its size is unknown; the semi-join is the safe
    # choice. group_leads is capped by the probe, so a big group's walk is judged pessimistically.
    if not group_leads or not total_leads:
        return False
    return rows_needed * total_leads < WALK_COST_RATIO * group_leads * group_leads
