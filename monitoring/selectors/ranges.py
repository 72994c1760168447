"""Range-aware reads for the pages with a time-range picker (Performance, Lead flow, Error groups, Activity).

A `TimeRange` is what the URL asked for (`?range=24h`, or `?range=custom&from=...&to=...`),
resolved against one clock reading: a start, an end and a bucket size that follows the span
(minutes for an hour or six, hours for a day, 6-hour blocks for a week, days for a month).
Every reader here returns EVERY bucket of the range, empty ones as zeros, oldest first, each
marked `partial` when the range cuts it (the first and, for a range ending now, the last); the
page's chart and its table are both drawn from that one list, so they always agree.

Attempts, errors and average attempt time, leads created and error-group counts come from the
rollups (monitoring/selectors/rollups.py): a range (start, end] is one more window for
`plan_window()`, its two ends open edges and its bucket starts group edges. Every hour no edge
cuts comes from its hour row, an hour an edge cuts from its minute rows (kept 8 days), the one
minute an edge cuts from the table (an index range of a minute of writes), plus the deltas the
compactor has not folded yet; an hour cut more than 7 days ago is read from the table whole. So
the answer is exactly the one the rows give (tests/test_ranges_rollups.py compares them) and a
30-day range reads about 720 hour rows per key, not a month of history. Sub-hour buckets (the
1 h and 6 h presets) cut every hour of their span: they read minute rows, or, older than 7 days,
the table rows of that short span.

What the rollups cannot hold stays a bounded read of the table: an error group's first and last
attempt and newest message are one descent of the fingerprint index each, and its affected leads
(a distinct count, which no sum of buckets gives exactly) are read index-only from the group's
failed attempts of the range. Activity walks `synced_at` backwards and stops at 100 rows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from monitoring.choices import HistoryStatus

from ._sql import fetch_all
from .errors import FINGERPRINT_OF_ERROR_MESSAGE, LONG_MESSAGE_SQL, SHORT_MESSAGE_SQL
from .rollups import ERROR_GROUPS, HISTORY, LEADS_CREATED, _Kind, pieces_sql, plan_window

Row = dict[str, Any]

# key -> (span, bucket); the picker shows them in this order.
PRESETS: dict[str, tuple[timedelta, timedelta]] = {
    "1h": (timedelta(hours=1), timedelta(minutes=1)),
    "6h": (timedelta(hours=6), timedelta(minutes=5)),
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=6)),
    "30d": (timedelta(days=30), timedelta(days=1)),
}
PRESET_LABELS = {"1h": "1 h", "6h": "6 h", "24h": "24 h", "7d": "7 d", "30d": "30 d"}
CUSTOM = "custom"
MAX_SPAN = timedelta(days=400)  # a custom range longer than this is refused (400), not scanned
MIN_SPAN = timedelta(minutes=1)
# Custom ranges pick the first bucket whose count stays at or below this.
MAX_BUCKETS = 100
BUCKET_STEPS = (
    timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
    timedelta(hours=6), timedelta(days=1), timedelta(days=7),
)
ONE_DAY = timedelta(days=1)
# Query-string names; the nav links and the picker carry exactly these.
RANGE_PARAMS = ("range", "from", "to")
INPUT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")


class RangeError(ValueError):
    """The URL's range is not one we can show; the message says why (the page answers 400)."""


@dataclass(frozen=True)
class TimeRange:
    key: str  # a PRESETS key or "custom"
    start: datetime  # exclusive: rows with ts > start
    end: datetime  # inclusive: rows with ts <= end
    bucket: timedelta
    ends_now: bool  # a preset: the last bucket is still filling

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    @property
    def unit(self) -> str:
        """What a bucket is called: minutes, hours or days."""
        if self.bucket >= ONE_DAY:
            return "day" if self.bucket == ONE_DAY else "week"
        if self.bucket >= timedelta(hours=1):
            return "hour" if self.bucket == timedelta(hours=1) else f"{int(self.bucket.total_seconds() // 3600)} hours"
        return "minute" if self.bucket == timedelta(minutes=1) else f"{int(self.bucket.total_seconds() // 60)} minutes"

    @property
    def label(self) -> str:
        if self.key in PRESETS:
            return f"last {PRESET_LABELS[self.key]}"
        fmt = "%Y-%m-%d %H:%M"
        return f"{timezone.localtime(self.start):{fmt}} to {timezone.localtime(self.end):{fmt}}"

    @property
    def query(self) -> dict[str, str]:
        """The query-string parameters that reproduce this range (links keep the same view)."""
        if self.key in PRESETS:
            return {"range": self.key}
        fmt = "%Y-%m-%dT%H:%M"
        return {"range": CUSTOM, "from": f"{timezone.localtime(self.start):{fmt}}",
                "to": f"{timezone.localtime(self.end):{fmt}}"}


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _parse_local(raw: str, name: str) -> datetime:
    raw = raw.strip()
    for fmt in INPUT_FORMATS:
        try:
            naive = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        return timezone.make_aware(naive, _tz())
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise RangeError(
            f"“{name}” must be a date and time like 2026-11-30T14:00 ({settings.TIME_ZONE}), not “{raw[:40]}”."
        ) from None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, _tz())


