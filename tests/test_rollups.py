"""Rollups (issue 12): exact against the spec's own queries, live, and safe under concurrency.

The property test runs random mixes of inserts, updates, deletes, archive moves, operator repairs,
compactions and late / out-of-order commits on two real connections; after each step every
rollup-backed number must equal the spec's query on the same data, in the same transaction
(same NOW()). The reference queries are the spec's views and the selectors' pre-rollup SQL,
copied here on purpose: they are what the numbers must keep meaning.
"""
from __future__ import annotations

import math
import random
import time
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from monitoring.models import JobOutcome, JobRun, Lead
from monitoring.selectors import rollups
from monitoring.selectors._sql import fetch_all, fetch_one
from monitoring.services import leads as lead_services
from monitoring.services import maintenance
from monitoring.services import rollups as rollup_services
from monitoring.tasks import rollups as rollup_tasks
from tests.maintenance_helpers import second_connection

# serialized_rollback: the flush after each test would drop the rows migrations made (beat schedules,
# alert rules, role groups) for the tests that run after these; like the other transactional tests.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

STATUSES = ["pending", "syncing", "synced", "error", "conflict"]
H_STATUSES = ["synced", "error", "conflict"]
DIRECTIONS = ["twenty_to_supabase", "supabase_to_twenty", "bidirectional"]
H_DIRECTIONS = ["twenty_to_supabase", "supabase_to_twenty"]
TYPES = ["scheduled", "webhook_update", "manual", "retry", "initial_import"]
SOURCES = [None, "web", "referral"]
MESSAGES = [
    None,
    "Twenty API 429: rate limit exceeded for lead 123",
    "Twenty API 429: rate limit exceeded for lead 456",
    "Twenty API 500: internal error",
    "timeout after 30 s talking to a1b2c3d4e5",
]
# Seconds before now, chosen to sit on and around every edge a reader cuts at: the 1 h / 24 h /
# 7 d windows, the current hour and minute, the 8-day minute-row horizon, and the future.
OFFSETS = [
    -30, 0, 1, 59, 61, 599, 3599, 3600, 3601, 7200, 86399, 86400, 86401, 90000,
    6 * 86400 + 1, 7 * 86400 - 1, 7 * 86400, 7 * 86400 + 30, 8 * 86400 + 120, 12 * 86400,
]

# --------------------------------------------------------------------------- the spec's queries

SPEC_STATUS_OVERVIEW = """
    SELECT sync_status, COUNT(*) AS lead_count,
           ROUND(COUNT(*) * 100.0 / SUM(COUNT(*)) OVER (), 2) AS percentage,
           MAX(last_synced_at) AS last_sync_time, ROUND(AVG(sync_error_count), 2) AS avg_errors
    FROM leads GROUP BY sync_status ORDER BY lead_count DESC, sync_status
"""
SPEC_HOURLY = """
    SELECT DATE_TRUNC('hour', synced_at AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s AS sync_hour,
           COUNT(*) AS syncs_completed, COUNT(*) FILTER (WHERE sync_status = 'error') AS sync_errors,
           ROUND(AVG(EXTRACT(EPOCH FROM (synced_at - created_at))), 2) AS avg_sync_time_seconds
    FROM lead_sync_history WHERE synced_at > NOW() - make_interval(hours => 24)
    GROUP BY 1 ORDER BY 1 DESC
"""
SPEC_LEAD_FLOW = """
    SELECT (DATE_TRUNC('day', created_at AT TIME ZONE %(tz)s))::date AS date, lead_source, sync_direction,
           COUNT(*) AS lead_count, ROUND(AVG(lead_score), 2) AS avg_score
    FROM leads WHERE created_at > NOW() - make_interval(days => 7)
    GROUP BY 1, lead_source, sync_direction
    ORDER BY 1 DESC, lead_count DESC, lead_source NULLS LAST, sync_direction
"""
SPEC_SEGMENTS = """
    SELECT cs.segment_name, COUNT(l.id) AS total_leads,
           COUNT(*) FILTER (WHERE l.sync_status = 'synced') AS synced_leads,
           COUNT(*) FILTER (WHERE l.twenty_id IS NOT NULL) AS in_twenty,
           ROUND(AVG(l.lead_score), 2) AS avg_lead_score, ROUND(AVG(l.segment_confidence), 3) AS avg_confidence
    FROM leads l LEFT JOIN customer_segments cs ON l.segment_id = cs.id
    GROUP BY cs.segment_name ORDER BY total_leads DESC, cs.segment_name NULLS LAST
"""
SPEC_FAILURE_RATE = """
    SELECT COUNT(*) AS attempts, COUNT(*) FILTER (WHERE sync_status = 'error') AS errors,
           ROUND(COUNT(*) FILTER (WHERE sync_status = 'error') * 100.0 / NULLIF(COUNT(*), 0), 2) AS rate
    FROM lead_sync_history WHERE synced_at > NOW() - INTERVAL '1 hour'
"""
SPEC_WEBHOOKS = """
    SELECT DATE_TRUNC('minute', synced_at) AS minute, COUNT(*) AS webhook_count
    FROM lead_sync_history WHERE sync_type = 'webhook_update' AND synced_at > NOW() - make_interval(mins => 60)
    GROUP BY minute ORDER BY minute DESC
"""
SPEC_DAILY = """
    SELECT DATE_TRUNC('day', synced_at, 'UTC') AS sync_date, sync_direction, sync_status,
           COUNT(*) AS sync_count, COUNT(DISTINCT lead_id) AS unique_leads
    FROM lead_sync_history GROUP BY 1, 2, 3 ORDER BY sync_date DESC, sync_direction, sync_status
"""
SPEC_ERROR_GROUPS = """
    SELECT lead_sync_error_fingerprint(error_message) AS fingerprint,
           COUNT(*) FILTER (WHERE synced_at > NOW() - INTERVAL '1 hour') AS count_1h,
           COUNT(*) FILTER (WHERE synced_at > NOW() - INTERVAL '24 hours') AS count_24h,
           COUNT(*) AS count_7d, MIN(synced_at) AS first_seen, MAX(synced_at) AS last_seen,
           COUNT(DISTINCT lead_id) AS affected_leads,
           ARRAY[{trend}]::bigint[] AS trend
    FROM lead_sync_history
    WHERE sync_status = 'error' AND synced_at > NOW() - INTERVAL '7 days'
    GROUP BY 1 ORDER BY count_24h DESC, count_7d DESC, last_seen DESC, fingerprint
""".replace("{trend}", ", ".join(
    f"COUNT(*) FILTER (WHERE synced_at > NOW() - INTERVAL '{d} days' AND synced_at <= NOW() - INTERVAL '{d - 1} days')"
    for d in range(7, 0, -1)))
