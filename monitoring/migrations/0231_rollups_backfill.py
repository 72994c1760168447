"""Backfill the rollups from the existing rows, and feed lead_sync_daily_summary from them.

The backfill (also `manage.py rebuild_rollups`, monitoring.services.rollups.rebuild_rollups())
goes in short batches, each its own REPEATABLE READ transaction under the compactor's lock: the
leads per status (one batch), then one UTC day of lead flow per batch, one UTC day of history
per batch, then the all-time totals. Each batch:
- first folds every delta its snapshot sees (compact_rollups()), then rewrites its slice of the
  rollups from the tables as of the same snapshot. What stays in the delta tables is exactly
  what that snapshot does not see (transactions that commit later), so slice + remaining deltas =
  the tables at any later moment, whatever the commit order; the sync keeps writing throughout
  and nothing is counted twice or missed.
- reads its day through an index range scan on synced_at / created_at and takes no lock on the
  sync's tables beyond ACCESS SHARE (what any SELECT takes) for its own short transaction.
- Between batches the lock is free (the compactor may take it) and vacuum's horizon moves on; the
  batches themselves fold the deltas as they go, and the pages read rollups that are exact for
  every slice (rewritten, or as right as before). The longest batches are the leads (every lead,
  grouped by status) and the all-time totals (every hot and archived attempt, counted).
- the all-time totals are never lowered: max(current, hot + archived rows).

The batch functions are created with CREATE OR REPLACE: migration 0305 runs this same SQL on
databases that ran the first version of this migration (one transaction for the whole rebuild).

lead_sync_daily_summary keeps its name, columns and unique index for the spec's SQL, but reads
lead_sync_daily_rollup, so refresh_daily_summary() costs a few hundred rollup rows.
"""
from __future__ import annotations

from django.db import migrations, transaction

