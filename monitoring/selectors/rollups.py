"""Dashboard numbers from the rollups (migration 0230): exact, current, and cheap at any size.

A reader adds the rollup rows and the deltas the compactor has not folded yet, in one statement
(one snapshot), so the answer is what the spec's query on the tables would say at that moment.

Time windows ("the last 24 h") rarely start on a bucket edge. A window or group edge that falls
inside an hour is read from that hour's minute rows, and the one minute it falls inside from the
table itself (an index range of at most a minute of rows); every other hour comes from its hour
row. So each edge costs at most one minute of rows, whatever the table size. Minute rows are
kept 8 days and used for 7; an edge older than that reads its whole hour from the table.

Numbers that are a single index probe (newest attempt per direction, newest sync per status,
the pending leads of the last hour, stuck leads) stay probes: they are already O(1) or bounded
by the write rate.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django.conf import settings

from monitoring.choices import HistoryDirection, HistoryStatus, LeadSyncStatus, SyncType

from ._sql import fetch_all, fetch_one

Row = dict[str, Any]
T = TypeVar("T")

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
# Minute rows older than this are not used (the compactor keeps them a day longer, see 0230).
MINUTE_ROWS_FOR = timedelta(days=7)

# DDSketch parameters of rollup_durations (migration 0230): relative accuracy 2 %.
RELATIVE_ACCURACY = 0.02
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
ZERO_BIN = -32768
NEGATIVE_BIN_OFFSET = -65536  # bin of a negative duration -x: NEGATIVE_BIN_OFFSET - bin(x)


def rollup_backed(fn: Callable[..., T]) -> Callable[..., T]:
    """Mark a selector as live from the rollups. Keeps the attributes the snapshotted selectors
    had (taken_at(): None means "live", so pages show no snapshot age), for callers that ask."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    wrapper.taken_at = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    wrapper.refresh = wrapper  # type: ignore[attr-defined]
    wrapper.uncached = wrapper  # type: ignore[attr-defined]
    return wrapper


def database_now() -> datetime:
    return fetch_one("SELECT now() AS now")["now"]  # type: ignore[index]


def _floor(moment: datetime, step: timedelta) -> datetime:
    """The start of `moment`'s step counted in UTC from 2000-01-01 (in UTC: a zoned moment would be
    moved by wall-clock arithmetic, an hour off across a DST change)."""
    moment = moment.astimezone(dt_timezone.utc)
    epoch = datetime(2000, 1, 1, tzinfo=dt_timezone.utc)
    return moment - ((moment - epoch) % step)


# --------------------------------------------------------------------------- the window plan


@dataclass
class _Plan:
    """Which hours come from hour rows, which from minute rows, which ranges from the table."""

    start: datetime  # no piece before this instant is needed (rows at or before it are outside)
    refined_hours: set[datetime] = field(default_factory=set)
    skipped_hours: set[datetime] = field(default_factory=set)  # hour rows not used (refined or table)
    table_minutes: set[datetime] = field(default_factory=set)
    table_ranges: list[tuple[datetime, datetime]] = field(default_factory=list)
    # [lo, hi) spans of whole UTC days read from day rows (plan_window(day_rows=True)); their hour
    # rows are not read.
    day_ranges: list[tuple[datetime, datetime]] = field(default_factory=list)


def plan_window(
    *,
    now: datetime,
    since: datetime,
    open_edges: Iterable[datetime] = (),
    group_edges: Iterable[datetime] = (),
    minute_rows: bool = True,
    day_rows: bool = False,
) -> _Plan:
    """Plan a read of rows with t > since, classified against `open_edges` (t > edge) and grouped
    at `group_edges` (t >= edge starts the next group).

    A bucket [b, b + w) can stand for all its rows when no edge cuts it: for an open edge that
    means not b <= edge < b + w (the row at b itself is on the other side), for a group edge not
    b < edge < b + w. Cut hours go to minute rows (if kept that far back), cut minutes to the table.
    """
    # In UTC: edges come in the display zone (bucket starts, a custom range's ends), and Python's
    # arithmetic on a zoned datetime is wall-clock arithmetic, an hour off across a DST change.
    since = since.astimezone(dt_timezone.utc)
    open_edges = [edge.astimezone(dt_timezone.utc) for edge in open_edges]
    group_edges = [edge.astimezone(dt_timezone.utc) for edge in group_edges]
    plan = _Plan(start=_floor(since, HOUR))
    cuts: list[tuple[datetime, bool]] = [(since, True)]
    cuts += [(edge, True) for edge in open_edges]
    cuts += [(edge, False) for edge in group_edges]
    if day_rows:
        plan.day_ranges = _whole_days(since, max([since, *open_edges]), cuts)
    for edge, is_open in cuts:
        hour = _floor(edge, HOUR)
        if not is_open and edge == hour:
            continue
        if minute_rows and hour >= now - MINUTE_ROWS_FOR:
            plan.refined_hours.add(hour)
            plan.skipped_hours.add(hour)
            minute = _floor(edge, MINUTE)
            if is_open or edge != minute:
                plan.table_minutes.add(minute)
        else:
            plan.skipped_hours.add(hour)
            plan.table_ranges.append((hour, hour + HOUR))
    # A table hour covers its minutes: drop cut minutes inside it.
    for minute in sorted(plan.table_minutes):
        if not any(lo <= minute < hi for lo, hi in plan.table_ranges):
            plan.table_ranges.append((minute, minute + MINUTE))
    # Rows at or before `since` are never counted: a table range need not start before it (the
    # deltas of that part are dropped by the reader's t > since, as the hour row is skipped).
    plan.table_ranges = [(max(lo, since), hi) for lo, hi in plan.table_ranges if hi > since]
    return plan