SPEC_BY_DIRECTION = """
    SELECT sync_direction, COUNT(*) AS attempts, COUNT(*) FILTER (WHERE sync_status = 'error') AS errors
    FROM lead_sync_history WHERE synced_at > NOW() - INTERVAL '1 hour' GROUP BY 1
"""


def assert_rollups_match_spec(*, tz: str = "UTC") -> None:
    """Every rollup-backed number equals the spec's query, read in one transaction (same NOW())."""
    with transaction.atomic():
        assert rollups.sync_status_overview() == fetch_all(SPEC_STATUS_OVERVIEW)
        assert rollups.sync_monitoring() == fetch_all(
            "SELECT sync_status, count, percentage, last_sync_time, avg_errors FROM sync_monitoring")
        assert rollups.segment_distribution() == fetch_all(SPEC_SEGMENTS)
        assert rollups.hourly_performance(tz=tz) == fetch_all(SPEC_HOURLY, {"tz": tz})
        assert rollups.lead_flow(tz=tz) == fetch_all(SPEC_LEAD_FLOW, {"tz": tz})
        assert rollups.lead_analytics(limit=7) == fetch_all(
            "SELECT * FROM lead_analytics WHERE date > (NOW() AT TIME ZONE 'UTC')::date - 7 ORDER BY date DESC LIMIT 7")
        assert rollups.stale_leads() == fetch_one("SELECT * FROM check_stale_leads()")
        assert rollups.failure_rate() == fetch_one(SPEC_FAILURE_RATE)
        assert rollups.webhook_updates_per_minute() == fetch_all(SPEC_WEBHOOKS)
        assert rollups.daily_summary() == fetch_all(SPEC_DAILY)
        by_direction = {r["sync_direction"]: {"attempts": r["attempts"], "errors": r["errors"]}
                        for r in fetch_all(SPEC_BY_DIRECTION)}
        assert {d: v for d, v in rollups.attempts_by_direction().items() if v["attempts"]} == by_direction

        ours = [dict(g) for g in rollups.error_groups()]
        for group in ours:
            group.pop("sample_message")
        assert ours == fetch_all(SPEC_ERROR_GROUPS)

        health = dict(rollups.health_summary())
        spec = dict(fetch_one("SELECT * FROM lead_sync_health_dashboard"))
        median, spec_median = health.pop("median_sync_time_seconds"), spec.pop("median_sync_time_seconds")
        for extra in ("p95_sync_time_seconds", "p99_sync_time_seconds", "sync_time_relative_accuracy"):
            health.pop(extra)
        assert health == spec
        if spec_median is None:
            assert median is None
        else:  # the histogram's guarantee: 2 % of the values percentile_cont interpolates between
            durations = sorted(r["d"] for r in fetch_all(
                "SELECT date_part('epoch', synced_at - created_at) AS d FROM lead_sync_history "
                "WHERE sync_status = 'synced' AND synced_at > NOW() - INTERVAL '24 hours'"))
            middle = durations[(len(durations) - 1) // 2: len(durations) // 2 + 1]
            assert abs(median - spec_median) <= 0.02 * max(abs(v) for v in middle) + 1e-9


# --------------------------------------------------------------------------- writers on real connections


def _conn() -> psycopg.Connection:
    return second_connection()


def _segments() -> list[Any]:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO customer_segments (segment_name) VALUES ('Enterprise'), ('SMB') "
            "ON CONFLICT ((md5(segment_name))) DO NOTHING"  # segment names are unique by hash (0201)
        )
        cursor.execute("SELECT id FROM customer_segments ORDER BY segment_name")
        return [None] + [row[0] for row in cursor.fetchall()]


def insert_lead(db: psycopg.Connection, rnd: random.Random, segments: list[Any]) -> None:
    status = rnd.choice(STATUSES)
    created = rnd.choice(OFFSETS) + rnd.random()
    synced = None if rnd.random() < 0.3 else rnd.choice(OFFSETS)
    db.execute(
        """
        INSERT INTO leads (id, twenty_id, first_name, lead_source, lead_score, segment_id, segment_confidence, sync_status,
                           sync_direction, last_synced_at, sync_started_at, sync_error_count, created_at)
        VALUES (%s, %s, 'x', %s, %s, %s, %s, %s, %s, now() - make_interval(secs => %s),
                CASE WHEN %s = 'syncing' THEN now() - make_interval(secs => %s) END, %s,
                now() - make_interval(secs => %s))
        """,
        (
            uuid.UUID(int=rnd.getrandbits(128)),
            None if rnd.random() < 0.5 else uuid.UUID(int=rnd.getrandbits(128)).hex,
            rnd.choice(SOURCES),
            None if rnd.random() < 0.2 else rnd.randint(0, 100),
            rnd.choice(segments),
            None if rnd.random() < 0.3 else round(rnd.random(), 3),
            status,
            rnd.choice(DIRECTIONS),
            synced,
            status,
            rnd.choice([60, 1200]),
            rnd.choice([0, 0, 2, 7]),
            created,
        ),
    )


def insert_attempt(db: psycopg.Connection, rnd: random.Random) -> None:
    status = rnd.choice(H_STATUSES)
    finished = rnd.choice(OFFSETS) + rnd.choice([0, 0.25, 0.999])
    db.execute(
        """
        INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, error_message, created_at, synced_at)
        SELECT id, %s, %s, %s, %s, now() - make_interval(secs => %s), now() - make_interval(secs => %s)
        FROM leads ORDER BY md5(id::text || %s) LIMIT 1
        """,
        (rnd.choice(TYPES), rnd.choice(H_DIRECTIONS), status, rnd.choice(MESSAGES) if status == "error" else None,
         finished + rnd.choice([0, 0.4, 3, 120, -1]), finished, rnd.random()),
    )


