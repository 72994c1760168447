"""Make the health view and lead_analytics cheap at 1M leads / 10M history rows.

Readers: lead_sync_health_dashboard (refreshed into a Redis snapshot every minute) and
lead_analytics. Measured on the seeded 1M/10M database (README "Schema"):
- the health view's 24 h median sync time read every 'synced' attempt of the last day from the
  heap (a parallel seq scan of 10M rows); idx_sync_history_synced_duration carries created_at
  so it is an index-only scan;
- its 24 h error summary fetched each failed attempt's heap row for lead_id;
  idx_sync_history_errors now INCLUDEs lead_id (same key and predicate, same readers);
- index-only scans stay index-only only while the visibility map keeps up with the sync's
  inserts: autovacuum's default waits for 20 % new rows (2M at 10M, days of history), so the
  last day, exactly what these reads scan, would never be all-visible. 0.5 % keeps it current;
  on an append-only table such a vacuum only visits the new pages;
- lead_analytics groups by the UTC day of created_at, an expression the planner had no
  statistics for: it guessed ~1M groups and sorted 1M rows on disk instead of hashing ~60 days,
  and the dashboard's "newest 7 days" filter on that expression scanned every lead. An index on
  the expression gives it both the statistics (after ANALYZE) and a range scan.
Indexes are built CONCURRENTLY so the sync keeps writing while they build.
"""
from django.db import migrations

ERRORS_INDEX = "lead_sync_history (synced_at DESC) {include}WHERE sync_status = 'error'"
ERRORS_COMMENT = (
    "COMMENT ON INDEX idx_sync_history_errors IS "
    "'health error_summary (24 h{note}), error_groups, failure-rate alert'"
)


def _swap_errors_index(include: str, note: str) -> list[str]:
    """Rebuild idx_sync_history_errors under its own name without a moment when it is missing."""
    return [
        "DROP INDEX CONCURRENTLY IF EXISTS idx_sync_history_errors_next",
        "CREATE INDEX CONCURRENTLY idx_sync_history_errors_next ON "
        + ERRORS_INDEX.format(include=include),
        "DROP INDEX CONCURRENTLY IF EXISTS idx_sync_history_errors",
        "ALTER INDEX idx_sync_history_errors_next RENAME TO idx_sync_history_errors",
        ERRORS_COMMENT.format(note=note),
    ]


# Separate statements: psycopg would wrap a multi-statement string in one transaction.
FORWARD = [
    """
    CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sync_history_synced_duration
        ON lead_sync_history (synced_at DESC) INCLUDE (created_at)
        WHERE sync_status = 'synced'
    """,
    """
    COMMENT ON INDEX idx_sync_history_synced_duration IS
        'health view median_sync_time_seconds (24 h of synced attempts, synced_at - created_at): index-only'
    """,
    *_swap_errors_index("INCLUDE (lead_id) ", "; INCLUDE lead_id: index-only"),
    "ALTER TABLE lead_sync_history SET (autovacuum_vacuum_insert_scale_factor = 0.005)",
    """
    CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_leads_created_utc_day
        ON leads (((created_at AT TIME ZONE 'UTC')::date))
    """,
    """
    COMMENT ON INDEX idx_leads_created_utc_day IS
        'lead_analytics: GROUP BY and the selector''s newest-days filter on the UTC day of created_at'
    """,
    "ANALYZE leads",  # the statistics of the new expression, so the planner counts days
]

BACKWARD = [
    "DROP INDEX CONCURRENTLY IF EXISTS idx_leads_created_utc_day",
    "ALTER TABLE lead_sync_history RESET (autovacuum_vacuum_insert_scale_factor)",
    *_swap_errors_index("", ""),
    "DROP INDEX CONCURRENTLY IF EXISTS idx_sync_history_synced_duration",
]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("monitoring", "0099_merge_feature_areas")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