def _whole_days(since: datetime, until: datetime, cuts: list[tuple[datetime, bool]]) -> list[tuple[datetime, datetime]]:
    """The UTC days after `since` and before the day of `until` that no cut falls inside, as merged
    [lo, hi) spans: a day row can stand for each of them (the rule of plan_window() for a bucket of a
    day). Hours of a cut day are planned as before."""
    cut_days = set()
    for edge, is_open in cuts:
        day = _floor(edge, DAY)
        if is_open or edge != day:
            cut_days.add(day)
    spans: list[tuple[datetime, datetime]] = []
    day = _floor(since, DAY)
    last = _floor(until, DAY)
    while day < last:
        if day not in cut_days:
            if spans and spans[-1][1] == day:
                spans[-1] = (spans[-1][0], day + DAY)
            else:
                spans.append((day, day + DAY))
        day += DAY
    return spans


def _ranges_sql(column: str, ranges: list[tuple[datetime, datetime]], params: dict[str, Any], prefix: str) -> str:
    """`(column >= a AND column < b) OR ...` (FALSE for none), with the bounds as parameters."""
    parts = []
    for i, (lo, hi) in enumerate(ranges):
        params[f"{prefix}lo{i}"], params[f"{prefix}hi{i}"] = lo, hi
        parts.append(f"({column} >= %({prefix}lo{i})s AND {column} < %({prefix}hi{i})s)")
    return "(" + " OR ".join(parts) + ")" if parts else "FALSE"


@dataclass(frozen=True)
class _Kind:
    """One time-bucketed rollup: its table, the source table, and how each side yields a row."""

    rollup: str
    columns: str  # key and value columns every piece yields, after t
    rollup_values: str  # the same from a rollup row
    source: str
    source_time: str
    source_values: str
    source_filter: str
    deltas: str
    delta_time: str
    delta_values: str
    delta_filter: str
    has_grain: bool = True
    # Whole UTC days (migration 0301): the table, and t plus `columns` from one of its rows.
    day_rollup: str | None = None
    day_values: str = ""


HISTORY = _Kind(
    rollup="rollup_history",
    columns="sync_direction, sync_type, sync_status, attempts, duration_sum, duration_n",
    rollup_values="sync_direction, sync_type, sync_status, attempts, duration_sum, duration_n",
    source="lead_sync_history",
    source_time="synced_at",
    source_values="sync_direction, sync_type, sync_status, 1, EXTRACT(EPOCH FROM (synced_at - created_at)), 1",
    source_filter="TRUE",
    deltas="rollup_history_deltas",
    delta_time="synced_at",
    delta_values=(
        "sync_direction, sync_type, sync_status, sign, COALESCE(sign * duration, 0), "
        "CASE WHEN duration IS NULL THEN 0 ELSE sign END"
    ),
    delta_filter="TRUE",
    # The hour rows summed per UTC day, same key (migration 0302): the range pages' whole days.
    day_rollup="rollup_history_days",
    day_values="day, sync_direction, sync_type, sync_status, attempts, duration_sum, duration_n",
)

ERROR_GROUPS = _Kind(
    rollup="rollup_error_groups",
    columns="fingerprint, n",
    rollup_values="fingerprint, n",
    source="lead_sync_history",
    source_time="synced_at",
    source_values="lead_sync_error_fingerprint(error_message), 1",
    source_filter="sync_status = 'error'",
    deltas="rollup_history_deltas",
    delta_time="synced_at",
    delta_values="lead_sync_error_fingerprint(error_message), sign",
    delta_filter="sync_status = 'error'",
)

LEADS_CREATED = _Kind(
    rollup="rollup_leads_created",
    columns="lead_source, sync_direction, sync_status, in_twenty, lead_count, score_sum, score_n",
    rollup_values="lead_source, sync_direction, sync_status, in_twenty, lead_count, score_sum, score_n",
    source="leads",
    source_time="created_at",
    source_values=(
        "lead_source, sync_direction, sync_status, twenty_id IS NOT NULL, 1, COALESCE(lead_score, 0), "
        "(lead_score IS NOT NULL)::int"
    ),
    source_filter="TRUE",
    deltas="rollup_lead_deltas",
    delta_time="created_at",
    delta_values=(
        "lead_source, sync_direction, sync_status, in_twenty, sign, COALESCE(sign * lead_score, 0), "
        "CASE WHEN lead_score IS NULL THEN 0 ELSE sign END"
    ),
    delta_filter="TRUE",
    # Status and in-Twenty summed away, as in the minute rows: for lead_flow only.
    day_rollup="rollup_leads_created_days",
    day_values="day, lead_source, sync_direction, '*', FALSE, lead_count, score_sum, score_n",
)

DURATIONS = _Kind(
    rollup="rollup_durations",
    columns="bin, n",
    rollup_values="bin, n",
    source="lead_sync_history",
    source_time="synced_at",
    source_values="rollup_duration_bin(EXTRACT(EPOCH FROM (synced_at - created_at))::double precision), 1",
    source_filter="sync_status = 'synced'",
    deltas="rollup_history_deltas",
    delta_time="synced_at",
    delta_values="rollup_duration_bin(duration::double precision), sign",
    delta_filter="sync_status = 'synced' AND duration IS NOT NULL",
    has_grain=False,
)


