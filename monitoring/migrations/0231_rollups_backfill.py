"""Backfill the rollups from the existing rows, and feed lead_sync_daily_summary from them.

rebuild_rollups() (also `manage.py rebuild_rollups`) runs in one REPEATABLE READ transaction,
with the compactor's advisory lock held around it:
- it deletes the deltas its snapshot sees (exactly the writes its reads below include) and
  recomputes every rollup from the tables as of that snapshot; deltas of transactions that
  commit later stay behind for the compactor. So writers keep writing throughout, and nothing
  is counted twice or missed.
- the reads go one UTC day at a time (index range scans on synced_at / created_at), so no
  statement sorts the whole history; the only lock on the sync tables is ACCESS SHARE (what any
  SELECT takes), which never blocks the sync's INSERT/UPDATE/DELETE.
- the all-time totals are never lowered: max(current, hot + archived rows).

lead_sync_daily_summary keeps its name, columns and unique index for the spec's SQL, but reads
lead_sync_daily_rollup, so refresh_daily_summary() costs a few hundred rollup rows.
"""
from __future__ import annotations

from django.db import migrations, transaction

REBUILD_FUNCTION = """
CREATE FUNCTION rebuild_rollups() RETURNS jsonb LANGUAGE plpgsql AS $f$
DECLARE
    v_start timestamptz;
    v_d date;
    v_close_before date := ((now() - interval '15 minutes') AT TIME ZONE 'UTC')::date;
    v_days integer := 0;
BEGIN
    IF current_setting('transaction_isolation') <> 'repeatable read' THEN
        RAISE EXCEPTION 'rebuild_rollups() must run in a REPEATABLE READ transaction (its deltas and reads share one snapshot)';
    END IF;
    DELETE FROM rollup_lead_deltas;
    DELETE FROM rollup_history_deltas;
    DELETE FROM rollup_leads; DELETE FROM rollup_leads_created; DELETE FROM rollup_history;
    DELETE FROM rollup_durations; DELETE FROM rollup_error_groups; DELETE FROM rollup_daily;
    DELETE FROM rollup_daily_leads; DELETE FROM rollup_closed_days;

    INSERT INTO rollup_leads (sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty,
                              lead_count, error_count_sum, score_sum, score_n, confidence_sum, confidence_n)
    SELECT sync_status, segment_id, lead_source, sync_direction, last_synced_at IS NULL, twenty_id IS NOT NULL,
           COUNT(*), SUM(sync_error_count), COALESCE(SUM(lead_score), 0), COUNT(lead_score),
           COALESCE(SUM(segment_confidence), 0), COUNT(segment_confidence)
    FROM leads GROUP BY 1, 2, 3, 4, 5, 6;

    FOR v_start IN SELECT generate_series(date_trunc('day', MIN(created_at), 'UTC'), MAX(created_at), interval '1 day')
                     FROM leads LOOP
        INSERT INTO rollup_leads_created (grain, bucket, lead_source, sync_direction, sync_status, in_twenty,
                                          lead_count, score_sum, score_n)
        SELECT g.grain, date_trunc(g.unit, l.created_at, 'UTC'), lead_source, sync_direction,
               CASE WHEN g.grain = 'h' THEN sync_status ELSE '*' END, g.grain = 'h' AND twenty_id IS NOT NULL,
               COUNT(*), COALESCE(SUM(lead_score), 0), COUNT(lead_score)
        FROM leads l CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
        WHERE l.created_at >= v_start AND l.created_at < v_start + interval '1 day'
          AND (g.grain = 'h' OR l.created_at >= now() - interval '8 days')
        GROUP BY 1, 2, 3, 4, 5, 6;
    END LOOP;

    FOR v_start IN SELECT generate_series(date_trunc('day', MIN(synced_at), 'UTC'), MAX(synced_at), interval '1 day')
                     FROM lead_sync_history LOOP
        v_d := (v_start AT TIME ZONE 'UTC')::date;
        v_days := v_days + 1;
        INSERT INTO rollup_history (grain, bucket, sync_direction, sync_type, sync_status, attempts, duration_sum, duration_n)
        SELECT g.grain, date_trunc(g.unit, h.synced_at, 'UTC'), sync_direction, sync_type, sync_status, COUNT(*),
               SUM(EXTRACT(EPOCH FROM (h.synced_at - h.created_at))), COUNT(*)
        FROM lead_sync_history h CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
        WHERE h.synced_at >= v_start AND h.synced_at < v_start + interval '1 day'
          AND (g.grain = 'h' OR h.synced_at >= now() - interval '8 days')
        GROUP BY 1, 2, 3, 4, 5;

        INSERT INTO rollup_durations (bucket, bin, n)
        SELECT date_trunc('hour', synced_at, 'UTC'),
               rollup_duration_bin(EXTRACT(EPOCH FROM (synced_at - created_at))::double precision), COUNT(*)
        FROM lead_sync_history
        WHERE synced_at >= v_start AND synced_at < v_start + interval '1 day' AND sync_status = 'synced'
        GROUP BY 1, 2;

        WITH e AS (
            SELECT synced_at, COALESCE(error_message, '(no message)') AS message FROM lead_sync_history
            WHERE synced_at >= v_start AND synced_at < v_start + interval '1 day' AND sync_status = 'error'
        ), fp AS (
            SELECT message, lead_sync_error_fingerprint(message) AS fingerprint FROM (SELECT DISTINCT message FROM e) m
        )
        INSERT INTO rollup_error_groups (grain, bucket, fingerprint, n)
        SELECT g.grain, date_trunc(g.unit, e.synced_at, 'UTC'), fp.fingerprint, COUNT(*)
        FROM e JOIN fp USING (message) CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
        WHERE g.grain = 'h' OR e.synced_at >= now() - interval '8 days'
        GROUP BY 1, 2, 3;

        IF v_d < v_close_before THEN
            PERFORM rollup_recompute_day(v_d);
            INSERT INTO rollup_closed_days (day) VALUES (v_d) ON CONFLICT DO NOTHING;
        ELSE
            INSERT INTO rollup_daily_leads (day, sync_direction, sync_status, lead_id, n)
            SELECT v_d, sync_direction, sync_status, lead_id, COUNT(*) FROM lead_sync_history
            WHERE synced_at >= v_start AND synced_at < v_start + interval '1 day'
            GROUP BY 2, 3, 4;
            INSERT INTO rollup_daily (day, sync_direction, sync_status, sync_count, unique_leads)
            SELECT v_d, sync_direction, sync_status, SUM(n), COUNT(*) FROM rollup_daily_leads
            WHERE day = v_d GROUP BY 2, 3;
        END IF;
    END LOOP;

    -- Monotonic: never lower what Prometheus already scraped.
    INSERT INTO rollup_attempt_totals AS r (sync_direction, attempts, errors, conflicts)
    SELECT sync_direction, COUNT(*), COUNT(*) FILTER (WHERE sync_status = 'error'),
           COUNT(*) FILTER (WHERE sync_status = 'conflict')
    FROM (SELECT sync_direction, sync_status FROM lead_sync_history
          UNION ALL SELECT sync_direction, sync_status FROM lead_sync_history_archive) AS a
    GROUP BY 1
    ON CONFLICT (sync_direction) DO UPDATE SET
        attempts = GREATEST(r.attempts, EXCLUDED.attempts), errors = GREATEST(r.errors, EXCLUDED.errors),
        conflicts = GREATEST(r.conflicts, EXCLUDED.conflicts);
    RETURN jsonb_build_object('history_days', v_days);
END
$f$;
COMMENT ON FUNCTION rebuild_rollups() IS
    'Recomputes every rollup from the tables, one UTC day per statement; call in REPEATABLE READ with the compactor lock held (manage.py rebuild_rollups).';
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


def backfill(apps, schema_editor) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        # Session lock: held before the snapshot is taken, so no compactor commits in between.
        cursor.execute(f"SELECT pg_advisory_lock({LOCK_KEY})")
        try:
            with transaction.atomic(using=connection.alias):
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("SELECT rebuild_rollups()")
        finally:
            cursor.execute(f"SELECT pg_advisory_unlock({LOCK_KEY})")


class Migration(migrations.Migration):
    atomic = False  # the backfill runs in its own REPEATABLE READ transaction

    dependencies = [("monitoring", "0230_rollups")]

    operations = [
        migrations.RunSQL(REBUILD_FUNCTION, "DROP FUNCTION IF EXISTS rebuild_rollups();"),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunSQL(
            [DAILY_SUMMARY_FROM_ROLLUPS, "SELECT refresh_daily_summary()"],
            [DAILY_SUMMARY_FROM_HISTORY, "SELECT refresh_daily_summary()"],
        ),
    ]
