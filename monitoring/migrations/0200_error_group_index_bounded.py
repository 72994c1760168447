"""Bring databases that ran the first 0170 to the bounded error-group indexes (issue 10, finding 1).

The first version of 0170 INCLUDEd every error_message in idx_sync_history_error_group_leads, so
PostgreSQL refused any failed attempt whose entry passed 2704 bytes (the sync lost it), and on a
database already holding such a row the build failed and left an INVALID index behind. 0170 now
builds the bounded pair; this migration does the same where the old one (valid or not) exists:
it renames it away, builds the pair CONCURRENTLY (the sync keeps writing), then drops it. On a
database that ran the new 0170 it finds nothing to do. The SQL is frozen here.
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
SHORT = "COALESCE(octet_length(error_message), 0) <= 1000"
LONG = "COALESCE(octet_length(error_message), 0) > 1000"

# Separate statements: psycopg would wrap a multi-statement string in one transaction.
FORWARD = [
    # The old form has no size predicate; a failed build left it invalid. Either way: out of the name's way.
    """
    DO $$
    BEGIN
        IF EXISTS (
            SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE c.relname = 'idx_sync_history_error_group_leads'
              AND (NOT i.indisvalid OR pg_get_indexdef(c.oid) NOT LIKE '%octet_length%')
        ) THEN
            ALTER INDEX idx_sync_history_error_group_leads RENAME TO idx_sync_history_error_group_unbounded;
        END IF;
    END
    $$
    """,
    f"""
    CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sync_history_error_group_leads
        ON lead_sync_history (({FINGERPRINT}), synced_at DESC) INCLUDE (lead_id, error_message)
        WHERE sync_status = 'error' AND {SHORT}
    """,
    """
    COMMENT ON INDEX idx_sync_history_error_group_leads IS
        'leads_in_error_group: leads of one error-group fingerprint, messages up to 1000 bytes, index-only (lead list ?error_group=)'
    """,
    f"""
    CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sync_history_error_group_long
        ON lead_sync_history (({FINGERPRINT}), synced_at DESC) INCLUDE (lead_id)
        WHERE sync_status = 'error' AND {LONG}
    """,
    """
    COMMENT ON INDEX idx_sync_history_error_group_long IS
        'leads_in_error_group: leads of one error-group fingerprint, messages over 1000 bytes (lead list ?error_group=)'
    """,
    "DROP INDEX CONCURRENTLY IF EXISTS idx_sync_history_error_group_unbounded",
]


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("monitoring", "0170_error_group_leads_index")]

    # Backwards there is nothing to restore: the unbounded index is the bug, and 0170 owns the pair.
    operations = [migrations.RunSQL(FORWARD, migrations.RunSQL.noop)]