def pieces_sql(kind: _Kind, plan: _Plan, params: dict[str, Any], *, extra_filter: str = "TRUE") -> str:
    """SELECT t, <kind.columns> covering every row of the source with t > plan.start, each exactly
    once: hour rows, minute rows of cut hours, table rows of cut minutes, unfolded deltas."""
    params["p_start"] = plan.start
    params["p_skip_hours"] = sorted(plan.skipped_hours)
    in_table = _ranges_sql("{time}", plan.table_ranges, params, "r")
    hour_grain = "grain = 'h' AND " if kind.has_grain else ""
    hour_rows = (
        f"SELECT bucket AS t, {kind.rollup_values} FROM {kind.rollup} "
        f"WHERE {hour_grain}<hours> AND bucket <> ALL(%(p_skip_hours)s::timestamptz[]) AND ({extra_filter})"
    )
    if not plan.day_ranges:
        parts = [hour_rows.replace("<hours>", "bucket >= %(p_start)s")]
    else:
        assert kind.day_rollup, f"{kind.rollup} has no day rows"
        # The hours around the whole days, one index range each (as one statement with an OR, a
        # planner without statistics scans one range through the days and filters them out).
        parts = []
        cursor = plan.start
        for i, (lo, hi) in enumerate(plan.day_ranges):
            if cursor < lo:
                params[f"a_lo{i}"], params[f"a_hi{i}"] = cursor, lo
                parts.append(hour_rows.replace("<hours>", f"bucket >= %(a_lo{i})s AND bucket < %(a_hi{i})s"))
            cursor = max(cursor, hi)
        params["p_after_days"] = cursor
        parts.append(hour_rows.replace("<hours>", "bucket >= %(p_after_days)s"))
        # Whole days lie between the window's ends (_whole_days): no extra filter to apply.
        parts.append(f"SELECT {kind.day_values} FROM {kind.day_rollup} WHERE {_ranges_sql('day', plan.day_ranges, params, 'd')}")
    if kind.has_grain and plan.refined_hours:
        minute_ranges = [(hour, hour + HOUR) for hour in sorted(plan.refined_hours)]
        params["p_table_minutes"] = sorted(plan.table_minutes)
        parts.append(
            f"SELECT bucket AS t, {kind.rollup_values} FROM {kind.rollup} "
            f"WHERE grain = 'm' AND {_ranges_sql('bucket', minute_ranges, params, 'm')} "
            f"AND bucket <> ALL(%(p_table_minutes)s::timestamptz[]) AND ({extra_filter})"
        )
    if plan.table_ranges:
        # OFFSET 0 keeps the caller's window filter (t > since ...) out of this branch: pushed down,
        # it is one index range over the whole window, which a planner without statistics (or with
        # stale ones) prefers to the short edge ranges and then reads every row of the window.
        parts.append(
            f"SELECT * FROM (SELECT {kind.source_time} AS t, {kind.source_values} FROM {kind.source} "
            f"WHERE {kind.source_filter} AND {in_table.format(time=kind.source_time)} OFFSET 0) AS edge_rows"
        )
    parts.append(
        f"SELECT {kind.delta_time} AS t, {kind.delta_values} FROM {kind.deltas} "
        f"WHERE {kind.delta_filter} AND {kind.delta_time} >= %(p_start)s "
        f"AND NOT {in_table.format(time=kind.delta_time)}"
    )
    body = "\nUNION ALL\n".join(parts)
    return f"SELECT t, {kind.columns} FROM (\n{body}\n) AS pieces({'t, ' + kind.columns})"


def _tz(tz: str | None) -> str:
    return tz or settings.TIME_ZONE


def _local_edges(start: datetime, end: datetime, tz: str, step: str) -> list[datetime]:
    """Instants in (start, end] where a local hour or day begins in zone `tz`."""
    zone = ZoneInfo(tz)
    local = start.astimezone(zone)
    if step == "hour":
        cursor = local.replace(minute=0, second=0, microsecond=0)
    else:
        cursor = local.replace(hour=0, minute=0, second=0, microsecond=0)
    edges = []
    while True:
        if step == "hour":
            cursor_utc = cursor.astimezone(dt_timezone.utc) + HOUR
            cursor = cursor_utc.astimezone(zone)
        else:
            naive = (cursor.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=zone)
            cursor = naive.astimezone(dt_timezone.utc).astimezone(zone)
        moment = cursor.astimezone(dt_timezone.utc)
        if moment > end:
            return edges
        if moment > start:
            edges.append(moment)


# Group edges are only cuts when they fall inside an hour (zones with a half-hour offset); future
# rows (timestamps after now) are grouped by their bucket up to a day ahead, like the spec.
_AHEAD = timedelta(days=1)


def _zone_window(span: timedelta, tz: str | None, step: str) -> tuple[_Plan, dict[str, Any]]:
    """The plan and parameters of "the last `span`, grouped by display-zone `step` (hour/day)"."""
    zone = _tz(tz)
    now = database_now()
    since = now - span
    plan = plan_window(now=now, since=since, group_edges=_local_edges(since, now + _AHEAD, zone, step))
    return plan, {"tz": zone, "since": since}


# --------------------------------------------------------------------------- history numbers


@rollup_backed
def hourly_performance(*, hours: int = 24, tz: str | None = None) -> list[Row]:
    """Spec §2 from rollup_history: attempts, errors and average attempt time per display-zone hour."""
    plan, params = _zone_window(timedelta(hours=hours), tz, "hour")
    return fetch_all(
        f"""
        SELECT DATE_TRUNC('hour', t AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s AS sync_hour,
               SUM(attempts)::bigint AS syncs_completed,
               COALESCE(SUM(attempts) FILTER (WHERE sync_status = 'error'), 0)::bigint AS sync_errors,
               ROUND(SUM(duration_sum) / NULLIF(SUM(duration_n), 0), 2) AS avg_sync_time_seconds
        FROM ({pieces_sql(HISTORY, plan, params)}) AS p
        WHERE t > %(since)s
        GROUP BY 1
        HAVING SUM(attempts) > 0
        ORDER BY 1 DESC
        """,
        params,
    )