def _sometimes(rnd: random.Random, columns: dict[str, tuple[str, Any]]) -> tuple[str, list[Any]]:
    """SET clauses for a random subset of `columns` (each: SQL with one %s, its value)."""
    chosen = [(name, expr, value) for name, (expr, value) in columns.items() if rnd.random() < 0.5]
    return "".join(f", {name} = {expr}" for name, expr, _ in chosen), [value for _, _, value in chosen]


def _ago(rnd: random.Random) -> float:
    return rnd.choice(OFFSETS) + rnd.random()


def update_leads(db: psycopg.Connection, rnd: random.Random, segments: list[Any]) -> None:
    # Status, errors and segment always; each other rolled-up column sometimes: a source, a Twenty
    # id, a score or confidence appearing or vanishing, a lead synced, never synced again, or
    # created at another minute, hour or day (across the 7-day and 8-day edges too).
    extra, values = _sometimes(rnd, {
        "lead_source": ("%s", rnd.choice(SOURCES)),
        # Unique per lead: a new id from the lead's own, or none (NULL || ... is NULL).
        "twenty_id": ("md5(id::text || %s::text)", None if rnd.random() < 0.5 else rnd.random()),
        "lead_score": ("%s", None if rnd.random() < 0.3 else rnd.randint(0, 100)),
        "segment_confidence": ("%s", None if rnd.random() < 0.3 else round(rnd.random(), 3)),
        "last_synced_at": ("now() - make_interval(secs => %s::float8)", None if rnd.random() < 0.4 else _ago(rnd)),
        "created_at": ("now() - make_interval(secs => %s)", _ago(rnd)),
    })
    db.execute(
        f"""
        UPDATE leads SET sync_status = %s, sync_error_count = sync_error_count + %s, segment_id = %s{extra}
        WHERE id IN (SELECT id FROM leads ORDER BY md5(id::text || %s) LIMIT %s)
        """,
        (rnd.choice(STATUSES), rnd.choice([0, 1]), rnd.choice(segments), *values, rnd.random(), rnd.randint(1, 3)),
    )


def update_attempts(db: psycopg.Connection, rnd: random.Random) -> None:
    # Status and message always; sometimes the attempt moves to another lead, or finishes at another
    # time (so another minute, hour or UTC day, open or closed, and another duration).
    extra, values = _sometimes(rnd, {
        "lead_id": ("(SELECT id FROM leads ORDER BY md5(id::text || %s) LIMIT 1)", rnd.random()),
        "synced_at": ("now() - make_interval(secs => %s)", _ago(rnd)),
    })
    db.execute(
        f"UPDATE lead_sync_history SET sync_status = %s, error_message = %s{extra} "
        "WHERE id IN (SELECT id FROM lead_sync_history ORDER BY md5(id::text || %s) LIMIT 2)",
        (rnd.choice(H_STATUSES), rnd.choice(MESSAGES), *values, rnd.random()),
    )


def delete_some(db: psycopg.Connection, rnd: random.Random) -> None:
    if rnd.random() < 0.5:  # a lead and its attempts (Django's cascade: attempts first, in one transaction)
        with db.transaction():
            lead = db.execute("SELECT id FROM leads ORDER BY md5(id::text || %s) LIMIT 1", [rnd.random()]).fetchone()
            if lead:
                db.execute("DELETE FROM lead_sync_history WHERE lead_id = %s", lead)
                db.execute("DELETE FROM leads WHERE id = %s", lead)
    else:
        db.execute("DELETE FROM lead_sync_history WHERE id IN "
                   "(SELECT id FROM lead_sync_history ORDER BY md5(id::text || %s) LIMIT 2)", [rnd.random()])


# Updates weigh double: each changes a random subset of the rolled-up columns.
OPS = ["lead", "attempt", "attempt", "update_leads", "update_leads", "update_attempts", "update_attempts", "delete",
       "archive", "repair", "compact", "late", "batch"]


def run_op(op: str, rnd: random.Random, segments: list[Any], user: User) -> None:
    with _conn() as db:
        if op == "lead":
            insert_lead(db, rnd, segments)
        elif op == "attempt":
            insert_attempt(db, rnd)
        elif op == "update_leads":
            update_leads(db, rnd, segments)
        elif op == "update_attempts":
            update_attempts(db, rnd)
        elif op == "delete":
            delete_some(db, rnd)
        elif op == "batch":  # one statement, many rows (n8n's bulk update, the seed's inserts)
            for _ in range(3):
                insert_lead(db, rnd, segments)
            db.execute("UPDATE leads SET sync_status = 'synced', last_synced_at = now() WHERE sync_status = 'pending'")
        elif op == "late":
            late_commits(rnd)
    if op == "archive":
        maintenance.archive_history(retention_days=rnd.choice([1, 7, 9]), vacuum=False)
    elif op == "repair":
        leads = Lead.objects.all()
        rnd.choice([lead_services.clear_error_counts, lead_services.reset_stuck_leads])(
            leads=leads, user=user, reason="property test")
    elif op == "compact":
        rollup_services.compact_rollups()


def late_commits(rnd: random.Random) -> None:
    """Two transactions commit in the opposite order of their ids, with a compaction (and a check)
    in between: the first-begun one's deltas stay invisible until it commits, then fold."""
    with _conn() as first, _conn() as second:
        first.execute("BEGIN")
        insert_attempt(first, rnd)  # takes the lower history id and the older transaction id
        first.execute("UPDATE leads SET sync_status = 'error' WHERE id IN "
                      "(SELECT id FROM leads ORDER BY md5(id::text || %s) LIMIT 1)", [rnd.random()])
        second.execute("BEGIN")
        insert_attempt(second, rnd)
        second.execute("COMMIT")
        rollup_services.compact_rollups()
        assert_rollups_match_spec()
        first.execute("COMMIT")


@pytest.fixture
def fresh_tables():
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE lead_sync_history_archive, lead_sync_history, leads RESTART IDENTITY CASCADE")
    yield


@hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), ops=st.lists(st.sampled_from(OPS), min_size=4, max_size=10))
def test_every_rollup_number_equals_the_spec_query_after_random_writes(fresh_tables, seed, ops):
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE lead_sync_history_archive, lead_sync_history, leads RESTART IDENTITY CASCADE")
    rnd = random.Random(seed)
    segments = _segments()
    user, _ = User.objects.get_or_create(username="property", defaults={"is_staff": True})
    with _conn() as db:
        for _ in range(4):
            insert_lead(db, rnd, segments)
        for _ in range(6):
            insert_attempt(db, rnd)
    assert_rollups_match_spec()
    for op in ops:
        run_op(op, rnd, segments, user)
        assert_rollups_match_spec()
    assert_rollups_match_spec(tz="Asia/Kolkata")  # a zone whose hours start at :30 UTC
    rollup_services.compact_rollups()
    assert_rollups_match_spec()
    assert rollup_services.verify_rollups().agree


# --------------------------------------------------------------------------- focused behaviours


@pytest.fixture
def small_data(fresh_tables):
    rnd = random.Random(7)
    segments = _segments()
    with _conn() as db:
        for _ in range(6):
            insert_lead(db, rnd, segments)
        for _ in range(20):
            insert_attempt(db, rnd)
    rollup_services.compact_rollups()
    return rnd


def test_concurrent_single_row_writers_never_wait_on_each_other(small_data):
    # Two sync connections, each inside an open transaction, inserting attempts and updating
    # different leads: with the triggers on, neither waits for the other (lock_timeout would fire).
    with _conn() as first, _conn() as second:
        lead_ids = [row[0] for row in first.execute("SELECT id FROM leads ORDER BY id LIMIT 2").fetchall()]
        for db in (first, second):
            db.execute("BEGIN")
            db.execute("SET LOCAL lock_timeout = '500ms'")
        for i, db in enumerate((first, second)):
            db.execute(
                "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status) "
                "VALUES (%s, 'webhook_update', 'twenty_to_supabase', 'synced')", [lead_ids[0]])
            db.execute("UPDATE leads SET sync_status = 'synced', last_synced_at = now() WHERE id = %s", [lead_ids[i]])
        waiting = first.execute(
            "SELECT COUNT(*) FROM pg_locks WHERE NOT granted AND pid IN (%s, %s)",
            [first.info.backend_pid, second.info.backend_pid]).fetchone()[0]
        assert waiting == 0
        second.execute("COMMIT")
        first.execute("COMMIT")
    assert_rollups_match_spec()


def test_a_second_compactor_leaves_at_once(small_data):
    with _conn() as first, _conn() as second:
        first.execute("BEGIN")
        assert first.execute("SELECT compact_rollups()").fetchone()[0] >= 0
        assert second.execute("SELECT compact_rollups()").fetchone()[0] == -1  # no wait, no double fold
        first.execute("COMMIT")
    assert_rollups_match_spec()


def test_a_compaction_is_idempotent(small_data):
    with _conn() as db:
        insert_attempt(db, small_data)
    first = rollup_services.compact_rollups()
    second = rollup_services.compact_rollups()
    assert first.folded >= 1 and second.folded == 0
    assert_rollups_match_spec()


def test_late_commit_in_opposite_id_order_is_counted_exactly_once(small_data):
    before = sum(r["attempts"] for r in rollups.attempt_totals())
    late_commits(small_data)
    assert_rollups_match_spec()
    rollup_services.compact_rollups()
    assert_rollups_match_spec()
    assert sum(r["attempts"] for r in rollups.attempt_totals()) == before + 2


def test_archive_moves_keep_all_time_totals_and_daily_summary_means_the_hot_table(small_data):
    totals_before = rollups.attempt_totals()
    moved = maintenance.archive_history(retention_days=1, vacuum=False).moved
    assert moved > 0
    # The daily summary counts lead_sync_history (the spec's view); all-time totals keep the archived attempts.
    assert_rollups_match_spec()
    rollup_services.compact_rollups()
    assert_rollups_match_spec()
    assert rollups.attempt_totals() == totals_before
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM lead_sync_history) + (SELECT COUNT(*) FROM lead_sync_history_archive)")
        assert sum(r["attempts"] for r in rollups.attempt_totals()) == cursor.fetchone()[0]


def test_attempt_totals_contract_shape_and_monotonic_under_deletes(small_data):
    totals = rollups.attempt_totals()
    assert [set(r) for r in totals] == [{"direction", "attempts", "errors", "conflicts"}] * 2
    assert [r["direction"] for r in totals] == H_DIRECTIONS
    Lead.objects.all().delete()  # Django cascades to every attempt
    rollup_services.compact_rollups()
    assert rollups.attempt_totals() == totals


def test_closed_day_is_recomputed_after_a_late_write(small_data):
    rollup_services.compact_rollups()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM rollup_closed_days")
        assert cursor.fetchone()[0] > 0  # days older than today are closed
    with _conn() as db:  # a late attempt for a closed day, for a lead that already has one there
        db.execute(
            """
            INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, created_at, synced_at)
            SELECT lead_id, 'retry', sync_direction, sync_status, synced_at, synced_at
            FROM lead_sync_history WHERE synced_at < now() - interval '2 days' LIMIT 1
            """
        )
    assert_rollups_match_spec()  # read from the table while the delta waits
    rollup_services.compact_rollups()
    assert_rollups_match_spec()