def _custom_bucket(span: timedelta) -> timedelta:
    for step in BUCKET_STEPS:
        if span / step <= MAX_BUCKETS:
            return step
    return BUCKET_STEPS[-1]


def parse_range(params: Any, *, default: str, now: datetime | None = None) -> TimeRange:
    """The TimeRange a query string asks for (`default` when it names none); RangeError says what is wrong."""
    now = now or timezone.now()
    key = (params.get("range") or "").strip() or (CUSTOM if params.get("from") or params.get("to") else default)
    if key in PRESETS:
        span, bucket = PRESETS[key]
        return TimeRange(key, now - span, now, bucket, ends_now=True)
    if key != CUSTOM:
        choices = ", ".join([*PRESETS, CUSTOM])
        raise RangeError(f"Unknown time range “{key[:40]}”; use one of {choices}.")
    raw_from, raw_to = (params.get("from") or "").strip(), (params.get("to") or "").strip()
    if not raw_from or not raw_to:
        raise RangeError("A custom range needs both “from” and “to”.")
    start, end = _parse_local(raw_from, "from"), _parse_local(raw_to, "to")
    if end <= start:
        raise RangeError("“to” must be later than “from”.")
    if end - start < MIN_SPAN:
        raise RangeError("A custom range must be at least one minute long.")
    if end - start > MAX_SPAN:
        raise RangeError(f"A custom range may span at most {MAX_SPAN.days} days.")
    if start > now:
        raise RangeError("“from” is in the future: there is nothing to show yet.")
    return TimeRange(CUSTOM, start, end, _custom_bucket(end - start), ends_now=False)


# --- buckets ---------------------------------------------------------------------------------------


def _origin() -> datetime:
    """Where sub-day buckets are counted from: a local midnight, so hours and 6-hour blocks line up
    with the display zone's clock (SQL date_bin and bucket_starts() use the same origin)."""
    return datetime.combine(datetime(2000, 1, 3).date(), time(0), tzinfo=_tz())  # a Monday: weeks start Mondays


def _floor(moment: datetime, bucket: timedelta) -> datetime:
    if bucket >= ONE_DAY:
        local = timezone.localtime(moment, _tz())
        day = datetime.combine(local.date(), time(0), tzinfo=_tz())
        if bucket > ONE_DAY:  # weeks: back to Monday
            day = datetime.combine(local.date() - timedelta(days=local.weekday()), time(0), tzinfo=_tz())
        return day
    origin = _origin()
    steps = (moment - origin) // bucket
    return (origin + steps * bucket).astimezone(_tz())


def _next(start: datetime, bucket: timedelta) -> datetime:
    if bucket >= ONE_DAY:
        # Wall-clock days (23 or 25 hours across a DST change), as date_trunc('day') in SQL.
        local = timezone.localtime(start, _tz())
        return datetime.combine(local.date() + timedelta(days=bucket.days), time(0), tzinfo=_tz())
    return start + bucket


def bucket_starts(r: TimeRange) -> list[datetime]:
    """Every bucket that holds part of (start, end], oldest first."""
    first = _floor(r.start, r.bucket)
    if _next(first, r.bucket) <= r.start:  # start sits exactly on a boundary: that bucket holds nothing
        first = _next(first, r.bucket)
    starts = []
    current = first
    while current <= r.end and len(starts) < 2000:
        starts.append(current)
        current = _next(current, r.bucket)
    # A bucket starting exactly at `end` holds only the instant `end`; keep it only if nothing else.
    if len(starts) > 1 and starts[-1] == r.end:
        starts.pop()
    return starts


def _bucket_sql(column: str, r: TimeRange) -> str:
    """SQL for the bucket start of `column` (timestamptz), the same buckets as bucket_starts()."""
    if r.bucket >= ONE_DAY:
        unit = "week" if r.bucket > ONE_DAY else "day"
        return f"(DATE_TRUNC('{unit}', {column} AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s)"
    return f"date_bin(%(bucket)s, {column}, %(origin)s)"


