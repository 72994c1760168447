"""The range pages' selectors from the rollups (issue 12): the same answers as the rows give, exactly.

Every reader of monitoring/selectors/ranges.py is compared with the query it replaced (copied
below on purpose: it is what the numbers must keep meaning) on hand-built rows placed on and
around every edge a range cuts (its start and end, bucket starts, the 7-day minute-row horizon),
for every preset, custom ranges on and off the hour, older than 7 days, in days and in weeks, and
in a zone whose hours start at :30 UTC. The comparison runs with the deltas unfolded, after a
compaction, with both mixed, after an archive move and after attempts changed status.
"""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from monitoring.selectors import ranges
from monitoring.selectors._sql import fetch_all, fetch_one
from monitoring.services import maintenance
from monitoring.services import rollups as rollup_services
from tests.maintenance_helpers import second_connection

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

DIRECTIONS = ["twenty_to_supabase", "supabase_to_twenty"]
LEAD_DIRECTIONS = ["twenty_to_supabase", "supabase_to_twenty", "bidirectional"]
TYPES = ["scheduled", "webhook_update", "retry"]
STATUSES = ["synced", "synced", "error", "conflict"]
SOURCES = [None, "website", "referral"]
MESSAGES = [
    None,
    "Twenty API 429: rate limit exceeded for lead 123",
    "Twenty API 429: rate limit exceeded for lead 456",
    "Twenty API 500: internal error",
    "x" * 1200,  # over 1000 bytes: the other fingerprint index
]

# --------------------------------------------------------------------------- the replaced queries


def _raw_bucket(column: str, r: ranges.TimeRange) -> str:
    return ranges._bucket_sql(column, r)


def raw_attempts_per_bucket(r: ranges.TimeRange) -> list[dict[str, Any]]:
    rows = fetch_all(
        f"""
        SELECT {_raw_bucket("synced_at", r)} AS bucket,
               COUNT(*) AS attempts,
               COUNT(*) FILTER (WHERE sync_status = 'error') AS errors,
               ROUND(AVG(EXTRACT(EPOCH FROM (synced_at - created_at))), 2) AS avg_seconds
        FROM lead_sync_history
        WHERE synced_at > %(start)s AND synced_at <= %(end)s
        GROUP BY 1
        """,
        ranges._params(r),
    )
    return ranges._fill(r, rows, {"attempts": 0, "errors": 0, "avg_seconds": None})


def raw_leads_created_per_bucket(r: ranges.TimeRange) -> list[dict[str, Any]]:
    rows = fetch_all(
        f"""
        SELECT {_raw_bucket("created_at", r)} AS bucket, lead_source, sync_direction,
               COUNT(*) AS lead_count, ROUND(AVG(lead_score), 2) AS avg_score
        FROM leads
        WHERE created_at > %(start)s AND created_at <= %(end)s
        GROUP BY 1, 2, 3
        ORDER BY 1, lead_count DESC, lead_source NULLS LAST, sync_direction
        """,
        ranges._params(r),
    )
    for row in rows:
        row["bucket"] = ranges.timezone.localtime(row["bucket"], ranges._tz())
        row["partial"] = ranges.is_partial(r, row["bucket"])
    return rows


