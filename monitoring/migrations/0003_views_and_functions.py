"""The spec's views and functions, plus the two views it reads but never defines.

Each object keeps the spec's name and columns (columns are only added, at the end). Fixes over
the spec's SQL, numbered as in the foundation issue:
 4. health: 'unknown' on an empty table; counts syncing, conflict, stuck and stale pending leads;
    ratio thresholds (error_rate %) instead of absolute counts; success rate over leads the sync
    has had a chance at (all but pending leads younger than an hour), so never-synced leads count.
 5. check_stale_leads() returns timestamptz, the type of leads.created_at.
 7. sync_monitoring and lead_analytics are defined here.
 9/10. lead names use concat_ws (NULL-safe); last-error lookups order NULLS LAST.
 11. median sync time is measured from history (synced_at - created_at), not leads.updated_at.
 12. day buckets are explicitly UTC, whatever the session time zone.
"""
from django.db import migrations

HEALTH_VIEW = """
CREATE OR REPLACE VIEW lead_sync_health_dashboard AS
WITH sync_stats AS (
    SELECT
        COUNT(*) AS total_leads,
        COUNT(*) FILTER (WHERE sync_status = 'synced') AS synced_leads,
        COUNT(*) FILTER (WHERE sync_status = 'pending') AS pending_leads,
        COUNT(*) FILTER (WHERE sync_status = 'error') AS error_leads,
        COUNT(*) FILTER (WHERE last_synced_at > NOW() - INTERVAL '1 hour') AS recently_synced,
        COUNT(*) FILTER (WHERE sync_status = 'syncing') AS syncing_leads,
        COUNT(*) FILTER (WHERE sync_status = 'conflict') AS conflict_leads,
        COUNT(*) FILTER (WHERE sync_status = 'syncing'
                         AND COALESCE(sync_started_at, updated_at) < NOW() - INTERVAL '10 minutes') AS stuck_leads,
        COUNT(*) FILTER (WHERE sync_status = 'pending'
                         AND created_at < NOW() - INTERVAL '1 hour') AS stale_pending_leads,
        COUNT(*) FILTER (WHERE last_synced_at IS NULL) AS never_synced_leads,
        -- Leads the sync has had a chance at: all but pending leads younger than an hour.
        COUNT(*) FILTER (WHERE NOT (sync_status = 'pending'
                                    AND created_at >= NOW() - INTERVAL '1 hour')) AS due_leads
    FROM leads
),
sync_performance AS (
    SELECT
        ROUND(s.synced_leads * 100.0 / NULLIF(s.due_leads, 0), 2) AS sync_success_rate,
        ROUND(s.error_leads * 100.0 / NULLIF(s.total_leads, 0), 2) AS error_rate,
        (SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM (h.synced_at - h.created_at)))
           FROM lead_sync_history h
          WHERE h.sync_status = 'synced'
            AND h.synced_at > NOW() - INTERVAL '24 hours') AS median_sync_time_seconds
    FROM sync_stats s
),
error_summary AS (
    SELECT
        COUNT(DISTINCT lead_id) AS leads_with_errors,
        COUNT(*) AS total_errors,
        MAX(synced_at) AS last_error_time
    FROM lead_sync_history
    WHERE sync_status = 'error'
    AND synced_at > NOW() - INTERVAL '24 hours'
)
SELECT
    s.total_leads,
    s.synced_leads,
    s.pending_leads,
    s.error_leads,
    s.recently_synced,
    sp.sync_success_rate,
    sp.median_sync_time_seconds,
    es.leads_with_errors,
    es.total_errors,
    es.last_error_time,
    CASE
        WHEN s.total_leads = 0 OR sp.sync_success_rate IS NULL THEN 'unknown'
        WHEN sp.error_rate > 10 OR sp.sync_success_rate < 90 THEN 'critical'
        WHEN sp.error_rate > 5 OR sp.sync_success_rate < 95
             OR s.stuck_leads > 0 OR s.conflict_leads > 0 OR s.stale_pending_leads > 0 THEN 'warning'
        ELSE 'healthy'
    END AS overall_health,
    s.syncing_leads,
    s.conflict_leads,
    s.stuck_leads,
    s.stale_pending_leads,
    s.never_synced_leads,
    sp.error_rate,
    1 AS id
FROM sync_stats s, sync_performance sp, error_summary es;
COMMENT ON VIEW lead_sync_health_dashboard IS
    'One-row sync health. overall_health: unknown (no leads, or none due yet), critical (error_rate > 10 % or success < 90 %), warning (error_rate > 5 %, success < 95 %, or any stuck, conflict or stale pending lead), healthy.';
"""

