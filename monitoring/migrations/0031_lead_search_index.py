"""Trigram index for the lead admin's search: name, e-mail and company "contains" without a 1M-row scan.

The admin filters on leads_search_text(...) LIKE '%term%' (monitoring/admin/leads.py,
LeadAdmin.get_search_results); the expression here and there must stay identical for the planner to
use the index. The function is IMMUTABLE (plain || and lower()), which an index expression needs.
The pg_trgm extension is left installed on reverse: other objects may use it.
"""
from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION leads_search_text(first_name text, last_name text, email text, company_name text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' '
                 || coalesce(email, '') || ' ' || coalesce(company_name, ''))
$$;
COMMENT ON FUNCTION leads_search_text(text, text, text, text) IS
    'What the lead admin search matches: lower-cased name, e-mail and company (indexed by idx_leads_search_trgm).';
CREATE INDEX IF NOT EXISTS idx_leads_search_trgm ON leads
    USING gin (leads_search_text(first_name, last_name, email, company_name) gin_trgm_ops);
COMMENT ON INDEX idx_leads_search_trgm IS 'lead admin search (LeadAdmin.get_search_results): contains on name, e-mail, company';
"""

DROP = """
DROP INDEX IF EXISTS idx_leads_search_trgm;
DROP FUNCTION IF EXISTS leads_search_text(text, text, text, text);
"""


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0030_lead_source_index")]

    operations = [
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS pg_trgm;", migrations.RunSQL.noop),
        migrations.RunSQL(CREATE, DROP),
    ]