def _attempts_since(window: timedelta) -> list[Row]:
    now = database_now()
    since = now - window
    plan = plan_window(now=now, since=since)
    params: dict[str, Any] = {"since": since}
    return fetch_all(
        f"""
        SELECT sync_direction, sync_status, SUM(attempts)::bigint AS attempts
        FROM ({pieces_sql(HISTORY, plan, params)}) AS p
        WHERE t > %(since)s
        GROUP BY 1, 2
        """,
        params,
    )


@rollup_backed
def failure_rate(*, window: timedelta = timedelta(hours=1)) -> Row:
    """Failed share of attempts in the window: {attempts, errors, rate} (rate None when no attempts)."""
    rows = _attempts_since(window)
    attempts = sum(int(r["attempts"]) for r in rows)
    errors = sum(int(r["attempts"]) for r in rows if r["sync_status"] == HistoryStatus.ERROR)
    row = fetch_one(
        "SELECT %(a)s::bigint AS attempts, %(e)s::bigint AS errors, "
        "ROUND(%(e)s::bigint * 100.0 / NULLIF(%(a)s::bigint, 0), 2) AS rate",
        {"a": attempts, "e": errors},
    )
    return row  # type: ignore[return-value]


@rollup_backed
def attempts_by_direction(*, window: timedelta = timedelta(hours=1)) -> dict[str, Row]:
    """Attempts and failed attempts per history direction in the window (every direction present)."""
    rows = _attempts_since(window)
    result = {direction.value: {"attempts": 0, "errors": 0} for direction in HistoryDirection}
    for row in rows:
        entry = result.setdefault(row["sync_direction"], {"attempts": 0, "errors": 0})
        entry["attempts"] += int(row["attempts"])
        if row["sync_status"] == HistoryStatus.ERROR:
            entry["errors"] += int(row["attempts"])
    return result


@rollup_backed
def webhook_updates_per_minute(*, minutes: int = 60, tz: str | None = None) -> list[Row]:
    """Spec debug query: webhook_update attempts per minute (UTC minutes) over the last `minutes`."""
    now = database_now()
    since = now - timedelta(minutes=minutes)
    edges = []
    edge = _floor(since, MINUTE) + MINUTE
    while edge <= now + MINUTE:
        edges.append(edge)
        edge += MINUTE
    plan = plan_window(now=now, since=since, group_edges=edges)
    params: dict[str, Any] = {"since": since, "type": SyncType.WEBHOOK_UPDATE}
    return fetch_all(
        f"""
        SELECT DATE_TRUNC('minute', t) AS minute, SUM(attempts)::bigint AS webhook_count
        FROM ({pieces_sql(HISTORY, plan, params, extra_filter="sync_type = %(type)s")}) AS p
        WHERE t > %(since)s AND sync_type = %(type)s
        GROUP BY 1
        HAVING SUM(attempts) > 0
        ORDER BY 1 DESC
        """,
        params,
    )


@dataclass(frozen=True)
class DurationQuantiles:
    """Quantiles of synced attempts' durations (seconds), each within ±2 % of the exact value."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    relative_accuracy: float = RELATIVE_ACCURACY


def _bin_value(bin_index: int) -> float:
    if bin_index == ZERO_BIN:
        return 0.0
    if bin_index < ZERO_BIN:  # negative durations
        return -2 * GAMMA ** (NEGATIVE_BIN_OFFSET - bin_index) / (GAMMA + 1)
    return 2 * GAMMA**bin_index / (GAMMA + 1)


def quantile_from_bins(bins: list[tuple[int, int]], q: float) -> float | None:
    """percentile_cont(q) estimated from (bin, count) pairs: the two ranks it interpolates between are
    each replaced by their bin's estimate, so the result stays within the bins' relative error."""
    ordered = sorted(((b, n) for b, n in bins if n > 0), key=lambda pair: _bin_value(pair[0]))
    total = sum(n for _b, n in ordered)
    if not total:
        return None
    position = q * (total - 1)
    low_rank, fraction = int(math.floor(position)), position - math.floor(position)

    def value_at(rank: int) -> float:
        seen = 0
        for bin_index, n in ordered:
            seen += n
            if rank < seen:
                return _bin_value(bin_index)
        return _bin_value(ordered[-1][0])

    low = value_at(low_rank)
    if fraction == 0:
        return low
    return low + fraction * (value_at(low_rank + 1) - low)


def duration_bins(*, window: timedelta = timedelta(hours=24), now: datetime | None = None) -> list[tuple[int, int]]:
    """(bin, count) of synced attempts in the window: hour histograms, the cut hour from the table
    (index-only on idx_sync_history_synced_duration), plus unfolded deltas."""
    now = now or database_now()
    since = now - window
    plan = plan_window(now=now, since=since, minute_rows=False)
    params: dict[str, Any] = {"since": since}
    rows = fetch_all(
        f"""
        SELECT bin, SUM(n)::bigint AS n FROM ({pieces_sql(DURATIONS, plan, params)}) AS p
        WHERE t > %(since)s GROUP BY 1 HAVING SUM(n) > 0
        """,
        params,
    )
    return [(int(r["bin"]), int(r["n"])) for r in rows]


def _quantiles(bins: list[tuple[int, int]]) -> DurationQuantiles:
    return DurationQuantiles(
        count=sum(n for _b, n in bins),
        p50=quantile_from_bins(bins, 0.5),
        p95=quantile_from_bins(bins, 0.95),
        p99=quantile_from_bins(bins, 0.99),
    )


@rollup_backed
def sync_time_quantiles(*, window: timedelta = timedelta(hours=24)) -> DurationQuantiles:
    """Median, p95 and p99 of synced attempts' durations in the window, from the hourly histograms."""
    return _quantiles(duration_bins(window=window))