def raw_error_groups_in_range(r: ranges.TimeRange) -> list[dict[str, Any]]:
    starts = ranges.bucket_starts(r)
    rows = fetch_all(
        f"""
        WITH errs AS (
            SELECT lead_id, synced_at, {_raw_bucket("synced_at", r)} AS bucket,
                   COALESCE(error_message, '(no message)') AS error_message,
                   lead_sync_error_fingerprint(error_message) AS fingerprint
            FROM lead_sync_history
            WHERE sync_status = 'error' AND synced_at > %(start)s AND synced_at <= %(end)s
        )
        SELECT fingerprint, COUNT(*) AS attempts, COUNT(DISTINCT lead_id) AS affected_leads,
               MIN(synced_at) AS first_seen, MAX(synced_at) AS last_seen,
               (ARRAY_AGG(error_message ORDER BY synced_at DESC))[1] AS sample_message,
               (SELECT json_agg(json_build_array(extract(epoch FROM b.bucket), b.n))
                  FROM (SELECT bucket, COUNT(*) AS n FROM errs e2 WHERE e2.fingerprint = errs.fingerprint
                        GROUP BY 1) b) AS buckets
        FROM errs
        GROUP BY fingerprint
        ORDER BY attempts DESC, last_seen DESC, fingerprint
        """,
        ranges._params(r),
    )
    index = {start: i for i, start in enumerate(starts)}
    for row in rows:
        trend = [0] * len(starts)
        for epoch, count in row.pop("buckets") or []:
            start = datetime.fromtimestamp(float(epoch), tz=ranges._tz())
            if start in index:  # not the bucket that starts at `end` (bucket_starts() leaves it out)
                trend[index[start]] = int(count)
        row["trend"] = trend
    return rows


# --------------------------------------------------------------------------- hand-built rows


def database_now() -> datetime:
    return fetch_one("SELECT now() AS now")["now"]  # type: ignore[index]


def ranges_to_check(now: datetime) -> list[ranges.TimeRange]:
    """Every preset, plus custom ranges: on the hour, cut mid-minute 10 days back (older than the
    minute rows: whole hours from the table), 98 days in days, 300 days in weeks."""
    out = [ranges.parse_range({"range": key}, default="24h", now=now) for key in ranges.PRESETS]
    hour = now.replace(minute=0, second=0, microsecond=0)
    fmt = "%Y-%m-%dT%H:%M:%S"

    def custom(start: datetime, end: datetime) -> ranges.TimeRange:
        local = ranges.timezone.localtime
        return ranges.parse_range({"range": "custom", "from": f"{local(start):{fmt}}", "to": f"{local(end):{fmt}}"},
                                  default="24h", now=now)

    out.append(custom(hour - timedelta(hours=29), hour + timedelta(hours=1)))
    ten_days = now - timedelta(days=10, minutes=17, seconds=13)
    out.append(custom(ten_days, ten_days + timedelta(hours=3, minutes=2, seconds=7)))  # 5-minute buckets
    out.append(custom(now - timedelta(days=98, hours=5), now - timedelta(hours=2, seconds=31)))  # days
    out.append(custom(now - timedelta(days=300), now))  # weeks
    return out


