"""Index failed attempts by their error-group fingerprint.

Reader: monitoring.selectors.errors.leads_in_error_group (the lead list's ?error_group= filter,
linked from the Error groups page). Without it, every such page runs five regexp_replace calls
on every failed attempt of the last 7 days; with it, it is one index range scan.

The expression is frozen here and must stay byte-identical to
monitoring.selectors.errors.fingerprint_sql("error_message") or the planner will not use the
index (tests/test_selectors_errors.py checks both). Built CONCURRENTLY so the sync keeps
writing history while it builds.
"""
from django.db import migrations

FINGERPRINT = (
    "left(btrim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace("
    "COALESCE(error_message, '(no message)'), "
    "'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'gi'), "
    r"'[a-z0-9._+-]+@[a-z0-9.-]+\.[a-z]{2,}', '<email>', 'gi'), "
    r"'\m(?=[a-z_-]*[0-9])[0-9a-z_-]{8,}\M', '<id>', 'gi'), "
    "'(?<![0-9])(?<!(api|http|status|code)[ :=#]{0,2})[0-9]+([.,][0-9]+)*', '<n>', 'gi'), "
    r"'\s+', ' ', 'g')), 300)"
)

# Separate statements: psycopg would wrap a multi-statement string in one transaction.
CREATE = [
    f"""
    CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sync_history_error_fingerprint
        ON lead_sync_history (({FINGERPRINT}), synced_at DESC)
        WHERE sync_status = 'error'
    """,
    """
    COMMENT ON INDEX idx_sync_history_error_fingerprint IS
        'leads_in_error_group: leads with a failed attempt of one error-group fingerprint (lead list ?error_group=)'
    """,
]

DROP = ["DROP INDEX CONCURRENTLY IF EXISTS idx_sync_history_error_fingerprint"]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("monitoring", "0006_job_runs")]

    operations = [migrations.RunSQL(CREATE, DROP)]