@rollup_backed
def error_groups(*, limit: int = 100, days: int = 7) -> list[Row]:
    """Failed attempts of the last `days` per fingerprint: counts 1 h / 24 h / 7 d and per day from
    rollup_error_groups; first/last seen, newest message and affected leads from the fingerprint
    index (idx_sync_history_error_group_leads), for each group one bounded probe."""
    from .errors import FINGERPRINT_OF_ERROR_MESSAGE

    now = database_now()
    since = now - timedelta(days=days)
    day_edges = [now - timedelta(days=d) for d in range(days)]
    plan = plan_window(now=now, since=since, open_edges=[now - HOUR, now - timedelta(hours=24), *day_edges])
    params: dict[str, Any] = {"since": since, "now": now, "limit": limit}
    trend = ", ".join(
        f"COALESCE(SUM(n) FILTER (WHERE t > %(now)s - INTERVAL '{d} days' AND t <= %(now)s - INTERVAL '{d - 1} days'), 0)"
        for d in range(days, 0, -1)
    )
    return fetch_all(
        f"""
        WITH counts AS (
            SELECT fingerprint,
                   COALESCE(SUM(n) FILTER (WHERE t > %(now)s - INTERVAL '1 hour'), 0)::bigint AS count_1h,
                   COALESCE(SUM(n) FILTER (WHERE t > %(now)s - INTERVAL '24 hours'), 0)::bigint AS count_24h,
                   SUM(n)::bigint AS count_7d,
                   ARRAY[{trend}]::bigint[] AS trend
            FROM ({pieces_sql(ERROR_GROUPS, plan, params)}) AS p
            WHERE t > %(since)s
            GROUP BY fingerprint
            HAVING SUM(n) > 0
        )
        SELECT c.fingerprint, c.count_1h, c.count_24h, c.count_7d, first.synced_at AS first_seen,
               last.synced_at AS last_seen, affected.n AS affected_leads,
               COALESCE(last.error_message, '(no message)') AS sample_message, c.trend
        FROM counts c
        CROSS JOIN LATERAL (
            SELECT synced_at, error_message FROM lead_sync_history
            WHERE sync_status = 'error' AND {FINGERPRINT_OF_ERROR_MESSAGE} = c.fingerprint AND synced_at > %(since)s
            ORDER BY synced_at DESC LIMIT 1
        ) AS last
        CROSS JOIN LATERAL (
            SELECT synced_at FROM lead_sync_history
            WHERE sync_status = 'error' AND {FINGERPRINT_OF_ERROR_MESSAGE} = c.fingerprint AND synced_at > %(since)s
            ORDER BY synced_at LIMIT 1
        ) AS first
        CROSS JOIN LATERAL (
            SELECT COUNT(DISTINCT lead_id) AS n FROM lead_sync_history
            WHERE sync_status = 'error' AND {FINGERPRINT_OF_ERROR_MESSAGE} = c.fingerprint AND synced_at > %(since)s
        ) AS affected
        ORDER BY c.count_24h DESC, c.count_7d DESC, last.synced_at DESC, c.fingerprint
        LIMIT %(limit)s
        """,
        params,
    )


# --------------------------------------------------------------------------- lead numbers

# rollup_leads plus its unfolded deltas, one row per key (a CTE other queries build on).
LEAD_TOTALS_CTE = """
lead_totals AS (
    SELECT sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty,
           SUM(lead_count) AS lead_count, SUM(error_count_sum) AS error_count_sum,
           SUM(score_sum) AS score_sum, SUM(score_n) AS score_n,
           SUM(confidence_sum) AS confidence_sum, SUM(confidence_n) AS confidence_n
    FROM (
        SELECT sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty, lead_count,
               error_count_sum, score_sum, score_n, confidence_sum, confidence_n
        FROM rollup_leads
        UNION ALL
        SELECT sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty, sign,
               sign * sync_error_count, COALESCE(sign * lead_score, 0),
               CASE WHEN lead_score IS NULL THEN 0 ELSE sign END,
               COALESCE(sign * segment_confidence, 0),
               CASE WHEN segment_confidence IS NULL THEN 0 ELSE sign END
        FROM rollup_lead_deltas
    ) AS parts
    GROUP BY 1, 2, 3, 4, 5, 6
    HAVING SUM(lead_count) <> 0
)
"""


# The same totals per status and never-synced only, for the readers that need no more: grouping
# by two columns instead of six is a third of the time (1.1 against 3.5 ms at 1M leads), and a key
# whose count nets to zero has every sum at zero, so the totals are the same without its HAVING.
STATUS_TOTALS_CTE = """
status_totals AS (
    SELECT sync_status, never_synced, SUM(lead_count) AS lead_count, SUM(error_count_sum) AS error_count_sum
    FROM (
        SELECT sync_status, never_synced, lead_count, error_count_sum FROM rollup_leads
        UNION ALL
        SELECT sync_status, never_synced, sign, sign * sync_error_count FROM rollup_lead_deltas
    ) AS parts
    GROUP BY 1, 2
)
"""


