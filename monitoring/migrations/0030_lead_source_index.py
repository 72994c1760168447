"""Index for the admin's "source" filter: its choices come from a loose index scan (selectors.leads.lead_sources)."""
from django.db import migrations

CREATE = """
CREATE INDEX IF NOT EXISTS idx_leads_lead_source ON leads(lead_source) WHERE lead_source IS NOT NULL;
COMMENT ON INDEX idx_leads_lead_source IS
    'selectors.leads.lead_sources (admin source filter choices, a loose index scan) and the source filter itself';
"""


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0006_job_runs")]

    operations = [migrations.RunSQL(CREATE, "DROP INDEX IF EXISTS idx_leads_lead_source;")]
