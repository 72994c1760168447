"""Trigram index for the lead lists' free-text search.

Reader: monitoring.selectors.search.search_leads (the `q` filter of the Errors and Leads pages):
`<LEAD_SEARCH_TEXT> ILIKE '%...%'`. Without it every search reads every candidate lead and runs
five case-folded LIKEs on it. The expression is frozen here and must stay identical to
monitoring.selectors.search.LEAD_SEARCH_TEXT (tests/test_portal_lists.py checks). Built
CONCURRENTLY so the sync keeps writing leads while it builds.
"""
from django.db import migrations

LEAD_SEARCH_TEXT = (
    "(COALESCE(first_name, '') || ' ' || COALESCE(last_name, '') || ' ' || COALESCE(email, '')"
    " || ' ' || COALESCE(company_name, '') || ' ' || COALESCE(sync_error_message, ''))"
)

# Separate statements: psycopg would wrap a multi-statement string in one transaction.
CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_leads_search_trgm ON leads USING gin ({LEAD_SEARCH_TEXT} gin_trgm_ops)",
    "COMMENT ON INDEX idx_leads_search_trgm IS 'search_leads: the q filter of the Errors and Leads pages (ILIKE)'",
]
# The extension stays: other objects may use it by then.
DROP = ["DROP INDEX CONCURRENTLY IF EXISTS idx_leads_search_trgm"]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("monitoring", "0020_error_fingerprint_index")]

    operations = [migrations.RunSQL(CREATE, DROP)]