def _params(r: TimeRange, **extra: Any) -> dict[str, Any]:
    return {"tz": settings.TIME_ZONE, "bucket": r.bucket, "origin": _origin(), "start": r.start, "end": r.end, **extra}


def is_partial(r: TimeRange, start: datetime) -> bool:
    return start < r.start or _next(start, r.bucket) > r.end


def _fill(r: TimeRange, rows: list[Row], empty: Row) -> list[Row]:
    """One row per bucket of the range, oldest first: `rows` (keyed by "bucket") or `empty`."""
    by_bucket = {row["bucket"]: row for row in rows}
    filled = []
    for start in bucket_starts(r):
        row = {**empty, **by_bucket.get(start, {})}
        row.update(bucket=start, bucket_end=_next(start, r.bucket), partial=is_partial(r, start))
        filled.append(row)
    return filled


# --- readers ---------------------------------------------------------------------------------------


def _range_pieces(kind: _Kind, r: TimeRange, params: dict[str, Any], *, now: datetime | None = None) -> str:
    """SELECT t, <kind.columns> holding every row of `kind` with start < t <= end exactly once, cut
    so that no piece straddles a bucket edge (the caller still filters t to the range)."""
    edges = [start for start in bucket_starts(r) if r.start < start <= r.end]
    # `now` only decides which hours still have minute rows (kept 8 days, used for 7): the app's
    # clock is close enough, and saves a query.
    plan = plan_window(
        now=now or timezone.now(), since=r.start, open_edges=[r.end], group_edges=edges,
        day_rows=kind.day_rollup is not None,
    )
    # Nor after `end`: an hour cut by the end is read from the table up to the end only.
    after_end = r.end + timedelta(microseconds=1)
    plan.table_ranges = _merged([(lo, min(hi, after_end)) for lo, hi in plan.table_ranges if lo < after_end])
    # Hour rows after the range hold only rows after `end`: leave them out of the read.
    return pieces_sql(kind, plan, params, extra_filter="bucket <= %(end)s")


