"""Replace the error-group fingerprint index by two that also carry lead_id (and short messages).

Reader: monitoring.selectors.errors.leads_in_error_group (the lead list's ?error_group= filter).
PostgreSQL only answers from an expression index alone (an index-only scan) when every column
the expression reads is in the index too, so the old index (0020) had to visit one heap row per
failed attempt to learn its lead: 165 ms for the largest bench group (58 700 attempts). With
lead_id and error_message INCLUDEd, the group's leads come from the index alone (16 ms).

An index entry must fit in a third of a page (2704 bytes), and the sync may write a message of
any length: as first written (one index INCLUDing every error_message) a 6 KB stack trace was
refused by PostgreSQL, the sync lost that failed attempt, and this migration failed outright on
a database that already held one (issue 10, finding 1). So the index is split by the message's
size, and neither entry can grow without bound:
- idx_sync_history_error_group_leads: messages of at most SHORT_MESSAGE_BYTES (and NULL); they
  are INCLUDEd, so these attempts stay index-only. The fingerprint is cut at 300 characters
  (1200 bytes at most), so an entry stays under ~2.5 KB.
- idx_sync_history_error_group_long: longer messages; only the (bounded) fingerprint and
  lead_id, so the heap is visited for these rare rows.
The selector asks both halves with the same predicates (UNION ALL), so the planner matches each
partial index. Same key as 0020, so it serves every query that one did; 0020's index is dropped
(it would only cost writes). The expression is frozen here and must stay byte-identical to
monitoring.selectors.errors.fingerprint_sql("error_message") (tests/test_selectors_errors.py),
the size split to monitoring.selectors.errors.SHORT_MESSAGE_SQL.
Built CONCURRENTLY so the sync keeps writing history while it builds.
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
SHORT_MESSAGE_BYTES = 1000
SHORT = f"COALESCE(octet_length(error_message), 0) <= {SHORT_MESSAGE_BYTES}"
LONG = f"COALESCE(octet_length(error_message), 0) > {SHORT_MESSAGE_BYTES}"

CREATE_NEW = [
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
]
DROP_NEW = [
    "DROP INDEX CONCURRENTLY IF EXISTS idx_sync_history_error_group_leads",
    "DROP INDEX CONCURRENTLY IF EXISTS idx_sync_history_error_group_long",
]

CREATE_OLD = [
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
DROP_OLD = ["DROP INDEX CONCURRENTLY IF EXISTS idx_sync_history_error_fingerprint"]


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("monitoring", "0199_merge_review_round")]

    # The new index first, so there is never a moment without one.
    operations = [migrations.RunSQL(CREATE_NEW, DROP_NEW), migrations.RunSQL(DROP_OLD, CREATE_OLD)]