def test_quantiles_are_within_two_percent_of_percentile_cont(fresh_tables):
    rnd = random.Random(12)
    segments = _segments()
    with _conn() as db:
        insert_lead(db, rnd, segments)
        durations = [rnd.lognormvariate(0.5, 1.5) for _ in range(3000)] + [0.0, 0.000001, 3600.0]
        db.execute(
            """
            INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, created_at, synced_at)
            SELECT (SELECT id FROM leads LIMIT 1), 'scheduled', 'twenty_to_supabase', 'synced',
                   t - make_interval(secs => d), t
            FROM unnest(%s::float8[]) WITH ORDINALITY AS u(d, i),
                 LATERAL (SELECT now() - make_interval(secs => (i * 17) %% 80000 + 0.5) AS t) AS times
            """,
            [durations],
        )
    for compacted in (False, True):  # from deltas, then from the folded histograms
        if compacted:
            rollup_services.compact_rollups()
        with transaction.atomic():
            ours = rollups.sync_time_quantiles()
            exact = fetch_one(
                """
                SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY date_part('epoch', synced_at - created_at)) AS p50,
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY date_part('epoch', synced_at - created_at)) AS p95,
                       percentile_cont(0.99) WITHIN GROUP (ORDER BY date_part('epoch', synced_at - created_at)) AS p99,
                       COUNT(*) AS n
                FROM lead_sync_history WHERE sync_status = 'synced' AND synced_at > NOW() - INTERVAL '24 hours'
                """
            )
        assert ours.count == exact["n"]
        for name in ("p50", "p95", "p99"):
            assert math.isclose(getattr(ours, name), exact[name], rel_tol=0.02), name


@pytest.mark.parametrize("q", [0.0, 0.5, 0.95, 0.99, 1.0])
def test_quantile_from_bins_is_within_two_percent_on_random_samples(q):
    rnd = random.Random(int(q * 100))
    values = sorted(rnd.lognormvariate(0, 2) for _ in range(501))
    gamma = rollups.GAMMA
    bins: dict[int, int] = {}
    for value in values:
        index = math.ceil(math.log(value) / math.log(gamma))
        bins[index] = bins.get(index, 0) + 1
    position = q * (len(values) - 1)
    low = math.floor(position)
    exact = values[low] + (position - low) * (values[min(low + 1, len(values) - 1)] - values[low])
    assert math.isclose(rollups.quantile_from_bins(list(bins.items()), q), exact, rel_tol=0.02)


def test_verify_finds_a_disagreement_fails_its_run_and_rebuild_repairs_it(small_data):
    assert rollup_services.verify_rollups().agree
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rollup_history SET attempts = attempts + 5 "
                       "WHERE ctid = (SELECT ctid FROM rollup_history WHERE grain = 'h' LIMIT 1)")
    result = rollup_services.verify_rollups()
    # Our row differs from the table's, one each way; the day rows follow the hour rows (0302).
    assert result.mismatches == {"history": 2, "history_days": 2}

    with pytest.raises(rollup_tasks.RollupsDisagree):
        rollup_tasks.verify_rollups()
    run = JobRun.objects.get(task_name=rollup_tasks.VERIFY_TASK)
    assert run.outcome == JobOutcome.FAILED
    assert "rollups disagree with the tables: history (2 keys)" in run.error

    # The alert rule reads the newest verify run: firing now, with the rollup and key count.
    from monitoring.alerts.rules import evaluate_rule
    from monitoring.models import AlertRule, RuleKind

    rule = AlertRule.objects.create(name="rollups", kind=RuleKind.ROLLUPS_DISAGREE, severity="warning")
    evaluation = evaluate_rule(rule)
    assert evaluation.breached and "history (2 keys)" in evaluation.summary

    rollup_services.rebuild_rollups()
    assert rollup_services.verify_rollups().agree
    assert_rollups_match_spec()
    rollup_tasks.verify_rollups()
    assert not evaluate_rule(rule).breached


def _days_disagreeing_with_leads() -> list[dict[str, Any]]:
    """Day rows (+ unfolded deltas) that differ from the leads table grouped by UTC day, either way."""
    days = """
        SELECT day, lead_source, sync_direction, SUM(c) AS c, SUM(s) AS s, SUM(n) AS n FROM (
            SELECT day, lead_source, sync_direction, lead_count c, score_sum s, score_n n FROM rollup_leads_created_days
            UNION ALL
            SELECT date_trunc('day', created_at, 'UTC'), lead_source, sync_direction, sign,
                   COALESCE(sign * lead_score, 0), CASE WHEN lead_score IS NULL THEN 0 ELSE sign END
            FROM rollup_lead_deltas
        ) x GROUP BY 1, 2, 3 HAVING SUM(c) <> 0 OR SUM(s) <> 0 OR SUM(n) <> 0"""
    table = """
        SELECT date_trunc('day', created_at, 'UTC') AS day, lead_source, sync_direction,
               COUNT(*) AS c, COALESCE(SUM(lead_score), 0) AS s, COUNT(lead_score) AS n
        FROM leads GROUP BY 1, 2, 3"""
    return fetch_all(f"(({days}) EXCEPT ({table})) UNION ALL (({table}) EXCEPT ({days}))")


