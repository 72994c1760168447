"""Demo data at scale: leads, sync history and segments that look like a real sync's, in seconds.

Everything is set-based SQL (INSERT ... SELECT over generate_series), so a million leads and ten
million history rows load in well under three minutes. Pseudo-randomness comes from
hashint8extended(row number, seed): the same seed and the same anchor (`now`, default: the moment
of seeding) give the same rows, whatever the session, and the hash is stable across PostgreSQL
versions because hash partitioning depends on it. Every relative time ("an hour ago", "the last
30 days") is measured from the anchor, never from the database clock.

How the data is shaped (so every dashboard and alert has something to show):
- leads over `days` days, more of them recently, on a daily rhythm peaking at 14:00 UTC, fewer
  on weekends; statuses about 93 % synced, 2.5 % pending (some stale: older than an hour),
  3 % error (some with more than 5 errors), 0.8 % conflict, 0.7 % syncing (some stuck: started
  more than 10 minutes ago); realistic sources, segments, directions, names with missing parts;
- history spread over each lead's life (created_at .. last_synced_at) on the same daily rhythm,
  the last attempt matching the lead's status; a background of errors and conflicts, error
  bursts in random hours (rate limits 429, 5xx outages, timeouts, validation errors, duplicates)
  and one 429 burst (50 to 15 minutes ago) that also left leads in error, so the last hour's
  failure rate is above 10 %.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from monitoring.choices import HistoryStatus, LeadSyncStatus, SyncType
from monitoring.services import rollups

Progress = Callable[[str], None]

SEGMENTS: list[tuple[str, str]] = [
    ("Enterprise", "1,000+ employees, multi-year contracts"),
    ("Mid-Market", "100-1,000 employees"),
    ("SMB", "Small and medium businesses"),
    ("Startup", "Venture-backed, under 100 employees"),
    ("Agency", "Agencies reselling to their clients"),
    ("Non-profit", "Charities, education and public sector"),
]

# (value, cumulative share) tables: a uniform draw below the share picks the value.
LEAD_SOURCES: list[tuple[str, float]] = [
    ("website", 0.34), ("referral", 0.49), ("linkedin", 0.63), ("google_ads", 0.75), ("webinar", 0.83),
    ("trade_show", 0.88), ("cold_outreach", 0.93), ("partner", 0.98), ("import", 1.0),
]
LEAD_STATUSES: list[tuple[str, float]] = [
    (LeadSyncStatus.SYNCED, 0.930), (LeadSyncStatus.PENDING, 0.955), (LeadSyncStatus.ERROR, 0.985),
    (LeadSyncStatus.CONFLICT, 0.993), (LeadSyncStatus.SYNCING, 1.0),
]
# Error messages by kind, as the n8n workflow writes them (kind -> cumulative share).
ERROR_MESSAGES: list[tuple[str, float]] = [
    ("Twenty API 429: rate limit exceeded", 0.33),
    ("Twenty API 500: internal server error", 0.43),
    ("Twenty API 502: bad gateway", 0.50),
    ("Twenty API 503: service unavailable", 0.57),
    ("Timeout: Twenty API did not answer within 30 s", 0.70),
    ("Timeout: Supabase connection timed out after 10 s", 0.77),
    ("Validation error: email is not a valid address", 0.84),
    ("Validation error: phone must be in E.164 format", 0.88),
    ("Duplicate: a person with this email already exists in Twenty", 0.95),
    ('Duplicate: duplicate key value violates unique constraint "leads_twenty_id_key"', 1.0),
]
RATE_LIMIT_MESSAGE = ERROR_MESSAGES[0][0]


def _message_no(prefix: str) -> int:
    """1-based position in ERROR_MESSAGES (the SQL arrays index from 1) of the first message with this prefix."""
    return 1 + next(i for i, (message, _) in enumerate(ERROR_MESSAGES) if message.startswith(prefix))
FIRST_NAMES = (
    "Ada Grace Alan Katherine Linus Barbara Edsger Donald Margaret Dennis Frances Ken Radia John Sophie "
    "Tim Hedy Guido Anita Niklaus Carol Bjarne Shafi Leslie Jean Whitfield Adele Tony Mary Yukihiro Ines "
    "Lars Priya Mateo Aisha Chen Olga Kwame Sven Lucia"
).split()
LAST_NAMES = (
    "Lovelace Hopper Turing Johnson Torvalds Liskov Dijkstra Knuth Hamilton Ritchie Allen Thompson Perlman "
    "McCarthy Wilson Berners-Lee Lamarr Rossum Borg Wirth Shaw Stroustrup Goldwasser Lamport Sammet Diffie "
    "Goldberg Hoare Keller Matsumoto Garcia Nilsson Patel Rossi Okafor Wang Ivanova Mensah Berg Moreno"
).split()
COMPANIES = (
    "Acme Analytics|Globex|Initech|Umbrella Health|Stark Logistics|Wayne Foods|Hooli|Pied Piper|Vandelay Import|"
    "Soylent Labs|Cyberdyne|Tyrell Robotics|Wonka Confectionery|Oceanic Air|Massive Dynamic|Aperture Science|"
    "Nakatomi Trading|Gringotts Finance|Monarch Solutions|Blue Sun|Black Mesa|Dunder Mifflin|Prestige Worldwide|"
    "Sterling Cooper|Bluth Homes|Los Pollos|Krusty Foods|Virtucon|Duff Brewing|Ollivander Woodworks|Northwind|"
    "Contoso|Fabrikam|Adventure Works|Tailspin Toys|Litware|Proseware|Wide World Importers|Woodgrove Bank|"
    "Fourth Coffee|Lucerne Publishing|Margie Travel|Trey Research|Alpine Ski House|Coho Winery|Humongous Insurance"
).split("|")
JOB_TITLES = (
    "CEO|CTO|VP Sales|Head of Marketing|Marketing Manager|Sales Director|Account Executive|Operations Manager|"
    "Product Manager|Engineering Manager|Founder|Procurement Lead|IT Director|Customer Success Lead|Analyst"
).split("|")
# History chunks: progress is printed after each one.
CHUNKS = 10


@dataclass(frozen=True)
class SeedResult:
    """What seed_demo() wrote."""

    leads: int
    history: int
    segments: int
    seconds: float
    skipped: bool = False


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _text_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(_lit(v) for v in values) + "]::text[]"


_MESSAGES = _text_array([message for message, _ in ERROR_MESSAGES])


class _Random:
    """SQL snippets for deterministic uniform draws in [0, 1): one stream per (seed, key)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def u(self, expr: str, key: int) -> str:
        return f"((hashint8extended(({expr})::bigint, {self.seed * 1000 + key}) & 16777215)::float8 / 16777216)"

    def pick(self, array_sql: str, size: int, expr: str, key: int) -> str:
        """One element of a 1-based SQL array, uniformly."""
        return f"({array_sql})[1 + floor({self.u(expr, key)} * {size})::int]"

    @staticmethod
    def case(draw: str, table: list[tuple[str, float]]) -> str:
        """A weighted choice from a cumulative-share table."""
        whens = " ".join(f"WHEN {draw} < {share} THEN {_lit(value)}" for value, share in table[:-1])
        return f"(CASE {whens} ELSE {_lit(table[-1][0])} END)"


