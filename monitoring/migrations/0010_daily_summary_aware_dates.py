"""lead_sync_daily_summary.sync_date becomes timestamptz (UTC midnight), as in the spec.

0004 bucketed with DATE_TRUNC('day', synced_at AT TIME ZONE 'UTC'), which yields a `timestamp`
without time zone: the DateTimeField over it handed Django naive datetimes in a USE_TZ project
(timezone.localtime() raises on them, comparing them with aware datetimes raises TypeError).
DATE_TRUNC('day', synced_at, 'UTC') buckets in UTC just the same and keeps the spec's type.
The view is rebuilt (a materialized view's column type cannot be altered) with its unique index;
refresh_daily_summary() refers to it by name and needs no change.
"""
from django.db import migrations

COMMENT = """
COMMENT ON MATERIALIZED VIEW lead_sync_daily_summary IS
    'Sync attempts per UTC day, direction and status. Read by daily_summary(); refreshed by monitoring.refresh_daily_summary.';
CREATE UNIQUE INDEX IF NOT EXISTS idx_lead_sync_daily_summary_key
    ON lead_sync_daily_summary (sync_date, sync_direction, sync_status) NULLS NOT DISTINCT;
COMMENT ON INDEX idx_lead_sync_daily_summary_key IS
    'Required by REFRESH MATERIALIZED VIEW CONCURRENTLY in refresh_daily_summary(); also daily_summary() ordering.';
"""

AWARE = """
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
""" + COMMENT

NAIVE = """
DROP MATERIALIZED VIEW IF EXISTS lead_sync_daily_summary;
CREATE MATERIALIZED VIEW IF NOT EXISTS lead_sync_daily_summary AS
SELECT
    DATE_TRUNC('day', synced_at AT TIME ZONE 'UTC') as sync_date,
    sync_direction,
    sync_status,
    COUNT(*) as sync_count,
    COUNT(DISTINCT lead_id) as unique_leads
FROM lead_sync_history
GROUP BY sync_date, sync_direction, sync_status;
""" + COMMENT


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0006_job_runs")]

    operations = [migrations.RunSQL(AWARE, NAIVE)]