BATCH_FUNCTIONS = """
CREATE OR REPLACE FUNCTION rollup_rebuild_begin() RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    IF current_setting('transaction_isolation') <> 'repeatable read' THEN
        RAISE EXCEPTION 'a rollup rebuild batch must run in a REPEATABLE READ transaction (its fold and its reads share one snapshot)';
    END IF;
    -- The caller holds the compactor's lock (session level, taken before this transaction's
    -- snapshot), so no fold commits between the snapshot and the fold below: one taken here, after
    -- the snapshot, would let a compaction slip in between.
    IF NOT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND objsubid = 1
          AND classid::bigint = ((hashtext('monitoring.compact_rollups')::bigint >> 32) & 4294967295)
          AND objid::bigint = (hashtext('monitoring.compact_rollups')::bigint & 4294967295)
    ) OR compact_rollups() < 0 THEN
        RAISE EXCEPTION 'a rollup rebuild batch needs the compactor''s lock, taken before its transaction';
    END IF;
    -- compact_rollups() above folded every delta this snapshot sees: the deltas left are the
    -- writes it does not see.
END
$f$;

CREATE OR REPLACE FUNCTION rollup_rebuild_leads() RETURNS integer LANGUAGE plpgsql AS $f$
DECLARE
    v_rows integer;
BEGIN
    PERFORM rollup_rebuild_begin();
    DELETE FROM rollup_leads;
    INSERT INTO rollup_leads (sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty,
                              lead_count, error_count_sum, score_sum, score_n, confidence_sum, confidence_n)
    SELECT sync_status, segment_id, lead_source, sync_direction, last_synced_at IS NULL, twenty_id IS NOT NULL,
           COUNT(*), SUM(sync_error_count), COALESCE(SUM(lead_score), 0), COUNT(lead_score),
           COALESCE(SUM(segment_confidence), 0), COUNT(segment_confidence)
    FROM leads GROUP BY 1, 2, 3, 4, 5, 6;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$f$;

CREATE OR REPLACE FUNCTION rollup_rebuild_leads_created_day(p_day date) RETURNS integer LANGUAGE plpgsql AS $f$
DECLARE
    v_from timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
    v_to timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
    v_rows integer;
BEGIN
    PERFORM rollup_rebuild_begin();
    DELETE FROM rollup_leads_created WHERE grain = ANY ('{h,m}') AND bucket >= v_from AND bucket < v_to;
    INSERT INTO rollup_leads_created (grain, bucket, lead_source, sync_direction, sync_status, in_twenty,
                                      lead_count, score_sum, score_n)
    SELECT g.grain, date_trunc(g.unit, l.created_at, 'UTC'), lead_source, sync_direction,
           CASE WHEN g.grain = 'h' THEN sync_status ELSE '*' END, g.grain = 'h' AND twenty_id IS NOT NULL,
           COUNT(*), COALESCE(SUM(lead_score), 0), COUNT(lead_score)
    FROM leads l CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
    WHERE l.created_at >= v_from AND l.created_at < v_to
      AND (g.grain = 'h' OR l.created_at >= now() - interval '8 days')
    GROUP BY 1, 2, 3, 4, 5, 6;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$f$;

CREATE OR REPLACE FUNCTION rollup_rebuild_history_day(p_day date) RETURNS integer LANGUAGE plpgsql AS $f$
DECLARE
    v_from timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
    v_to timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
    v_close_before date := ((now() - interval '15 minutes') AT TIME ZONE 'UTC')::date;
    v_rows integer;
BEGIN
    PERFORM rollup_rebuild_begin();
    DELETE FROM rollup_history WHERE grain = ANY ('{h,m}') AND bucket >= v_from AND bucket < v_to;
    DELETE FROM rollup_durations WHERE bucket >= v_from AND bucket < v_to;
    DELETE FROM rollup_error_groups WHERE grain = ANY ('{h,m}') AND bucket >= v_from AND bucket < v_to;
    DELETE FROM rollup_daily WHERE day = p_day;
    DELETE FROM rollup_daily_leads WHERE day = p_day;
    DELETE FROM rollup_closed_days WHERE day = p_day;

    INSERT INTO rollup_history (grain, bucket, sync_direction, sync_type, sync_status, attempts, duration_sum, duration_n)
    SELECT g.grain, date_trunc(g.unit, h.synced_at, 'UTC'), sync_direction, sync_type, sync_status, COUNT(*),
           SUM(EXTRACT(EPOCH FROM (h.synced_at - h.created_at))), COUNT(*)
    FROM lead_sync_history h CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
    WHERE h.synced_at >= v_from AND h.synced_at < v_to
      AND (g.grain = 'h' OR h.synced_at >= now() - interval '8 days')
    GROUP BY 1, 2, 3, 4, 5;
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    INSERT INTO rollup_durations (bucket, bin, n)
    SELECT date_trunc('hour', synced_at, 'UTC'),
           rollup_duration_bin(EXTRACT(EPOCH FROM (synced_at - created_at))::double precision), COUNT(*)
    FROM lead_sync_history
    WHERE synced_at >= v_from AND synced_at < v_to AND sync_status = 'synced'
    GROUP BY 1, 2;

    WITH e AS (
        SELECT synced_at, COALESCE(error_message, '(no message)') AS message FROM lead_sync_history
        WHERE synced_at >= v_from AND synced_at < v_to AND sync_status = 'error'
    ), fp AS (
        SELECT message, lead_sync_error_fingerprint(message) AS fingerprint FROM (SELECT DISTINCT message FROM e) m
    )
    INSERT INTO rollup_error_groups (grain, bucket, fingerprint, n)
    SELECT g.grain, date_trunc(g.unit, e.synced_at, 'UTC'), fp.fingerprint, COUNT(*)
    FROM e JOIN fp USING (message) CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
    WHERE g.grain = 'h' OR e.synced_at >= now() - interval '8 days'
    GROUP BY 1, 2, 3;

    IF p_day < v_close_before THEN
        PERFORM rollup_recompute_day(p_day);
        INSERT INTO rollup_closed_days (day) VALUES (p_day) ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO rollup_daily_leads (day, sync_direction, sync_status, lead_id, n)
        SELECT p_day, sync_direction, sync_status, lead_id, COUNT(*) FROM lead_sync_history
        WHERE synced_at >= v_from AND synced_at < v_to
        GROUP BY 2, 3, 4;
        INSERT INTO rollup_daily (day, sync_direction, sync_status, sync_count, unique_leads)
        SELECT p_day, sync_direction, sync_status, SUM(n), COUNT(*) FROM rollup_daily_leads
        WHERE day = p_day GROUP BY 2, 3;
    END IF;
    RETURN v_rows;
END
$f$;

CREATE OR REPLACE FUNCTION rollup_rebuild_totals() RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM rollup_rebuild_begin();
    -- Monotonic: never lower what Prometheus already scraped. The fold above left no delta this
    -- snapshot sees, so the totals alone must cover every row it sees.
    INSERT INTO rollup_attempt_totals AS r (sync_direction, attempts, errors, conflicts)
    SELECT sync_direction, COUNT(*), COUNT(*) FILTER (WHERE sync_status = 'error'),
           COUNT(*) FILTER (WHERE sync_status = 'conflict')
    FROM (SELECT sync_direction, sync_status FROM lead_sync_history
          UNION ALL SELECT sync_direction, sync_status FROM lead_sync_history_archive) AS a
    GROUP BY 1
    ON CONFLICT (sync_direction) DO UPDATE SET
        attempts = GREATEST(r.attempts, EXCLUDED.attempts), errors = GREATEST(r.errors, EXCLUDED.errors),
        conflicts = GREATEST(r.conflicts, EXCLUDED.conflicts);
END
$f$;

-- The UTC days a rebuild rewrites: every day the tables have a row on (an index skip scan: one
-- probe per day, not a read of the table) and every day a rollup still counts something on (so a
-- day whose rows are all gone is emptied too). Rollup rows whose sums are all zero stand for
-- nothing and are left out, as are the closed-day marks (a mark without rows is harmless).
CREATE OR REPLACE FUNCTION rollup_rebuild_days(OUT leads_days date[], OUT history_days date[])
LANGUAGE sql STABLE AS $f$
WITH RECURSIVE l(day) AS (
    SELECT (MIN(created_at) AT TIME ZONE 'UTC')::date FROM leads
    UNION ALL
    SELECT (SELECT (MIN(created_at) AT TIME ZONE 'UTC')::date FROM leads
            WHERE created_at >= (l.day + 1)::timestamp AT TIME ZONE 'UTC')
    FROM l WHERE l.day IS NOT NULL
), h(day) AS (
    SELECT (MIN(synced_at) AT TIME ZONE 'UTC')::date FROM lead_sync_history
    UNION ALL
    SELECT (SELECT (MIN(synced_at) AT TIME ZONE 'UTC')::date FROM lead_sync_history
            WHERE synced_at >= (h.day + 1)::timestamp AT TIME ZONE 'UTC')
    FROM h WHERE h.day IS NOT NULL
)
SELECT
    ARRAY(SELECT day FROM l WHERE day IS NOT NULL
          UNION SELECT (bucket AT TIME ZONE 'UTC')::date FROM rollup_leads_created
                WHERE lead_count <> 0 OR score_sum <> 0 OR score_n <> 0
          ORDER BY 1),
    ARRAY(SELECT day FROM h WHERE day IS NOT NULL
          UNION SELECT (bucket AT TIME ZONE 'UTC')::date FROM rollup_history
                WHERE attempts <> 0 OR duration_sum <> 0 OR duration_n <> 0
          UNION SELECT (bucket AT TIME ZONE 'UTC')::date FROM rollup_durations WHERE n <> 0
          UNION SELECT (bucket AT TIME ZONE 'UTC')::date FROM rollup_error_groups WHERE n <> 0
          UNION SELECT day FROM rollup_daily WHERE sync_count <> 0 OR unique_leads <> 0
          UNION SELECT day FROM rollup_daily_leads WHERE n <> 0
          ORDER BY 1)
$f$;

COMMENT ON FUNCTION rollup_rebuild_leads() IS
    'Rebuild batch: fold the visible deltas, then recount rollup_leads from leads. REPEATABLE READ, compactor lock held (monitoring.services.rollups.rebuild_rollups).';
COMMENT ON FUNCTION rollup_rebuild_leads_created_day(date) IS
    'Rebuild batch: fold the visible deltas, then recount one UTC day of rollup_leads_created from leads.';
COMMENT ON FUNCTION rollup_rebuild_history_day(date) IS
    'Rebuild batch: fold the visible deltas, then recount one UTC day of the history rollups from lead_sync_history.';
COMMENT ON FUNCTION rollup_rebuild_totals() IS
    'Rebuild batch: fold the visible deltas, then raise the all-time totals to the hot + archived rows (never lowers them).';
"""