def edge_times(now: datetime, checked: list[ranges.TimeRange], rnd: random.Random) -> list[datetime]:
    """Instants on and around every range's start and end and some of its bucket starts, the
    7-day horizon, the future, and a spread over 40 days: each once."""
    edges: set[datetime] = set()
    for r in checked:
        starts = ranges.bucket_starts(r)
        for edge in [r.start, r.end, *starts[1:3], starts[len(starts) // 2], starts[-1]]:
            edges.update({edge, edge - timedelta(seconds=1), edge + timedelta(microseconds=1)})
    edges.update({now - timedelta(days=7, seconds=s) for s in (-30, 0, 30)})
    edges.update({now + timedelta(minutes=m) for m in (1, 30)})  # the future: outside every range ending now
    edges.update(now - timedelta(seconds=rnd.uniform(0, 40 * 86400)) for _ in range(150))
    return sorted(edges)


def insert_rows(db: Any, times: list[datetime], rnd: random.Random) -> None:
    """A lead created at each instant, and an attempt finished at each instant (on a random lead)."""
    lead_ids = []
    for moment in times:
        lead_id = uuid.UUID(int=rnd.getrandbits(128))
        lead_ids.append(lead_id)
        db.execute(
            "INSERT INTO leads (id, first_name, lead_source, lead_score, sync_status, sync_direction, created_at) "
            "VALUES (%s, 'x', %s, %s, 'pending', %s, %s)",
            (lead_id, rnd.choice(SOURCES), None if rnd.random() < 0.2 else rnd.randint(0, 100),
             rnd.choice(LEAD_DIRECTIONS), moment),
        )
    for moment in times:
        status = rnd.choice(STATUSES)
        db.execute(
            "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, error_message, "
            "created_at, synced_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (rnd.choice(lead_ids[:40]), rnd.choice(TYPES), rnd.choice(DIRECTIONS), status,
             rnd.choice(MESSAGES) if status == "error" else None,
             moment - timedelta(seconds=rnd.choice([0, 0.4, 3, 120.25])), moment),
        )


def assert_ranges_match_rows(checked: list[ranges.TimeRange]) -> None:
    for r in checked:
        assert ranges.attempts_per_bucket(r) == raw_attempts_per_bucket(r), r
        assert ranges.leads_created_per_bucket(r) == raw_leads_created_per_bucket(r), r
        assert ranges.error_groups_in_range(r) == raw_error_groups_in_range(r), r


@pytest.fixture
def fresh_tables():
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE lead_sync_history_archive, lead_sync_history, leads RESTART IDENTITY CASCADE")
    # The rollups and their deltas have no Django model, so the flush after an earlier
    # transactional test leaves them: rebuilt here from the (now empty) tables.
    rollup_services.rebuild_rollups()
    yield


# --------------------------------------------------------------------------- tests


# UTC (whole days from day rows), a half-hour zone, and two DST zones: their changes of 25 Oct and
# 1 Nov lie within the 40 days the checked ranges reach back from early December.
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "Europe/Berlin", "America/New_York"])
def test_range_readers_equal_the_raw_queries_through_compaction_archive_and_updates(fresh_tables, settings, zone):
    settings.TIME_ZONE = zone
    rnd = random.Random(12)
    now = database_now()
    checked = ranges_to_check(now)
    times = edge_times(now, checked, rnd)
    with second_connection() as db:
        insert_rows(db, times[::2], rnd)
    # Nothing folded yet: the answers come from the deltas (and the table at the edges).
    assert fetch_one("SELECT COUNT(*) AS n FROM rollup_history_deltas")["n"] > 0
    assert_ranges_match_rows(checked)
    rollup_services.compact_rollups()
    assert fetch_one("SELECT COUNT(*) AS n FROM rollup_history_deltas")["n"] == 0
    assert_ranges_match_rows(checked)

    # Folded rows and new, unfolded ones together; then attempts change status and message.
    with second_connection() as db:
        insert_rows(db, times[1::2], rnd)
        db.execute("UPDATE lead_sync_history SET sync_status = 'error', error_message = 'Twenty API 500: internal error' "
                   "WHERE id % 7 = 0")
        db.execute("UPDATE lead_sync_history SET sync_status = 'synced', error_message = NULL WHERE id % 11 = 0")
    assert_ranges_match_rows(checked)
    rollup_services.compact_rollups()
    assert_ranges_match_rows(checked)

    # An archive move deletes old attempts: the ranges count the hot table, as the raw query does.
    thirty = checked[4]
    before = sum(row["attempts"] for row in ranges.attempts_per_bucket(thirty))
    moved = maintenance.archive_history(retention_days=9, vacuum=False).moved
    assert moved > 0
    assert sum(row["attempts"] for row in ranges.attempts_per_bucket(thirty)) < before
    assert_ranges_match_rows(checked)
    rollup_services.compact_rollups()
    assert_ranges_match_rows(checked)


def test_every_edge_sort_of_bucket_is_covered(fresh_tables):
    """The checked ranges do cut buckets (partial first and last), use sub-hour, hour, 6-hour, day
    and week buckets, and reach past the minute rows' 7 days: the comparison above means something."""
    now = database_now()
    checked = ranges_to_check(now)
    assert {r.bucket for r in checked} == {timedelta(minutes=1), timedelta(minutes=5), timedelta(hours=1),
                                          timedelta(hours=6), timedelta(days=1), timedelta(days=7)}
    assert any(ranges.is_partial(r, ranges.bucket_starts(r)[0]) for r in checked)
    assert any(not ranges.is_partial(r, s) for r in checked for s in ranges.bucket_starts(r))
    assert any(r.start < now - timedelta(days=8) and r.bucket < timedelta(hours=1) for r in checked)