def _merged(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Adjacent or overlapping [lo, hi) ranges as one (one index range instead of many)."""
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def attempts_per_bucket(r: TimeRange) -> list[Row]:
    """Sync attempts per bucket: attempts, errors, average attempt time (s); every bucket, oldest first.
    From rollup_history (attempts, duration sum and count per hour/minute, direction, type, status)."""
    params = _params(r, error=HistoryStatus.ERROR)
    rows = fetch_all(
        f"""
        SELECT {_bucket_sql("t", r)} AS bucket,
               SUM(attempts)::bigint AS attempts,
               COALESCE(SUM(attempts) FILTER (WHERE sync_status = %(error)s), 0)::bigint AS errors,
               ROUND(SUM(duration_sum) / NULLIF(SUM(duration_n), 0), 2) AS avg_seconds
        FROM ({_range_pieces(HISTORY, r, params)}) AS p
        WHERE t > %(start)s AND t <= %(end)s
        GROUP BY 1
        HAVING SUM(attempts) > 0
        """,
        params,
    )
    return _fill(r, rows, {"attempts": 0, "errors": 0, "avg_seconds": None})


def leads_created_per_bucket(r: TimeRange) -> list[Row]:
    """Leads created per bucket, source and direction, with average score: the buckets with leads,
    oldest first, each (bucket, lead_source, sync_direction) once; `bucket_starts(r)` lists them all.
    From rollup_leads_created (leads and score sum per created hour/minute, source, direction)."""
    params = _params(r)
    rows = fetch_all(
        f"""
        SELECT {_bucket_sql("t", r)} AS bucket,
               lead_source,
               sync_direction,
               SUM(lead_count)::bigint AS lead_count,
               ROUND(SUM(score_sum) / NULLIF(SUM(score_n), 0), 2) AS avg_score
        FROM ({_range_pieces(LEADS_CREATED, r, params)}) AS p
        WHERE t > %(start)s AND t <= %(end)s
        GROUP BY 1, 2, 3
        HAVING SUM(lead_count) > 0
        ORDER BY 1, lead_count DESC, lead_source NULLS LAST, sync_direction
        """,
        params,
    )
    zone = _tz()
    buckets: dict[datetime, tuple[datetime, bool]] = {}  # a bucket per source and direction: once each
    for row in rows:
        local = buckets.get(row["bucket"])
        if local is None:
            start = timezone.localtime(row["bucket"], zone)
            local = buckets[row["bucket"]] = (start, is_partial(r, start))
        row["bucket"], row["partial"] = local
    return rows


def error_groups_in_range(r: TimeRange, *, limit: int = 100) -> list[Row]:
    """Failed attempts of the range per error-group fingerprint: attempts, leads, first and last
    seen, newest message and a per-bucket trend (every bucket, oldest first); busiest first.

    Attempts and trend from rollup_error_groups; per group, first and last seen and the newest
    message are one descent each of the fingerprint index (idx_sync_history_error_group_leads /
    _long), and the affected leads an index-only count of the group's failed attempts in the range.
    """
    starts = bucket_starts(r)
    index = {start: i for i, start in enumerate(starts)}
    params = _params(r, limit=limit)
    # One arm per partial fingerprint index (messages up to 1000 bytes, and longer ones): each arm is
    # an ordered index range of the group's failed attempts in the range.
    arms = [
        f"sync_status = 'error' AND {size} AND {FINGERPRINT_OF_ERROR_MESSAGE} = g.fingerprint "
        "AND synced_at > %(start)s AND synced_at <= %(end)s"
        for size in (SHORT_MESSAGE_SQL, LONG_MESSAGE_SQL)
    ]

    def newest(columns: str, order: str) -> str:
        return " UNION ALL ".join(
            f"(SELECT {columns} FROM lead_sync_history WHERE {arm} ORDER BY synced_at {order} LIMIT 1)" for arm in arms
        ) + f" ORDER BY synced_at {order} LIMIT 1"

    rows = fetch_all(
        f"""
        WITH per_bucket AS (
            SELECT fingerprint, {_bucket_sql("t", r)} AS bucket, SUM(n) AS n
            FROM ({_range_pieces(ERROR_GROUPS, r, params)}) AS p
            WHERE t > %(start)s AND t <= %(end)s
            GROUP BY 1, 2
            HAVING SUM(n) > 0
        ),
        groups AS (
            SELECT fingerprint, SUM(n)::bigint AS attempts,
                   json_agg(json_build_array(extract(epoch FROM bucket), n)) AS buckets
            FROM per_bucket GROUP BY 1
        )
        SELECT g.fingerprint,
               g.attempts,
               affected.n AS affected_leads,
               first.synced_at AS first_seen,
               last.synced_at AS last_seen,
               COALESCE(last.error_message, '(no message)') AS sample_message,
               g.buckets
        FROM groups g
        CROSS JOIN LATERAL ({newest("synced_at, error_message", "DESC")}) AS last
        CROSS JOIN LATERAL ({newest("synced_at", "ASC")}) AS first
        CROSS JOIN LATERAL (
            SELECT COUNT(DISTINCT lead_id) AS n
            FROM (SELECT lead_id FROM lead_sync_history WHERE {arms[0]}
                  UNION ALL SELECT lead_id FROM lead_sync_history WHERE {arms[1]}) AS group_attempts
        ) AS affected
        ORDER BY g.attempts DESC, last.synced_at DESC, g.fingerprint
        LIMIT %(limit)s
        """,
        params,
    )
    for row in rows:
        trend = [0] * len(starts)
        buckets = row.pop("buckets")
        for epoch, count in json.loads(buckets) if isinstance(buckets, str) else (buckets or []):
            start = datetime.fromtimestamp(float(epoch), tz=_tz())
            if start in index:
                trend[index[start]] = int(count)
        row["trend"] = trend
    return rows


def activity_in_range(r: TimeRange, *, limit: int = 100) -> list[Row]:
    """The newest `limit` attempts of the range, with lead, segment and error message (the
    real_time_sync_activity view's columns for any window): a backwards walk of synced_at."""
    return fetch_all(
        """
        SELECT h.id, h.synced_at, h.sync_type, h.sync_direction, h.sync_status, h.fields_changed,
               NULLIF(concat_ws(' ', l.first_name, l.last_name), '') AS lead_name,
               l.email, l.company_name, cs.segment_name, h.lead_id, h.error_message
        FROM lead_sync_history h
        JOIN leads l ON l.id = h.lead_id
        LEFT JOIN customer_segments cs ON cs.id = l.segment_id
        WHERE h.synced_at > %(start)s AND h.synced_at <= %(end)s
        ORDER BY h.synced_at DESC, h.id DESC
        LIMIT %(limit)s
        """,
        _params(r, limit=limit),
    )