DROP_BATCH_FUNCTIONS = """
DROP FUNCTION IF EXISTS rollup_rebuild_days();
DROP FUNCTION IF EXISTS rollup_rebuild_totals();
DROP FUNCTION IF EXISTS rollup_rebuild_history_day(date);
DROP FUNCTION IF EXISTS rollup_rebuild_leads_created_day(date);
DROP FUNCTION IF EXISTS rollup_rebuild_leads();
DROP FUNCTION IF EXISTS rollup_rebuild_begin();
"""

DAILY_SUMMARY_FROM_ROLLUPS = """
DROP MATERIALIZED VIEW IF EXISTS lead_sync_daily_summary;
CREATE MATERIALIZED VIEW IF NOT EXISTS lead_sync_daily_summary AS
SELECT sync_date, sync_direction, sync_status, sync_count, unique_leads FROM lead_sync_daily_rollup;
COMMENT ON MATERIALIZED VIEW lead_sync_daily_summary IS
    'Sync attempts per UTC day, direction and status: a copy of lead_sync_daily_rollup (rollups), refreshed by monitoring.refresh_daily_summary. The Daily summary page reads the live view.';
CREATE UNIQUE INDEX IF NOT EXISTS idx_lead_sync_daily_summary_key
    ON lead_sync_daily_summary (sync_date, sync_direction, sync_status) NULLS NOT DISTINCT;
COMMENT ON INDEX idx_lead_sync_daily_summary_key IS
    'Required by REFRESH MATERIALIZED VIEW CONCURRENTLY in refresh_daily_summary().';
"""