def _warp_day(ts: str) -> str:
    """Move a timestamp column within its UTC day so times of day peak at 14:00 and dip at 02:00.

    y = x + a*sin(2*pi*(x - phi)) / (2*pi) is monotonic for a < 1, so order within a day is kept;
    the density of y is highest where dy/dx is lowest, at x = phi + 0.5 = 14/24. `ts` must be a
    plain column: the expression repeats it (PostgreSQL does not share common subexpressions).
    """
    x = f"(date_part('epoch', {ts} - date_trunc('day', {ts})) / 86400.0)"
    return (
        f"(date_trunc('day', {ts}) + ({x} + 0.6 * sin(2 * pi() * ({x} - 2 / 24.0)) / (2 * pi()))"
        " * INTERVAL '1 day')"
    )


def _exec(sql: str, params: Sequence[Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _scalar(sql: str, params: Sequence[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _droppable_indexes(table: str) -> list[tuple[str, str, str | None]]:
    """(name, CREATE INDEX statement, comment) of the indexes that back no constraint."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, pg_get_indexdef(i.indexrelid), obj_description(i.indexrelid, 'pg_class')
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = %s::regclass
            AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
            ORDER BY c.relname
            """,
            [table],
        )
        return cursor.fetchall()


def _droppable_constraints(table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's foreign keys and of its UNIQUE constraints no foreign key needs."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.conrelid = %s::regclass
            AND (c.contype = 'f'
                 OR (c.contype = 'u' AND NOT EXISTS (
                        SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid)))
            ORDER BY c.contype DESC, c.conname
            """,
            [table],
        )
        return cursor.fetchall()


# The rollup triggers of migration 0230 paused during a bulk load (insert/update/delete only: the
# TRUNCATE triggers stay on, so --reset empties the rollups with the tables).
ROLLUP_TRIGGERS = [
    ("leads", "leads_rollup_insert"), ("leads", "leads_rollup_update"), ("leads", "leads_rollup_delete"),
    ("lead_sync_history", "history_rollup_insert"), ("lead_sync_history", "history_rollup_update"),
    ("lead_sync_history", "history_rollup_delete"),
]


def seed_demo(
    *,
    leads: int = 20_000,
    history: int = 200_000,
    days: int = 30,
    seed: int = 42,
    reset: bool = False,
    if_empty: bool = False,
    progress: Progress | None = None,
    now: datetime | None = None,
    older_copies: int = 0,
) -> SeedResult:
    """Fill customer_segments, leads and lead_sync_history with demo data, in one transaction.

    reset: empty the three tables first (TRUNCATE ... CASCADE). if_empty: do nothing when there
    are leads already. now: the anchor of every relative time (default: the current time); the
    same seed and the same `now` give identical rows. older_copies: repeat the seeded leads and
    history that many times further back, each copy `days` days before the previous one, as
    settled history (see _insert_older_copies): the same write rate over a longer past, and the
    last `days` days exactly as without them. Without either, tables that already hold leads are refused (ValueError):
    demo ids are derived from the seed and would collide.
    """
    if leads < 0 or history < 0:
        raise ValueError("--leads and --history must not be negative")
    if days < 1:
        raise ValueError("--days must be at least 1")
    if older_copies < 0:
        raise ValueError("--older-copies must not be negative")
    if history and not leads:
        raise ValueError("history needs leads: set --leads above 0")
    say = progress or (lambda message: None)
    started = time.monotonic()
    anchor_at = now or timezone.now()
    if timezone.is_naive(anchor_at):
        raise ValueError("--now needs a time zone, e.g. 2026-11-30T12:00:00+00:00")
    # A literal, so the long generated statements read it as a constant (no parameter plumbing).
    anchor = f"'{anchor_at.isoformat()}'::timestamptz"

    def step(message: str) -> None:
        say(f"[{time.monotonic() - started:6.1f}s] {message}")

    # The rollups can only be rebuilt in a transaction of their own (REPEATABLE READ): called inside
    # someone's transaction (a test), the bulk load keeps the rollup triggers on instead.
    rebuild_rollups_after = not connection.in_atomic_block
    with transaction.atomic():
        existing = _scalar("SELECT EXISTS (SELECT 1 FROM leads)")
        if existing and if_empty and not reset:
            step("leads already present: nothing to do (--if-empty)")
            return SeedResult(0, 0, 0, time.monotonic() - started, skipped=True)
        if existing and not reset:
            raise ValueError("leads already hold data: use --reset to replace it (or --if-empty to keep it)")
        # Bulk-load settings, local to this transaction. Times are bucketed in UTC below.
        _exec("SET LOCAL synchronous_commit = off")
        # JIT would spend many seconds compiling the long generated expressions below.
        _exec("SET LOCAL jit = off")
        # Sorts (the planning window, index builds) stay in memory instead of spilling to disk.
        _exec("SET LOCAL maintenance_work_mem = '1GB'")
        _exec("SET LOCAL work_mem = '512MB'")
        _exec("SET LOCAL TIME ZONE 'UTC'")
        # Deferred foreign-key checks of earlier work in this transaction would block TRUNCATE.
        _exec("SET CONSTRAINTS ALL IMMEDIATE")
        if reset:
            _exec("TRUNCATE lead_sync_history, leads, customer_segments RESTART IDENTITY CASCADE")
            step("emptied customer_segments, leads, lead_sync_history")

        segments = _seed_segments()
        step(f"{len(segments)} segments")

        # Indexes, unique and foreign keys are rebuilt once at the end: maintaining them row by row
        # is most of the cost of a bulk insert (an FK check locks the referenced row per insert).
        # All in this transaction: a failure rolls the DROPs back too.
        bulk = (leads + history) * (1 + older_copies) >= 100_000
        dropped: list[tuple[str, str, str | None]] = []
        foreign: list[tuple[str, str, str]] = []
        if bulk:
            for table in ("lead_sync_history", "leads"):
                for name, definition in _droppable_constraints(table):
                    _exec(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                    foreign.append((table, name, definition))
                for name, create, comment in _droppable_indexes(table):
                    _exec(f'DROP INDEX "{name}"')
                    dropped.append((name, create, comment))
            step(f"dropped {len(dropped)} secondary indexes and {len(foreign)} constraints for the bulk load")
            # The demo rows are generated with every column set (updated_at, sync_started_at), so the
            # per-row touch trigger has nothing to add; it is re-enabled in this same transaction.
            _exec("ALTER TABLE leads DISABLE TRIGGER leads_touch")
            # A delta per bulk row would double the load; the rollups are rebuilt from the rows at the end.
            for table, trigger in ROLLUP_TRIGGERS if rebuild_rollups_after else []:
                _exec(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")

        rnd = _Random(seed)
        _stage_leads(rnd, leads=leads, history=history, days=days, anchor=anchor)
        step(f"planned {leads:,} leads")
        inserted_leads = _insert_leads(segments)
        step(f"{inserted_leads:,} leads")
        inserted_history = 0
        if history:
            bounds = [leads * i // CHUNKS for i in range(CHUNKS + 1)]
            for low, high in zip(bounds, bounds[1:]):
                if high > low:
                    inserted_history += _insert_history(rnd, low=low + 1, high=high, anchor=anchor)
                    step(f"{inserted_history:,} / {history:,} history rows")
        _exec("DROP TABLE seed_leads")
        if older_copies:
            copied_leads, copied_history = _insert_older_copies(older_copies, days=days)
            inserted_leads += copied_leads
            inserted_history += copied_history
            step(f"{older_copies} older copies: {copied_leads:,} leads, {copied_history:,} history rows")
        if bulk:
            _exec("ALTER TABLE leads ENABLE TRIGGER leads_touch")
            for table, trigger in ROLLUP_TRIGGERS if rebuild_rollups_after else []:
                _exec(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")

        for name, create, comment in dropped:
            _exec(create)
            if comment is not None:
                _exec(f'COMMENT ON INDEX "{name}" IS {_lit(comment)}')
            step(f"rebuilt index {name}")
        for table, name, definition in foreign:
            _exec(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            step(f"re-added constraint {name}")

    # Outside the transaction: ANALYZE so the planner knows the new sizes, then the summary.
    _exec("ANALYZE customer_segments, leads, lead_sync_history")
    step("analyzed")
    # After a reset too: TRUNCATE restarts the all-time totals, which must still cover the archive.
    if (bulk or reset) and rebuild_rollups_after:
        rebuilt = rollups.rebuild_rollups()
        step(f"rebuilt the rollups ({rebuilt.history_days} days of history)")
    _exec("SELECT refresh_daily_summary()")
    step("refreshed lead_sync_daily_summary")
    return SeedResult(inserted_leads, inserted_history, len(segments), time.monotonic() - started)


def _insert_older_copies(copies: int, *, days: int) -> tuple[int, int]:
    """Copy every lead and attempt seeded so far `copies` times, copy k moved k * `days` days back.

    What a sync that has run at the same rate for longer would have behind it: the copies are
    settled (every copied lead synced, nothing in flight, no open error message), while the last
    `days` days hold exactly the rows a seed without copies gives. Comparing a seed with copies to
    one without therefore isolates what the size of the tables costs, at the same write rate.
    Copy k's ids are derived from the original's, so the same seed still gives the same rows.
    """
    shift = f"(k * {days}) * INTERVAL '1 day'"
    leads = _exec(
        f"""
        INSERT INTO leads (id, twenty_id, first_name, last_name, email, phone, company_name, job_title,
                           lead_source, lead_score, segment_id, inferred_segment, segment_confidence,
                           sync_status, sync_direction, last_synced_at, sync_started_at, sync_error_count,
                           sync_error_message, created_at, updated_at)
        SELECT md5(l.id::text || ':older:' || k)::uuid,
               md5(COALESCE(l.twenty_id, l.id::text) || ':older-twenty:' || k)::uuid::text,
               l.first_name, l.last_name, l.email, l.phone, l.company_name, l.job_title,
               l.lead_source, l.lead_score, l.segment_id, l.inferred_segment, l.segment_confidence,
               '{LeadSyncStatus.SYNCED}', l.sync_direction,
               COALESCE(l.last_synced_at, l.created_at) - {shift},
               NULL, l.sync_error_count, NULL,
               l.created_at - {shift},
               COALESCE(l.last_synced_at, l.created_at) - {shift}
        FROM leads l CROSS JOIN generate_series(1, {copies}) AS k
        ORDER BY 1
        """
    )
    history = _exec(
        f"""
        INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, fields_changed,
                                       error_message, created_at, synced_at)
        SELECT md5(h.lead_id::text || ':older:' || k)::uuid, h.sync_type, h.sync_direction, h.sync_status,
               h.fields_changed, h.error_message, h.created_at - {shift}, h.synced_at - {shift}
        FROM lead_sync_history h CROSS JOIN generate_series(1, {copies}) AS k
        """
    )
    return leads, history


def _seed_segments() -> list[str]:
    """Upsert the demo segments by name; return their ids in SEGMENTS order."""
    values = ", ".join(f"({_lit(name)}, {_lit(description)})" for name, description in SEGMENTS)
    _exec(
        f"""
        INSERT INTO customer_segments (id, segment_name, description)
        SELECT md5('leadsync-demo-segment:' || name)::uuid, name, description
        FROM (VALUES {values}) AS v(name, description)
        ON CONFLICT ((md5(segment_name))) DO NOTHING
        """
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT segment_name, id::text FROM customer_segments WHERE segment_name = ANY(%s)",
            [[name for name, _ in SEGMENTS]],
        )
        ids = dict(cursor.fetchall())
    return [ids[name] for name, _ in SEGMENTS]


def _stage_leads(rnd: _Random, *, leads: int, history: int, days: int, anchor: str) -> None:
    """A temporary plan of every lead (its number n, attributes and how many attempts it gets).

    Each layer ends in OFFSET 0, an optimisation fence: without it the planner inlines the layers
    and evaluates every derived column once per reference instead of once per row.
    """
    u = rnd.u
    message_index = " ".join(
        f"WHEN u_message < {share} THEN {i + 1}" for i, (_, share) in enumerate(ERROR_MESSAGES[:-1])
    )
    first = _text_array(FIRST_NAMES)
    last = _text_array(LAST_NAMES)
    _exec(
        f"""
        CREATE TEMP TABLE seed_leads ON COMMIT DROP AS
        WITH draws AS (
            SELECT n,
                   {rnd.case(u('n', 1), LEAD_STATUSES)} AS status,
                   -- day of creation: more leads recently (u^1.5 leans towards 0 days ago)
                   date_trunc('day', {anchor}) - floor({days} * power({u('n', 3)}, 1.5)) * INTERVAL '1 day'
                       + {u('n', 4)} * INTERVAL '1 day' AS raw_created,
                   {u('n', 5)} AS u_fresh, {u('n', 6)} AS u_age, {u('n', 7)} AS u_weekend,
                   {u('n', 8)} AS u_synced, {u('n', 9)} AS u_stuck, {u('n', 10)} AS u_started,
                   {u('n', 11)} AS u_many, {u('n', 12)} AS u_count, {u('n', 13)} AS u_weight,
                   {u('n', 14)} AS u_direction, {u('n', 20)} AS u_message, {u('n', 29)} AS u_burst
            FROM generate_series(1, {leads}) AS n
            OFFSET 0
        ),
        weekly AS (
            -- 60 % of weekend leads move to a weekday of the week before: the weekly rhythm
            SELECT d.*,
                   raw_created - CASE WHEN date_part('isodow', raw_created) >= 6 AND u_weekend < 0.6
                                      THEN (date_part('isodow', raw_created) - 5 + floor(u_weekend / 0.6 * 5))
                                           * INTERVAL '1 day'
                                      ELSE INTERVAL '0' END AS day_created
            FROM draws d
            OFFSET 0
        ),
        shaped AS (
            SELECT w.*,
                   CASE
                       -- pending: 60 % fresh (last hour), 40 % stale (1 h - 2 days)
                       WHEN status = 'pending' AND u_fresh < 0.6
                           THEN {anchor} - u_age * INTERVAL '55 minutes' - INTERVAL '1 minute'
                       WHEN status = 'pending'
                           THEN {anchor} - INTERVAL '1 hour 5 minutes' - u_age * INTERVAL '47 hours'
                       -- today's leads later than 2 h ago (or in the future) move back into the
                       -- 22 hours before that, spread out: a clamp gave hundreds of them one timestamp
                       WHEN {_warp_day('day_created')} > {anchor} - INTERVAL '2 hours'
                           THEN {anchor} - INTERVAL '2 hours' - {u('n', 38)} * INTERVAL '22 hours'
                       ELSE {_warp_day('day_created')}
                   END AS created_at
            FROM weekly w
            OFFSET 0
        ),
        timed AS (
            SELECT s.*,
                   CASE status
                       WHEN 'pending' THEN NULL
                       -- errors are recent: within the last 3 days, most in the last hours
                       WHEN 'error' THEN GREATEST(created_at, {anchor} - power(u_synced, 2) * INTERVAL '3 days')
                       WHEN 'syncing'
                           THEN created_at + (GREATEST({anchor} - INTERVAL '4 hours', created_at) - created_at) * u_synced
                       ELSE {anchor} - ({anchor} - created_at) * power(u_synced, 1.3)
                   END AS last_synced_at,
                   CASE WHEN status = 'syncing' THEN
                       CASE WHEN u_stuck < 0.7
                            THEN {anchor} - u_started * INTERVAL '9 minutes'                       -- in flight
                            ELSE {anchor} - INTERVAL '15 minutes' - u_started * INTERVAL '3 hours'  -- stuck
                       END
                   END AS sync_started_at,
                   CASE status
                       WHEN 'error' THEN CASE WHEN u_many < 0.15
                                              THEN 6 + floor(u_count * 10)::int  -- more than 5 errors
                                              ELSE 1 + floor(power(u_count, 2) * 5)::int END
                       WHEN 'synced' THEN CASE WHEN u_many < 0.03 THEN 1 + floor(u_count * 2)::int ELSE 0 END
                       WHEN 'conflict' THEN floor(u_count * 2)::int
                       ELSE 0
                   END AS error_count,
                   CASE {message_index} ELSE {len(ERROR_MESSAGES)} END AS message_no
            FROM shaped s
            OFFSET 0
        ),
        bursted AS (
            -- The 429 burst (50 to 15 minutes ago) left 40 % of the leads it hit in error.
            SELECT t.*,
                   status = 'synced' AND u_burst < 0.4
                   AND last_synced_at BETWEEN {anchor} - INTERVAL '50 minutes' AND {anchor} - INTERVAL '15 minutes' AS hit
            FROM timed t
            OFFSET 0
        ),
        planned AS (
            SELECT b.*,
                   CASE WHEN hit THEN 'error' ELSE status END AS final_status,
                   CASE WHEN hit THEN 1 ELSE error_count END AS final_errors,
                   CASE WHEN hit THEN {_message_no('Twenty API 429')} ELSE message_no END AS final_message,
                   -- attempts per lead: none for pending, a heavy tail for the rest, extra for errors
                   CASE WHEN status = 'pending' THEN 0::float8
                        ELSE 1 + 6 * power(u_weight, 4) + CASE WHEN hit THEN 1 ELSE error_count END END AS weight
            FROM bursted b
        ),
        cumulative AS (
            -- numeric sums are exact: the last lead's running sum equals the total, so the shares
            -- add up to exactly `history` (float8 sums in two orders could end one attempt short)
            SELECT p.*, SUM(weight::numeric) OVER (ORDER BY n) AS cum, SUM(weight::numeric) OVER () AS total
            FROM planned p
        )
        SELECT n,
               md5('leadsync-demo:{rnd.seed}:' || n)::uuid AS id,
               final_status AS status,
               created_at,
               last_synced_at,
               sync_started_at,
               final_errors AS error_count,
               final_message AS message_no,
               -- exact total: each lead gets the integer steps of its cumulative share of `history`
               (floor({history} * cum / NULLIF(total, 0))
                - floor({history} * (cum - weight::numeric) / NULLIF(total, 0)))::int AS attempts,
               floor({history} * (cum - weight::numeric) / NULLIF(total, 0))::bigint AS first_attempt,
               CASE WHEN u_direction < 0.6 THEN 'bidirectional'
                    WHEN u_direction < 0.85 THEN 'twenty_to_supabase'
                    ELSE 'supabase_to_twenty' END AS direction,
               {rnd.pick(first, len(FIRST_NAMES), 'n', 15)} AS first_name,
               CASE WHEN {u('n', 16)} < 0.02 THEN NULL
                    ELSE {rnd.pick(last, len(LAST_NAMES), 'n', 16)} END AS last_name,
               1 + floor({u('n', 17)} * {len(COMPANIES)})::int AS company_no,
               {rnd.pick(_text_array(JOB_TITLES), len(JOB_TITLES), 'n', 18)} AS job_title,
               {rnd.case(u('n', 19), LEAD_SOURCES)} AS lead_source,
               CASE WHEN {u('n', 21)} < 0.02 THEN NULL
                    ELSE round(({u('n', 22)} + {u('n', 23)}) * 50)::int END AS lead_score,
               CASE WHEN {u('n', 24)} < 0.1 THEN NULL
                    ELSE 1 + floor(power({u('n', 25)}, 1.3) * {len(SEGMENTS)})::int END AS segment_no,
               {u('n', 26)} AS confidence_draw,
               {u('n', 27)} AS twenty_draw,
               {u('n', 28)} AS email_draw
        FROM cumulative
        """
    )
    _exec("CREATE UNIQUE INDEX ON seed_leads (n)")
    _exec("ANALYZE seed_leads")


def _insert_leads(segments: list[str]) -> int:
    # Arrays are inlined as constants: the planner folds them once (a column would be detoasted per row).
    segment_ids = "ARRAY[" + ", ".join(f"'{sid}'" for sid in segments) + "]::uuid[]"
    segment_names = _text_array([name for name, _ in SEGMENTS])
    domains = _text_array(["".join(ch for ch in c.lower() if ch.isalnum()) + ".example" for c in COMPANIES])
    return _exec(
        f"""
        INSERT INTO leads (id, twenty_id, first_name, last_name, email, phone, company_name, job_title,
                           lead_source, lead_score, segment_id, inferred_segment, segment_confidence,
                           sync_status, sync_direction, last_synced_at, sync_started_at, sync_error_count,
                           sync_error_message, created_at, updated_at)
        SELECT s.id,
               CASE WHEN s.status IN ('synced', 'conflict', 'syncing')
                         OR (s.status = 'error' AND s.twenty_draw < 0.6)
                    THEN md5('leadsync-demo-twenty:' || s.id)::uuid::text END,
               s.first_name,
               s.last_name,
               -- 0.3 % share an address with the previous lead: the duplicates the spec's guide hunts
               CASE WHEN s.email_draw < 0.003 THEN lag(s.email) OVER (ORDER BY s.n) ELSE s.email END,
               '+1 555 ' || lpad((n % 10000)::text, 4, '0'),
               ({_text_array(COMPANIES)})[s.company_no],
               s.job_title,
               s.lead_source,
               s.lead_score,
               ({segment_ids})[s.segment_no],
               CASE WHEN s.segment_no IS NULL THEN NULL
                    WHEN s.confidence_draw < 0.85 THEN ({segment_names})[s.segment_no]
                    ELSE ({segment_names})[1 + s.segment_no % {len(SEGMENTS)}] END,
               CASE WHEN s.segment_no IS NULL THEN NULL
                    ELSE round((0.45 + 0.549 * s.confidence_draw)::numeric, 3) END,
               s.status,
               s.direction,
               s.last_synced_at,
               s.sync_started_at,
               s.error_count,
               CASE WHEN s.status = 'error' THEN ({_MESSAGES})[s.message_no] END,
               s.created_at,
               COALESCE(s.sync_started_at, GREATEST(s.created_at, s.last_synced_at))
        FROM (
            SELECT l.*, lower(concat_ws('.', l.first_name, replace(l.last_name, '-', '')) || l.n
                              || '@' || ({domains})[l.company_no]) AS email
            FROM seed_leads l
        ) s
        ORDER BY s.id  -- primary-key order: the index grows at its right edge
        """
    )


def _insert_history(rnd: _Random, *, low: int, high: int, anchor: str) -> int:
    """The attempts of leads low..high: x is the attempt's global number, j its number for the lead.

    Layers end in OFFSET 0 (optimisation fences) so each derived column is computed once per row.
    """
    u = rnd.u
    message_index = " ".join(
        f"WHEN u_message < {share} THEN {i + 1}" for i, (_, share) in enumerate(ERROR_MESSAGES[:-1])
    )
    # Outage hours use one kind of error: 429 / 503 / timeout / 500 (numbers in ERROR_MESSAGES).
    burst_message = (
        f"CASE WHEN u_burst_kind < 0.45 THEN {_message_no('Twenty API 429')} "
        f"WHEN u_burst_kind < 0.65 THEN {_message_no('Twenty API 503')} "
        f"WHEN u_burst_kind < 0.85 THEN {_message_no('Timeout: Twenty')} ELSE {_message_no('Twenty API 500')} END"
    )
    return _exec(
        f"""
        INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, fields_changed,
                                       error_message, created_at, synced_at)
        SELECT lead_id, sync_type, sync_direction, sync_status,
               -- Changes of this lead's own fields: the new value is the lead's value, the old one
               -- a plausible earlier value of it (an initial, a shorter company name, a lower score,
               -- another title, a missing phone or surname). Conflicts show the two sides.
               CASE WHEN sync_status = '{HistoryStatus.CONFLICT}' AND u_fields < 0.5
                        THEN jsonb_build_object('company_name', jsonb_build_object(
                                 'twenty', CASE WHEN position(' ' IN company_name) > 0 THEN split_part(company_name, ' ', 1)
                                                ELSE company_name || ' Inc.' END,
                                 'supabase', company_name))
                    WHEN sync_status = '{HistoryStatus.CONFLICT}'
                        THEN jsonb_build_object('job_title', jsonb_build_object('twenty', old_title, 'supabase', job_title))
                    WHEN sync_status = '{HistoryStatus.SYNCED}' AND u_payload < 0.7 THEN
                        CASE floor(u_fields * 6)::int
                            WHEN 0 THEN jsonb_build_object('first_name', jsonb_build_array(left(first_name, 1) || '.', first_name))
                            WHEN 1 THEN CASE WHEN last_name IS NOT NULL
                                             THEN jsonb_build_object('last_name', jsonb_build_array(NULL, last_name))
                                             ELSE jsonb_build_object('phone', jsonb_build_array(NULL, phone)) END
                            WHEN 2 THEN jsonb_build_object('job_title', jsonb_build_array(old_title, job_title))
                            WHEN 3 THEN CASE WHEN lead_score IS NOT NULL
                                             THEN jsonb_build_object('lead_score', jsonb_build_array(
                                                      GREATEST(lead_score - 1 - floor(u_change * 15)::int, 0), lead_score))
                                             ELSE jsonb_build_object('job_title', jsonb_build_array(old_title, job_title)) END
                            WHEN 4 THEN CASE WHEN position(' ' IN company_name) > 0
                                             THEN jsonb_build_object('company_name', jsonb_build_array(
                                                      split_part(company_name, ' ', 1), company_name))
                                             ELSE jsonb_build_object('company_name', jsonb_build_array(
                                                      lower(company_name), company_name)) END
                            ELSE jsonb_build_object('phone', jsonb_build_array(NULL, phone))
                        END
               END,
               error_message,
               -- attempts that timed out took as long as the timeout in their message
               t - CASE WHEN message_no = {_message_no('Timeout: Twenty')} AND sync_status = '{HistoryStatus.ERROR}'
                            THEN INTERVAL '30 seconds' + u_duration * INTERVAL '1 second'
                        WHEN message_no = {_message_no('Timeout: Supabase')} AND sync_status = '{HistoryStatus.ERROR}'
                            THEN INTERVAL '10 seconds' + u_duration * INTERVAL '1 second'
                        WHEN sync_type = '{SyncType.INITIAL_IMPORT}'
                            THEN INTERVAL '1 second' + u_duration * INTERVAL '9 seconds'
                        ELSE INTERVAL '200 milliseconds' + power(u_duration, 3) * INTERVAL '4800 milliseconds' END,
               t
        FROM (
            SELECT k.*,
                   CASE WHEN kind IN ('error', 'burst', 'burst429') THEN '{HistoryStatus.ERROR}'
                        WHEN kind = 'conflict' THEN '{HistoryStatus.CONFLICT}'
                        ELSE '{HistoryStatus.SYNCED}' END AS sync_status,
                   CASE WHEN kind IN ('error', 'burst', 'burst429') THEN ({_MESSAGES})[message_no] END AS error_message
            FROM (
                SELECT c.*,
                       CASE WHEN kind = 'burst429' THEN {_message_no('Twenty API 429')}
                            WHEN kind = 'burst' THEN {burst_message}
                            WHEN kind = 'error' AND own_error THEN lead_message_no
                            ELSE CASE {message_index} ELSE {len(ERROR_MESSAGES)} END END AS message_no
                FROM (
                    SELECT b.*,
                           CASE
                               -- the lead's own trailing errors, and its final status
                               WHEN own_error THEN 'error'
                               WHEN j = attempts AND status IN ('synced', 'conflict') THEN status
                               -- the 429 burst from 50 to 15 minutes ago
                               WHEN t BETWEEN {anchor} - INTERVAL '50 minutes' AND {anchor} - INTERVAL '15 minutes'
                                    AND u_kind < 0.5 THEN 'burst429'
                               -- outages: about one hour in 97, chosen by the hour's number
                               WHEN {u('hour_no', 41)} < 1 / 97.0 AND u_kind < 0.45 THEN 'burst'
                               WHEN u_kind < 0.025 THEN 'error'
                               WHEN u_kind < 0.030 THEN 'conflict'
                               ELSE 'synced'
                           END AS kind,
                           {u('hour_no', 42)} AS u_burst_kind
                    FROM (
                        SELECT w.*, floor(date_part('epoch', t) / 3600)::bigint AS hour_no
                        FROM (
                            -- attempt j of k is spread evenly over the lead's life, warped to the
                            -- daily rhythm; the last one is at last_synced_at
                            SELECT a.*,
                                   CASE WHEN j = attempts THEN last_synced_at
                                        ELSE GREATEST(created_at, LEAST(last_synced_at, {_warp_day('spread')}))
                                   END AS t
                            FROM (
                                SELECT s.id AS lead_id, s.status, s.created_at, s.last_synced_at, s.attempts,
                                       s.first_name, s.last_name, s.job_title, s.lead_score,
                                       ({_text_array(COMPANIES)})[s.company_no] AS company_name,
                                       '+1 555 ' || lpad((s.n % 10000)::text, 4, '0') AS phone,
                                       (array_remove({_text_array(JOB_TITLES)}, s.job_title))[
                                           1 + floor({u('s.first_attempt + j', 38)} * {len(JOB_TITLES) - 1})::int] AS old_title,
                                       {u('s.first_attempt + j', 39)} AS u_change,
                                       s.message_no AS lead_message_no, j,
                                       s.status = 'error' AND j > s.attempts - LEAST(s.error_count, s.attempts)
                                           AS own_error,
                                       s.created_at + (s.last_synced_at - s.created_at)
                                           * ((j - 1 + {u('s.first_attempt + j', 30)}) / s.attempts) AS spread,
                                       CASE
                                           WHEN s.status = 'error' AND j > 1
                                                AND j > s.attempts - LEAST(s.error_count, s.attempts)
                                               THEN '{SyncType.RETRY}'
                                           WHEN j = 1 AND {u('s.first_attempt + j', 31)} < 0.5
                                               THEN '{SyncType.INITIAL_IMPORT}'
                                           ELSE (ARRAY['{SyncType.SCHEDULED}', '{SyncType.WEBHOOK_UPDATE}',
                                                       '{SyncType.MANUAL}', '{SyncType.RETRY}'])[
                                               width_bucket({u('s.first_attempt + j', 32)},
                                                            ARRAY[0, 0.50, 0.90, 0.93]::float8[])]
                                       END AS sync_type,
                                       CASE WHEN s.direction <> 'bidirectional' THEN s.direction
                                            WHEN {u('s.first_attempt + j', 36)} < 0.5 THEN 'twenty_to_supabase'
                                            ELSE 'supabase_to_twenty' END AS sync_direction,
                                       {u('s.first_attempt + j', 37)} AS u_kind,
                                       {u('s.first_attempt + j', 40)} AS u_message,
                                       {u('s.first_attempt + j', 33)} AS u_payload,
                                       {u('s.first_attempt + j', 34)} AS u_fields,
                                       {u('s.first_attempt + j', 35)} AS u_duration
                                FROM seed_leads s
                                CROSS JOIN LATERAL generate_series(1, s.attempts) AS j
                                WHERE s.n BETWEEN {low} AND {high} AND s.attempts > 0
                                OFFSET 0
                            ) a
                            OFFSET 0
                        ) w
                        OFFSET 0
                    ) b
                    OFFSET 0
                ) c
                OFFSET 0
            ) k
        ) h
        """
    )