def _rows_read(table: str) -> int:
    """Rows this transaction has read from `table` and its indexes so far."""
    row = fetch_one(
        """
        SELECT (SELECT COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0)
                  FROM pg_stat_xact_user_tables WHERE relname = %(t)s)
             + (SELECT COALESCE(SUM(pg_stat_get_xact_tuples_returned(indexrelid)), 0)
                  FROM pg_index WHERE indrelid = %(t)s::regclass) AS n
        """,
        {"t": table},
    )
    return int(row["n"])  # type: ignore[index]


def test_a_30_day_range_reads_rollups_not_the_month_of_rows(fresh_tables):
    """Attempts and lead flow over 30 days read no row of the range's whole hours, nor an hour row
    of its whole days: with 300 attempts and leads inside the range and none near its edges, the
    executor takes no row from the tables (the replaced queries read all 300 of each).

    The planner may take a few: with statistics on a table, a constant in the first or last bin
    of a column's histogram makes it fetch the column's real minimum or maximum from an index
    (PostgreSQL's get_actual_variable_range). That is why this test once saw 4 rows of each table
    after the whole suite (an earlier test had left statistics behind) and none alone. So the
    test analyzes the tables itself, the same whatever ran before, and subtracts what planning
    the same statements reads (EXPLAIN without ANALYZE plans and does not execute)."""
    now = database_now()
    rnd = random.Random(3)
    middle = [now - timedelta(days=15, hours=h, minutes=rnd.randint(0, 59)) for h in range(300)]
    with second_connection() as db:
        insert_rows(db, middle, rnd)
    rollup_services.compact_rollups()
    r = ranges.parse_range({"range": "30d"}, default="24h", now=now)
    with connection.cursor() as cursor:
        # Dead rows of earlier tests still have index entries, which an index scan returns (and
        # pg_stat counts) until a vacuum removes them: up to 51 of the rollups' after test_rollups.
        cursor.execute("VACUUM lead_sync_history, leads, rollup_leads_created, rollup_history")
    tables = ("lead_sync_history", "leads", "rollup_leads_created", "rollup_history")
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Rolled back at the end of this block (set_rollback below), statistics and all.
            cursor.execute("ANALYZE lead_sync_history, leads")
            # At scale the planner reads the edges by index; on 300 rows it would scan the table.
            cursor.execute("SET LOCAL enable_seqscan = off")
        before = {table: _rows_read(table) for table in tables}
        with CaptureQueriesContext(connection) as queries:
            rows = ranges.attempts_per_bucket(r)
            flow = ranges.leads_created_per_bucket(r)
        read = {table: _rows_read(table) - n for table, n in before.items()}
        before = {table: _rows_read(table) for table in tables}
        with connection.cursor() as cursor:
            for query in queries.captured_queries:
                cursor.execute("EXPLAIN " + query["sql"])
        planned = {table: _rows_read(table) - n for table, n in before.items()}
        # This block is the outermost transaction (the module's tests are transactional): roll it
        # back, so the statistics of the ANALYZE above do not outlive the test.
        transaction.set_rollback(True)
    assert sum(row["attempts"] for row in rows) == 300
    assert sum(row["lead_count"] for row in flow) == 300
    executed = {table: read[table] - planned[table] for table in tables}
    # The planner's probes are a row or two per bounded column, never the month.
    assert all(0 <= planned[table] <= 4 for table in tables), planned
    # And the executor reads no row of the sync tables, and no hour row: the whole days come from
    # day rows (migrations 0301 and 0302), so of the month's 300 hour rows of each rollup only
    # those of the two days its ends cut are read, and none lie there. (Reading the hour rows
    # through the month read all of them.)
    assert executed == {table: 0 for table in tables}, (read, planned)