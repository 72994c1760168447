"""The spec's materialized view, with what REFRESH ... CONCURRENTLY needs (fixes 3, 6 and 12).

- A unique index over the view's key columns, NULLS NOT DISTINCT because direction and status
  are nullable in the view's eyes (PostgreSQL 15+).
- IF NOT EXISTS everywhere, so the DDL can be re-run.
- Days are bucketed in UTC explicitly, whatever the session's time zone.
- refresh_daily_summary() also records when it last ran, for the Daily summary page.
"""
from django.db import migrations

CREATE = """
CREATE MATERIALIZED VIEW IF NOT EXISTS lead_sync_daily_summary AS
SELECT
    DATE_TRUNC('day', synced_at AT TIME ZONE 'UTC') as sync_date,
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

CREATE TABLE IF NOT EXISTS materialized_view_refreshes (
    view_name text PRIMARY KEY,
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    duration_ms integer
);
COMMENT ON TABLE materialized_view_refreshes IS 'When each materialized view was last refreshed (daily_summary_refreshed_at()).';

CREATE OR REPLACE FUNCTION refresh_daily_summary()
RETURNS void AS $$
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY lead_sync_daily_summary;
    INSERT INTO materialized_view_refreshes (view_name, refreshed_at, duration_ms)
    VALUES ('lead_sync_daily_summary', clock_timestamp(),
            (EXTRACT(EPOCH FROM clock_timestamp() - started) * 1000)::integer)
    ON CONFLICT (view_name) DO UPDATE
        SET refreshed_at = EXCLUDED.refreshed_at, duration_ms = EXCLUDED.duration_ms;
END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION refresh_daily_summary() IS 'Concurrent refresh of lead_sync_daily_summary; readers are never blocked.';
"""

DROP = """
DROP FUNCTION IF EXISTS refresh_daily_summary();
DROP TABLE IF EXISTS materialized_view_refreshes;
DROP MATERIALIZED VIEW IF EXISTS lead_sync_daily_summary;
"""


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0003_views_and_functions")]

    operations = [migrations.RunSQL(CREATE, DROP)]