DAILY_SUMMARY_FROM_HISTORY = """
DROP MATERIALIZED VIEW IF EXISTS lead_sync_daily_summary;
CREATE MATERIALIZED VIEW IF NOT EXISTS lead_sync_daily_summary AS
SELECT
    DATE_TRUNC('day', synced_at, 'UTC') as sync_date,
    sync_direction,
    sync_status,
    COUNT(*) as sync_count,
    COUNT(DISTINCT lead_id) as unique_leads
FROM lead_sync_history
GROUP BY sync_date, sync_direction, sync_status;
COMMENT ON MATERIALIZED VIEW lead_sync_daily_summary IS
    'Sync attempts per UTC day, direction and status. Read by daily_summary(); refreshed by monitoring.refresh_daily_summary.';
CREATE UNIQUE INDEX IF NOT EXISTS idx_lead_sync_daily_summary_key
    ON lead_sync_daily_summary (sync_date, sync_direction, sync_status) NULLS NOT DISTINCT;
COMMENT ON INDEX idx_lead_sync_daily_summary_key IS
    'Required by REFRESH MATERIALIZED VIEW CONCURRENTLY in refresh_daily_summary(); also daily_summary() ordering.';
"""

LOCK_KEY = "hashtext('monitoring.compact_rollups')"


def run_batch(connection, sql: str, params: list | None = None) -> None:
    """One rebuild batch: its own REPEATABLE READ transaction, the compactor's lock held around it
    (session level, taken before the snapshot, so no fold commits between the two)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_lock({LOCK_KEY})")
        try:
            with transaction.atomic(using=connection.alias):
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute(sql, params or [])
        finally:
            cursor.execute(f"SELECT pg_advisory_unlock({LOCK_KEY})")


def backfill(apps, schema_editor) -> None:
    """Every rollup recomputed from the tables, one short batch at a time (0299 reuses this)."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(BATCH_FUNCTIONS)  # idempotent: 0299 may call this on a database that ran the first 0231
        cursor.execute("SELECT leads_days, history_days FROM rollup_rebuild_days()")
        leads_days, history_days = cursor.fetchone()
    run_batch(connection, "SELECT rollup_rebuild_leads()")
    for day in leads_days:
        run_batch(connection, "SELECT rollup_rebuild_leads_created_day(%s)", [day])
    for day in history_days:
        run_batch(connection, "SELECT rollup_rebuild_history_day(%s)", [day])
    run_batch(connection, "SELECT rollup_rebuild_totals()")


class Migration(migrations.Migration):
    atomic = False  # each backfill batch is its own REPEATABLE READ transaction

    dependencies = [("monitoring", "0230_rollups")]

    operations = [
        migrations.RunSQL(BATCH_FUNCTIONS, DROP_BATCH_FUNCTIONS),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunSQL(
            [DAILY_SUMMARY_FROM_ROLLUPS, "SELECT refresh_daily_summary()"],
            [DAILY_SUMMARY_FROM_HISTORY, "SELECT refresh_daily_summary()"],
        ),
    ]