def test_day_rows_follow_the_tables_through_updates_deletes_rebuild_and_reset(small_data):
    """rollup_leads_created_days and rollup_history_days (migrations 0301, 0302) are kept from the
    hour rows by triggers: after every kind of write that changes them, folded or not, they say
    what the leads and history tables say."""
    rnd = small_data
    segments = _segments()
    steps = [
        lambda db: [insert_lead(db, rnd, segments) for _ in range(12)],
        lambda db: db.execute("UPDATE leads SET lead_source = 'moved', lead_score = 100 - COALESCE(lead_score, 0) "
                              "WHERE id IN (SELECT id FROM leads ORDER BY id LIMIT 4)"),
        # Across a UTC day: the lead leaves one day row for another.
        lambda db: db.execute("UPDATE leads SET created_at = created_at - interval '3 days' "
                              "WHERE id IN (SELECT id FROM leads ORDER BY id DESC LIMIT 3)"),
        lambda db: db.execute("UPDATE leads SET lead_score = NULL WHERE id IN (SELECT id FROM leads ORDER BY id LIMIT 2)"),
        lambda db: delete_some(db, rnd),
        lambda db: db.execute("DELETE FROM lead_sync_history WHERE lead_id IN (SELECT id FROM leads ORDER BY id LIMIT 2); "
                              "DELETE FROM leads WHERE id IN (SELECT id FROM leads ORDER BY id LIMIT 2)"),
        lambda db: [insert_attempt(db, rnd) for _ in range(15)],
        lambda db: update_attempts(db, rnd),
        # Across a UTC day, and a new duration: the attempt leaves one day row for another.
        lambda db: db.execute("UPDATE lead_sync_history SET synced_at = synced_at - interval '2 days', "
                              "created_at = created_at - interval '2 days 3 seconds' "
                              "WHERE id IN (SELECT id FROM lead_sync_history ORDER BY id LIMIT 3)"),
        lambda db: maintenance.archive_history(retention_days=1, vacuum=False),
        lambda db: db.execute("DELETE FROM lead_sync_history WHERE id IN (SELECT id FROM lead_sync_history ORDER BY id DESC LIMIT 2)"),
        # Last: the day rows then span several days whatever the time of day the test runs at.
        lambda db: db.execute("UPDATE lead_sync_history SET synced_at = synced_at - interval '2 days', "
                              "created_at = created_at - interval '2 days' "
                              "WHERE id IN (SELECT id FROM lead_sync_history ORDER BY id DESC LIMIT 2)"),
    ]
    for step in steps:
        with _conn() as db:
            step(db)
        # Unfolded: the deltas make up the difference; folded: the day rows alone.
        assert _days_disagreeing_with_leads() == []
        assert "history_days" not in rollup_services.verify_rollups().mismatches
        rollup_services.compact_rollups()
        assert fetch_one("SELECT COUNT(*) AS n FROM rollup_lead_deltas")["n"] == 0
        assert fetch_one("SELECT COUNT(*) AS n FROM rollup_history_deltas")["n"] == 0
        assert _days_disagreeing_with_leads() == []
        assert rollup_services.verify_rollups().agree
    assert fetch_one("SELECT COUNT(DISTINCT day) AS n FROM rollup_leads_created_days WHERE lead_count > 0")["n"] >= 2
    assert fetch_one("SELECT COUNT(DISTINCT day) AS n FROM rollup_history_days WHERE attempts > 0")["n"] >= 2

    rollup_services.rebuild_rollups()
    assert _days_disagreeing_with_leads() == []
    assert rollup_services.verify_rollups().agree
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE lead_sync_history, leads CASCADE")
    assert _days_disagreeing_with_leads() == []
    assert fetch_one("SELECT COALESCE(SUM(lead_count), 0) AS n FROM rollup_leads_created_days")["n"] == 0
    assert fetch_one("SELECT COALESCE(SUM(attempts), 0) AS n FROM rollup_history_days")["n"] == 0
    # The reset restarts the all-time totals at 0 while the archive keeps its attempts: verify says
    # the totals are below them, and a rebuild counts the archive again.
    assert fetch_one("SELECT COUNT(*) AS n FROM lead_sync_history_archive")["n"] > 0
    assert set(rollup_services.verify_rollups().mismatches) == {"attempt_totals"}
    rollup_services.rebuild_rollups()
    assert rollup_services.verify_rollups().agree

    # A TRUNCATE of the hour rows themselves empties the day rows (their own TRUNCATE triggers).
    with _conn() as db:
        for _ in range(5):
            insert_lead(db, rnd, segments)
            insert_attempt(db, rnd)
    rollup_services.compact_rollups()
    assert fetch_one("SELECT (SELECT COUNT(*) FROM rollup_leads_created_days) + "
                     "(SELECT COUNT(*) FROM rollup_history_days) AS n")["n"] > 0
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE rollup_leads_created, rollup_history")
    assert fetch_one("SELECT (SELECT COUNT(*) FROM rollup_leads_created_days) + "
                     "(SELECT COUNT(*) FROM rollup_history_days) AS n")["n"] == 0
    rollup_services.rebuild_rollups()
    assert rollup_services.verify_rollups().agree


def test_verify_finds_a_wrong_day_row(small_data):
    assert rollup_services.verify_rollups().agree
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rollup_leads_created_days SET lead_count = lead_count + 1 "
                       "WHERE ctid = (SELECT ctid FROM rollup_leads_created_days WHERE lead_count > 0 LIMIT 1)")
        cursor.execute("UPDATE rollup_history_days SET duration_sum = duration_sum + 0.5 "
                       "WHERE ctid = (SELECT ctid FROM rollup_history_days WHERE attempts > 0 LIMIT 1)")
    assert rollup_services.verify_rollups().mismatches == {"leads_created_days": 2, "history_days": 2}
    rollup_services.rebuild_rollups()
    assert rollup_services.verify_rollups().agree


@pytest.mark.parametrize(
    "corrupt, expected",
    [
        # A minute row of lead flow (the day edges of its windows) and of the error groups, in the 7 days read.
        ("UPDATE rollup_leads_created SET lead_count = lead_count + 1 WHERE ctid = (SELECT ctid FROM "
         "rollup_leads_created WHERE grain = 'm' AND lead_count > 0 AND bucket > now() - interval '6 days' LIMIT 1)", {"leads_created": 2}),
        ("UPDATE rollup_error_groups SET n = n + 1 WHERE ctid = (SELECT ctid FROM "
         "rollup_error_groups WHERE grain = 'm' AND n > 0 AND bucket > now() - interval '6 days' LIMIT 1)", {"error_groups": 2}),
        # A key with no attempts or leads but a sum: every sum decides whether a key is compared, not the count alone.
        ("INSERT INTO rollup_leads (sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty, "
         "lead_count, error_count_sum, score_sum, score_n, confidence_sum, confidence_n) "
         "VALUES ('synced', NULL, 'ghost', 'bidirectional', false, false, 0, 0, 5, 1, 0, 0)", {"leads": 1}),
        ("INSERT INTO rollup_history (grain, bucket, sync_direction, sync_type, sync_status, attempts, duration_sum, "
         "duration_n) VALUES ('h', date_trunc('hour', now() - interval '3 days'), 'ghost', 'retry', 'synced', 0, 5, 0)",
         {"history": 1, "history_days": 1}),
        # An all-time total below what the hot and archived attempts already account for, or lost.
        ("UPDATE rollup_attempt_totals SET errors = errors - 1 WHERE ctid = (SELECT ctid FROM "
         "rollup_attempt_totals WHERE errors > 0 LIMIT 1)", {"attempt_totals": 1}),
        ("DELETE FROM rollup_attempt_totals WHERE ctid = (SELECT ctid FROM rollup_attempt_totals LIMIT 1)",
         {"attempt_totals": 1}),
    ],
)
def test_verify_finds_a_wrong_minute_row_or_all_time_total(small_data, corrupt, expected):
    maintenance.archive_history(retention_days=1, vacuum=False)  # the totals then count archived attempts too
    rollup_services.compact_rollups()
    assert rollup_services.verify_rollups().agree
    with connection.cursor() as cursor:
        cursor.execute(corrupt)
        assert cursor.rowcount == 1
    assert rollup_services.verify_rollups().mismatches == expected
    rollup_services.rebuild_rollups()
    assert rollup_services.verify_rollups().agree