@rollup_backed
def leads_in_status(status: str) -> int:
    """How many leads are in `status`, from the rollup and its unfolded deltas: health_summary's
    <status>_leads without the rest of the health row (the Errors page's count)."""
    row = fetch_one(
        f"WITH {STATUS_TOTALS_CTE} SELECT COALESCE(SUM(lead_count), 0)::bigint AS n FROM status_totals "
        "WHERE sync_status = %(status)s",
        {"status": status},
    )
    return int(row["n"])  # type: ignore[index]


# Newest sync per status: one descent of idx_leads_sync_monitoring (sync_status, last_synced_at).
_LAST_SYNC_OF_STATUS = (
    "(SELECT MAX(last_synced_at) FROM leads WHERE leads.sync_status = {status})"
)


@rollup_backed
def sync_status_overview() -> list[Row]:
    """Spec §1: leads per sync status with share, last sync and average errors, biggest first."""
    return fetch_all(
        f"""
        WITH {STATUS_TOTALS_CTE},
        per_status AS (
            SELECT sync_status, SUM(lead_count) AS lead_count, SUM(error_count_sum) AS errors
            FROM status_totals GROUP BY 1 HAVING SUM(lead_count) > 0
        )
        SELECT sync_status,
               lead_count::bigint AS lead_count,
               ROUND(lead_count * 100.0 / SUM(lead_count) OVER (), 2) AS percentage,
               {_LAST_SYNC_OF_STATUS.format(status="per_status.sync_status")} AS last_sync_time,
               ROUND(errors / lead_count, 2) AS avg_errors
        FROM per_status
        ORDER BY lead_count DESC, sync_status
        """
    )


@rollup_backed
def sync_monitoring() -> list[Row]:
    """The sync_monitoring view from the rollups: five rows, error third (the n8n metrics[2] contract)."""
    return fetch_all(
        f"""
        WITH {STATUS_TOTALS_CTE},
        statuses(position, sync_status) AS (
            VALUES (1, 'synced'), (2, 'pending'), (3, 'error'), (4, 'syncing'), (5, 'conflict')
        ),
        counts AS (
            SELECT sync_status, SUM(lead_count) AS count, SUM(error_count_sum) / NULLIF(SUM(lead_count), 0) AS avg_errors
            FROM status_totals GROUP BY 1 HAVING SUM(lead_count) > 0
        )
        SELECT s.sync_status::varchar(20) AS sync_status,
               COALESCE(c.count, 0)::bigint AS count,
               ROUND(COALESCE(c.count, 0) * 100.0 / NULLIF(SUM(COALESCE(c.count, 0)) OVER (), 0), 2) AS percentage,
               CASE WHEN c.count IS NOT NULL THEN {_LAST_SYNC_OF_STATUS.format(status="s.sync_status")} END AS last_sync_time,
               ROUND(COALESCE(c.avg_errors, 0), 2) AS avg_errors
        FROM statuses s LEFT JOIN counts c ON c.sync_status = s.sync_status
        ORDER BY s.position
        """
    )


@rollup_backed
def segment_distribution() -> list[Row]:
    """Spec §5: leads per segment (None = unsegmented), synced, in Twenty, average score and confidence."""
    return fetch_all(
        f"""
        WITH {LEAD_TOTALS_CTE}
        SELECT cs.segment_name,
               SUM(t.lead_count)::bigint AS total_leads,
               COALESCE(SUM(t.lead_count) FILTER (WHERE t.sync_status = 'synced'), 0)::bigint AS synced_leads,
               COALESCE(SUM(t.lead_count) FILTER (WHERE t.in_twenty), 0)::bigint AS in_twenty,
               ROUND(SUM(t.score_sum) / NULLIF(SUM(t.score_n), 0), 2) AS avg_lead_score,
               ROUND(SUM(t.confidence_sum) / NULLIF(SUM(t.confidence_n), 0), 3) AS avg_confidence
        FROM lead_totals t
        LEFT JOIN customer_segments cs ON t.segment_id = cs.id
        GROUP BY cs.segment_name
        HAVING SUM(t.lead_count) > 0
        ORDER BY total_leads DESC, cs.segment_name NULLS LAST
        """
    )


@rollup_backed
def lead_flow(*, days: int = 7, tz: str | None = None) -> list[Row]:
    """Spec §3 from rollup_leads_created: leads created per display-zone day, source and direction."""
    plan, params = _zone_window(timedelta(days=days), tz, "day")
    return fetch_all(
        f"""
        SELECT (DATE_TRUNC('day', t AT TIME ZONE %(tz)s))::date AS date,
               lead_source,
               sync_direction,
               SUM(lead_count)::bigint AS lead_count,
               ROUND(SUM(score_sum) / NULLIF(SUM(score_n), 0), 2) AS avg_score
        FROM ({pieces_sql(LEADS_CREATED, plan, params)}) AS p
        WHERE t > %(since)s
        GROUP BY 1, lead_source, sync_direction
        HAVING SUM(lead_count) > 0
        ORDER BY 1 DESC, lead_count DESC, lead_source NULLS LAST, sync_direction
        """,
        params,
    )