ACTIVITY_VIEW = """
CREATE OR REPLACE VIEW real_time_sync_activity AS
SELECT
    lsh.id,
    lsh.synced_at,
    lsh.sync_type,
    lsh.sync_direction,
    lsh.sync_status,
    lsh.fields_changed,
    NULLIF(concat_ws(' ', l.first_name, l.last_name), '') AS lead_name,
    l.email,
    l.company_name,
    cs.segment_name,
    lsh.lead_id
FROM lead_sync_history lsh
JOIN leads l ON lsh.lead_id = l.id
LEFT JOIN customer_segments cs ON l.segment_id = cs.id
WHERE lsh.synced_at > NOW() - INTERVAL '1 hour'
ORDER BY lsh.synced_at DESC, lsh.id DESC
LIMIT 100;
COMMENT ON VIEW real_time_sync_activity IS 'The 100 newest sync attempts of the last hour.';
"""

SYNC_MONITORING_VIEW = """
CREATE OR REPLACE VIEW sync_monitoring AS
WITH statuses(position, sync_status) AS (
    VALUES (1, 'synced'), (2, 'pending'), (3, 'error'), (4, 'syncing'), (5, 'conflict')
),
counts AS (
    SELECT sync_status, COUNT(*) AS count, MAX(last_synced_at) AS last_sync_time,
           AVG(sync_error_count) AS avg_errors
    FROM leads
    GROUP BY sync_status
)
SELECT
    s.sync_status::varchar(20) AS sync_status,
    COALESCE(c.count, 0)::bigint AS count,
    ROUND(COALESCE(c.count, 0) * 100.0 / NULLIF(SUM(COALESCE(c.count, 0)) OVER (), 0), 2) AS percentage,
    c.last_sync_time,
    ROUND(COALESCE(c.avg_errors, 0), 2) AS avg_errors,
    s.position
FROM statuses s
LEFT JOIN counts c ON c.sync_status = s.sync_status
ORDER BY s.position;
COMMENT ON VIEW sync_monitoring IS
    'Leads per sync status, always five rows in this order: synced, pending, error, syncing, conflict. n8n reads metrics[2].count as leads in error.';
"""

LEAD_ANALYTICS_VIEW = """
CREATE OR REPLACE VIEW lead_analytics AS
SELECT
    (created_at AT TIME ZONE 'UTC')::date AS date,
    COUNT(*) AS total_leads,
    COUNT(*) FILTER (WHERE twenty_id IS NOT NULL) AS synced_to_twenty,
    COUNT(*) FILTER (WHERE sync_status = 'synced') AS synced_leads,
    COUNT(*) FILTER (WHERE sync_status = 'error') AS error_leads,
    COUNT(*) FILTER (WHERE sync_status IN ('pending', 'syncing')) AS pending_leads,
    ROUND(AVG(lead_score), 2) AS avg_score
FROM leads
GROUP BY 1
ORDER BY 1 DESC;
COMMENT ON VIEW lead_analytics IS 'Leads created per UTC day, newest first; synced_to_twenty = leads that have a twenty_id.';
"""

STALE_LEADS_FUNCTION = """
CREATE OR REPLACE FUNCTION check_stale_leads()
RETURNS TABLE(stale_count INTEGER, oldest_pending TIMESTAMPTZ)
AS $$
BEGIN
    RETURN QUERY
    SELECT
        COUNT(*)::INTEGER as stale_count,
        MIN(created_at) as oldest_pending
    FROM leads
    WHERE sync_status = 'pending'
    AND created_at < NOW() - INTERVAL '1 hour';
END;
$$ LANGUAGE plpgsql STABLE;
COMMENT ON FUNCTION check_stale_leads() IS 'Pending leads older than an hour: how many, and the oldest created_at.';
"""


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0002_triggers_and_indexes")]

    operations = [
        migrations.RunSQL(HEALTH_VIEW, "DROP VIEW IF EXISTS lead_sync_health_dashboard;"),
        migrations.RunSQL(ACTIVITY_VIEW, "DROP VIEW IF EXISTS real_time_sync_activity;"),
        migrations.RunSQL(SYNC_MONITORING_VIEW, "DROP VIEW IF EXISTS sync_monitoring;"),
        migrations.RunSQL(LEAD_ANALYTICS_VIEW, "DROP VIEW IF EXISTS lead_analytics;"),
        migrations.RunSQL(STALE_LEADS_FUNCTION, "DROP FUNCTION IF EXISTS check_stale_leads();"),
    ]