def test_verify_cannot_see_all_time_totals_that_are_too_high(small_data):
    # The tables only bound them from below (deleted attempts were counted and left no row): a
    # total raised by mistake is not found, and rebuild_rollups() never lowers it.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rollup_attempt_totals SET attempts = attempts + 1")
    assert rollup_services.verify_rollups().agree


def test_verify_takes_no_lock_and_agrees_while_compactions_fold_under_its_snapshot(small_data, monkeypatch):
    """verify_rollups() paused after each of its checks, in its own thread and connection: meanwhile
    the sync writes and the compactor folds (deltas, hour, minute and day rows, a closed day
    recomputed, days closed). Every compaction completes at once; verify still agrees, reading the
    deltas those compactions deleted."""
    import queue
    import threading

    rnd = small_data
    segments = _segments()

    def write(db: psycopg.Connection) -> None:
        insert_lead(db, rnd, segments)
        insert_attempt(db, rnd)
        update_leads(db, rnd, segments)
        update_attempts(db, rnd)
        db.execute(  # a late attempt for a closed day: the compactor recomputes that day
            "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, created_at, synced_at) "
            "SELECT id, 'retry', 'twenty_to_supabase', 'error', now() - interval '2 days 1 second', "
            "now() - interval '2 days' FROM leads ORDER BY id LIMIT 1")

    with _conn() as db:
        write(db)
        delete_some(db, rnd)
    maintenance.archive_history(retention_days=1, vacuum=False)  # deletes from the hot table: deltas too
    deltas_sql = "SELECT (SELECT COUNT(*) FROM rollup_lead_deltas) + (SELECT COUNT(*) FROM rollup_history_deltas)"
    deltas_before = fetch_one(f"{deltas_sql} AS n")["n"]
    assert deltas_before > 0

    paused: queue.Queue[tuple[int, int, int]] = queue.Queue()
    resume: queue.Queue[bool] = queue.Queue()
    outcome: dict[str, Any] = {}
    count_differing = rollup_services._count_differing

    def pausing(cursor: Any, check_sql: str) -> int:
        differing = count_differing(cursor, check_sql)
        cursor.execute(f"SELECT pg_backend_pid(), ({deltas_sql}), (SELECT COUNT(*) FROM pg_locks "
                       "WHERE locktype = 'advisory' AND pid = pg_backend_pid())")
        paused.put(cursor.fetchone())
        if not resume.get(timeout=60):
            raise RuntimeError("the test stopped")
        return differing

    def run_verify() -> None:
        try:
            outcome["result"] = rollup_services.verify_rollups()
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = error
        finally:
            connection.close()

    monkeypatch.setattr(rollup_services, "_count_differing", pausing)
    verifier = threading.Thread(target=run_verify, daemon=True)
    verifier.start()
    try:
        for _ in rollup_services._checks():
            pid, deltas_seen, advisory_locks = paused.get(timeout=60)
            assert pid != fetch_one("SELECT pg_backend_pid() AS pid")["pid"]
            assert advisory_locks == 0  # verify holds no lock the compactor could wait for
            assert deltas_seen == deltas_before  # its snapshot still has every delta folded since
            with _conn() as db:
                write(db)
            folded = rollup_services.compact_rollups()
            assert not folded.skipped and folded.folded > 0
            assert fetch_one(f"{deltas_sql} AS n")["n"] == 0
            resume.put(True)
    finally:
        resume.put(False)
        verifier.join(timeout=60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].agree, outcome["result"].mismatches
    monkeypatch.undo()
    assert rollup_services.verify_rollups().agree  # and after them, in a new snapshot


def test_rebuild_while_the_sync_writes_counts_the_uncommitted_write_exactly_once(small_data):
    with _conn() as writer:
        writer.execute("BEGIN")
        insert_attempt(writer, small_data)
        rollup_services.rebuild_rollups()  # its snapshot does not see the writer's row nor its delta
        writer.execute("COMMIT")
    assert_rollups_match_spec()
    rollup_services.compact_rollups()
    assert rollup_services.verify_rollups().agree