@rollup_backed
def lead_analytics(*, limit: int = 7) -> list[Row]:
    """The newest `limit` UTC days of the lead_analytics view, from rollup_leads_created."""
    now = database_now()
    first_day = (now.astimezone(dt_timezone.utc) - timedelta(days=limit - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    # UTC days begin on an hour: no edge cuts a bucket, the read is hour rows plus deltas.
    plan = plan_window(now=now, since=first_day - timedelta(microseconds=1), group_edges=[first_day])
    plan.table_ranges = [r for r in plan.table_ranges if r[1] > first_day]
    params: dict[str, Any] = {"first_day": first_day, "limit": limit}
    return fetch_all(
        f"""
        SELECT (t AT TIME ZONE 'UTC')::date AS date,
               SUM(lead_count)::bigint AS total_leads,
               COALESCE(SUM(lead_count) FILTER (WHERE in_twenty), 0)::bigint AS synced_to_twenty,
               COALESCE(SUM(lead_count) FILTER (WHERE sync_status = 'synced'), 0)::bigint AS synced_leads,
               COALESCE(SUM(lead_count) FILTER (WHERE sync_status = 'error'), 0)::bigint AS error_leads,
               COALESCE(SUM(lead_count) FILTER (WHERE sync_status IN ('pending', 'syncing')), 0)::bigint AS pending_leads,
               ROUND(SUM(score_sum) / NULLIF(SUM(score_n), 0), 2) AS avg_score
        FROM ({pieces_sql(LEADS_CREATED, plan, params)}) AS p
        WHERE t >= %(first_day)s
        GROUP BY 1
        HAVING SUM(lead_count) > 0
        ORDER BY 1 DESC
        LIMIT %(limit)s
        """,
        params,
    )


@rollup_backed
def stale_leads() -> Row:
    """check_stale_leads(): pending leads older than an hour (all pending from the rollup minus the
    last hour's, an index range) and the oldest one's created_at (one index descent)."""
    return fetch_one(
        f"""
        WITH {STATUS_TOTALS_CTE}
        SELECT ((SELECT COALESCE(SUM(lead_count), 0) FROM status_totals WHERE sync_status = 'pending')
                - (SELECT COUNT(*) FROM leads WHERE sync_status = 'pending' AND created_at >= NOW() - INTERVAL '1 hour')
               )::integer AS stale_count,
               (SELECT MIN(created_at) FROM leads
                 WHERE sync_status = 'pending' AND created_at < NOW() - INTERVAL '1 hour') AS oldest_pending
        """
    )  # type: ignore[return-value]


@rollup_backed
def health_summary(*, durations: bool = True) -> Row:
    """The lead_sync_health_dashboard row from the rollups, same columns and rules; the median sync
    time comes from the duration histograms (±2 %), with p95 and p99 added.

    durations=False leaves the three sync times None and skips reading the histograms (a fifth of
    the alert check): overall_health and the other columns do not depend on them."""
    now = database_now()
    quantiles = (
        _quantiles(duration_bins(window=timedelta(hours=24), now=now)) if durations
        else DurationQuantiles(count=0, p50=None, p95=None, p99=None)
    )
    since = now - timedelta(hours=24)
    plan = plan_window(now=now, since=since)
    # Every part reads the same instant (%(now)s, the database clock read once), like the view's %(now)s.
    params: dict[str, Any] = {"since": since, "median": quantiles.p50, "now": now}
    row = fetch_one(
        f"""
        WITH {STATUS_TOTALS_CTE},
        s AS (
            SELECT COALESCE(SUM(lead_count), 0) AS total_leads,
                   COALESCE(SUM(lead_count) FILTER (WHERE sync_status = 'synced'), 0) AS synced_leads,
                   COALESCE(SUM(lead_count) FILTER (WHERE sync_status = 'pending'), 0) AS pending_leads,
                   COALESCE(SUM(lead_count) FILTER (WHERE sync_status = 'error'), 0) AS error_leads,
                   COALESCE(SUM(lead_count) FILTER (WHERE sync_status = 'syncing'), 0) AS syncing_leads,
                   COALESCE(SUM(lead_count) FILTER (WHERE sync_status = 'conflict'), 0) AS conflict_leads,
                   COALESCE(SUM(lead_count) FILTER (WHERE never_synced), 0) AS never_synced_leads
            FROM status_totals
        ),
        probes AS (
            -- Bounded by the write rate: leads synced in the last hour (one range per status on
            -- idx_leads_sync_monitoring), pending leads of the last hour, and the leads that went
            -- into syncing in the last 10 minutes (idx_leads_syncing_since); stuck leads are the
            -- rollup's syncing count minus those, as stale pending leads are.
            SELECT (SELECT SUM((SELECT COUNT(*) FROM leads l
                                 WHERE l.sync_status = st AND l.last_synced_at > %(now)s - INTERVAL '1 hour'))
                      FROM unnest(ARRAY['synced', 'pending', 'error', 'syncing', 'conflict']) AS st) AS recently_synced,
                   (SELECT COUNT(*) FROM leads WHERE sync_status = 'pending'
                       AND created_at >= %(now)s - INTERVAL '1 hour') AS young_pending,
                   (SELECT COUNT(*) FROM leads WHERE sync_status = 'syncing'
                       AND COALESCE(sync_started_at, updated_at) >= %(now)s - INTERVAL '10 minutes') AS young_syncing
        ),
        errors_24h AS (
            SELECT COALESCE(SUM(attempts) FILTER (WHERE sync_status = 'error'), 0) AS total_errors
            FROM ({pieces_sql(HISTORY, plan, params)}) AS p
            WHERE t > %(since)s
        ),
        error_leads_24h AS (
            -- Index-only on idx_sync_history_errors (INCLUDE lead_id): a day of failed attempts.
            SELECT COUNT(DISTINCT lead_id) AS leads_with_errors, MAX(synced_at) AS last_error_time
            FROM lead_sync_history WHERE sync_status = 'error' AND synced_at > %(now)s - INTERVAL '24 hours'
        ),
        k AS (
            SELECT s.*, p.recently_synced, s.syncing_leads - p.young_syncing AS stuck_leads,
                   s.pending_leads - p.young_pending AS stale_pending_leads,
                   s.total_leads - p.young_pending AS due_leads
            FROM s, probes p
        ),
        sp AS (
            SELECT ROUND(k.synced_leads * 100.0 / NULLIF(k.due_leads, 0), 2) AS sync_success_rate,
                   ROUND(k.error_leads * 100.0 / NULLIF(k.total_leads, 0), 2) AS error_rate
            FROM k
        )
        SELECT k.total_leads::bigint AS total_leads, k.synced_leads::bigint AS synced_leads,
               k.pending_leads::bigint AS pending_leads, k.error_leads::bigint AS error_leads,
               k.recently_synced::bigint AS recently_synced, sp.sync_success_rate,
               %(median)s::double precision AS median_sync_time_seconds,
               el.leads_with_errors, e.total_errors::bigint AS total_errors, el.last_error_time,
               CASE
                   WHEN k.total_leads = 0 OR sp.sync_success_rate IS NULL THEN 'unknown'
                   WHEN sp.error_rate > 10 OR sp.sync_success_rate < 90 THEN 'critical'
                   WHEN sp.error_rate > 5 OR sp.sync_success_rate < 95
                        OR k.stuck_leads > 0 OR k.conflict_leads > 0 OR k.stale_pending_leads > 0 THEN 'warning'
                   ELSE 'healthy'
               END AS overall_health,
               k.syncing_leads::bigint AS syncing_leads, k.conflict_leads::bigint AS conflict_leads,
               k.stuck_leads::bigint AS stuck_leads, k.stale_pending_leads::bigint AS stale_pending_leads,
               k.never_synced_leads::bigint AS never_synced_leads, sp.error_rate, 1 AS id
        FROM k, sp, errors_24h e, error_leads_24h el
        """,
        params,
    )
    assert row is not None
    row["p95_sync_time_seconds"] = quantiles.p95
    row["p99_sync_time_seconds"] = quantiles.p99
    row["sync_time_relative_accuracy"] = quantiles.relative_accuracy
    return row


@rollup_backed
def daily_summary(*, days: int | None = None) -> list[Row]:
    """The daily summary (UTC days) from lead_sync_daily_rollup: live, exact, newest first."""
    where = "WHERE sync_date >= (NOW() AT TIME ZONE 'UTC')::date - %(days)s" if days else ""
    return fetch_all(
        f"""
        SELECT sync_date, sync_direction, sync_status, sync_count, unique_leads
        FROM lead_sync_daily_rollup {where}
        ORDER BY sync_date DESC, sync_direction, sync_status
        """,
        {"days": days},
    )


# --------------------------------------------------------------------------- all-time totals


# The all-time totals as the compactor will leave them: the folded rows (rollup_attempt_totals) and
# the increments still in the deltas, one or more rows per direction (columns sync_direction,
# attempts, errors, conflicts; sum them per direction). Read by attempt_totals() and by
# verify_rollups()'s check of the totals.
ATTEMPT_TOTALS_PARTS = """
    SELECT sync_direction, attempts, errors, conflicts FROM rollup_attempt_totals
    UNION ALL
    SELECT sync_direction, COUNT(*) FILTER (WHERE new_attempt),
           COUNT(*) FILTER (WHERE status_entered AND sync_status = 'error'),
           COUNT(*) FILTER (WHERE status_entered AND sync_status = 'conflict')
    FROM rollup_history_deltas WHERE sign > 0 GROUP BY 1
"""


def attempt_totals() -> list[Row]:
    """All-time attempts per direction, with the attempts that entered error and conflict: monotonic
    (an archive move or a deleted lead never lowers them), for Prometheus _total counters.

    CONTRACT (TEAM.md): a list of {"direction", "attempts", "errors", "conflicts"}, one per history
    direction, zeros included. Folded totals plus the unfolded new attempts.
    """
    rows = fetch_all(
        f"""
        SELECT sync_direction, SUM(attempts)::bigint AS attempts, SUM(errors)::bigint AS errors,
               SUM(conflicts)::bigint AS conflicts
        FROM ({ATTEMPT_TOTALS_PARTS}) AS parts
        GROUP BY 1
        """
    )
    found = {row["sync_direction"]: row for row in rows}
    return [
        {
            "direction": direction.value,
            "attempts": int(found.get(direction.value, {}).get("attempts") or 0),
            "errors": int(found.get(direction.value, {}).get("errors") or 0),
            "conflicts": int(found.get(direction.value, {}).get("conflicts") or 0),
        }
        for direction in HistoryDirection
    ]


def pending_deltas(*, cap: int = 1_000_000) -> dict[str, int]:
    """How many deltas wait for the compactor, per delta table, counted up to `cap` each (a reader
    of /readyz or /metrics never scans a backlog the compactor has let grow without bound)."""
    row = fetch_one(
        "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM rollup_lead_deltas LIMIT %(cap)s) l) AS leads, "
        "(SELECT COUNT(*) FROM (SELECT 1 FROM rollup_history_deltas LIMIT %(cap)s) h) AS history",
        {"cap": cap},
    )
    return {"leads": int(row["leads"]), "history": int(row["history"])}  # type: ignore[index]


__all__ = [
    "DurationQuantiles",
    "attempt_totals",
    "attempts_by_direction",
    "daily_summary",
    "error_groups",
    "failure_rate",
    "health_summary",
    "hourly_performance",
    "lead_analytics",
    "lead_flow",
    "pending_deltas",
    "quantile_from_bins",
    "segment_distribution",
    "stale_leads",
    "sync_monitoring",
    "sync_status_overview",
    "sync_time_quantiles",
    "webhook_updates_per_minute",
]

_ = (Decimal, LeadSyncStatus)  # re-exported types used in annotations by callers