def test_rebuild_goes_day_by_day_and_the_compactor_folds_between_batches(small_data, monkeypatch):
    """rebuild_rollups() commits one batch at a time (the leads, each creation day, each day of
    history, the totals), each under the compactor's lock for its own transaction only. Between two
    batches the sync writes, a compactor on another connection gets the lock and folds them, and
    every rollup agrees with the tables; a write left uncommitted across the whole rebuild is counted
    once. The first rebuild held one snapshot and the lock throughout, so no compactor could run."""
    rnd = small_data
    segments = _segments()
    leads_days = fetch_one("SELECT COUNT(DISTINCT (created_at AT TIME ZONE 'UTC')::date) AS n FROM leads")["n"]
    history_days = fetch_one("SELECT COUNT(DISTINCT (synced_at AT TIME ZONE 'UTC')::date) AS n FROM lead_sync_history")["n"]
    assert history_days >= 3 and leads_days >= 3  # small_data spreads them over the last 30 days
    seen: list[tuple[str, int]] = []
    deltas_sql = "SELECT (SELECT COUNT(*) FROM rollup_lead_deltas) + (SELECT COUNT(*) FROM rollup_history_deltas)"

    def between(batch: rollup_services.RebuildBatch) -> None:
        with _conn() as db:
            # Every other pause leaves its writes unfolded: the batch that follows folds them first.
            assert db.execute(deltas_sql).fetchone()[0] == 0, batch
            insert_attempt(db, rnd)
            update_leads(db, rnd, segments)
            assert db.execute(deltas_sql).fetchone()[0] > 0
            holders = db.execute("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                                 "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchone()[0]
            assert holders == 0  # the rebuild holds no lock between batches
            if len(seen) % 2 == 0:
                folded = db.execute("SELECT compact_rollups()").fetchone()[0]
                assert folded > 0  # not -1: a compactor gets the lock, and folds our writes
            else:
                folded = 0
        assert rollup_services.verify_rollups().agree, batch
        seen.append((batch.name, folded))

    monkeypatch.setattr(rollup_services, "_after_rebuild_batch", between)
    with _conn() as late:
        late.execute("BEGIN")
        insert_attempt(late, rnd)  # its id is older than every write above, its commit later
        result = rollup_services.rebuild_rollups()
        late.execute("COMMIT")

    names = [name for name, _ in seen]
    assert names == ["leads"] + ["leads_created"] * leads_days + ["history"] * history_days + ["totals"]
    assert result.batches == len(seen) and result.history_days == history_days
    assert 0 < result.longest_batch_seconds < result.seconds
    assert_rollups_match_spec()
    rollup_services.compact_rollups()
    assert rollup_services.verify_rollups().agree
    assert_rollups_match_spec()


def test_a_rebuild_batch_refuses_to_run_without_its_snapshot_or_the_lock(small_data):
    with pytest.raises(Exception, match="REPEATABLE READ"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT rollup_rebuild_totals()")
    # Nobody holds the lock, but this batch did not take it before its snapshot either.
    with pytest.raises(Exception, match="needs the compactor's lock"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SELECT rollup_rebuild_leads()")
    with _conn() as compactor:
        compactor.execute("BEGIN")
        assert compactor.execute("SELECT compact_rollups()").fetchone()[0] >= 0  # holds the lock until COMMIT
        with pytest.raises(Exception, match="needs the compactor's lock"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("SELECT rollup_rebuild_history_day(current_date)")
        compactor.execute("COMMIT")


def test_a_rebuild_batch_that_meets_a_reset_runs_again(small_data):
    """A TRUNCATE (seed_demo --reset) empties rollups and deltas without the compactor's lock; a
    batch whose snapshot predates its commit fails to serialize, and is run again on a new one."""
    import threading

    with _conn() as db:
        insert_attempt(db, small_data)  # a delta for the batch's fold to delete
    outcome: dict[str, Any] = {}

    def run_batch() -> None:
        try:
            rollup_services._run_rebuild_batch(rollup_services.RebuildBatch("leads"))
            outcome["done"] = True
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = error
        finally:
            connection.close()

    with _conn() as reset:
        reset.execute("BEGIN")
        reset.execute("TRUNCATE lead_sync_history, leads CASCADE")  # its triggers delete every delta
        batch = threading.Thread(target=run_batch)
        batch.start()
        waiting = 0
        for _ in range(200):  # the batch's fold waits for the reset's deleted delta rows
            waiting = reset.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                    "AND datname = current_database()").fetchone()[0]
            if waiting:
                break
            time.sleep(0.05)
        assert waiting == 1
        reset.execute("COMMIT")
    batch.join(timeout=60)
    assert outcome == {"done": True}, outcome
    assert fetch_one("SELECT COUNT(*) AS n FROM rollup_leads")["n"] == 0
    assert rollup_services.verify_rollups().agree


def test_truncate_resets_the_rollups(small_data):
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE lead_sync_history, leads CASCADE")
        cursor.execute("SELECT (SELECT COUNT(*) FROM rollup_leads) + (SELECT COUNT(*) FROM rollup_history)")
        assert cursor.fetchone()[0] == 0
    assert_rollups_match_spec()


def test_an_update_that_changes_nothing_rolled_up_writes_no_delta(small_data):
    with _conn() as db:
        db.execute("UPDATE leads SET first_name = 'renamed'")
        db.execute("UPDATE lead_sync_history SET fields_changed = '{\"a\": 1}'::jsonb")
        assert db.execute("SELECT (SELECT COUNT(*) FROM rollup_lead_deltas) + (SELECT COUNT(*) FROM rollup_history_deltas)"
                          ).fetchone()[0] == 0


def test_pages_say_the_sync_time_quantiles_are_approximate(small_data, viewer_client):
    from django.urls import reverse

    for page in ("monitoring:overview", "monitoring:performance"):
        body = viewer_client.get(reverse(page)).content.decode()
        assert "(approximate, ±2 %)" in body and "p95 ≈" in body and "p99 ≈" in body, page


def test_migrated_schedules_compact_every_five_seconds_verify_weekly_and_drop_the_snapshot_refresh():
    import importlib

    from django.apps import apps
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    # As migrated (serialized_rollback restores the migrations' rows): one enabled row each.
    verify = PeriodicTask.objects.get(task="monitoring.verify_rollups")
    assert verify.enabled and verify.interval is None and verify.one_off is False
    crontab = verify.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week, crontab.day_of_month, crontab.month_of_year,
            str(crontab.timezone)) == ("0", "5", "0", "*", "*", "UTC")  # weekly: Sunday 05:00 UTC
    compact = PeriodicTask.objects.get(task="monitoring.compact_rollups")
    assert compact.enabled and compact.crontab is None
    assert (compact.interval.every, compact.interval.period, compact.expire_seconds) == (5, "seconds", 5)
    assert not PeriodicTask.objects.filter(task="monitoring.refresh_snapshots").exists()

    # 0232's step also removes the per-minute snapshot refresh where an older database still has it.
    schedules = importlib.import_module("monitoring.migrations.0232_rollup_schedules")
    PeriodicTask.objects.create(name=schedules.SNAPSHOTS[0], task=schedules.SNAPSHOTS[1],
                                interval=IntervalSchedule.objects.create(every=1, period="minutes"))
    schedules.forward(apps, None)

    compact = PeriodicTask.objects.get(task="monitoring.compact_rollups")
    assert (compact.interval.every, compact.interval.period, compact.queue) == (5, "seconds", "maintenance")
    assert PeriodicTask.objects.get(task="monitoring.verify_rollups").queue == "maintenance"
    assert not PeriodicTask.objects.filter(task="monitoring.refresh_snapshots").exists()


_ = timedelta  # used in annotations of helpers above
