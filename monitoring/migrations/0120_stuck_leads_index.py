"""Index for stuck leads ordered by how long they have been syncing.

Readers: monitoring.selectors.stuck_leads (Debug page table, stuck-leads alert) and the stuck count
of lead_sync_health_dashboard: `sync_status = 'syncing' AND COALESCE(sync_started_at, updated_at)
< now() - 10 min ORDER BY COALESCE(...)`. idx_leads_syncing_started covers sync_started_at alone,
which the COALESCE cannot use, so the Debug page read every syncing lead and sorted them (40-120
ms with 7 000 stuck leads on the 1M bench); with this index it reads the first 100 in order.
Built CONCURRENTLY so the sync keeps writing leads while it builds.
"""
from django.db import migrations

CREATE = [
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_leads_syncing_since"
    " ON leads ((COALESCE(sync_started_at, updated_at))) WHERE sync_status = 'syncing'",
    "COMMENT ON INDEX idx_leads_syncing_since IS"
    " 'stuck_leads (Debug page, stuck alert) and the health view''s stuck count: syncing since'",
]
DROP = ["DROP INDEX CONCURRENTLY IF EXISTS idx_leads_syncing_since"]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("monitoring", "0099_merge_feature_areas")]

    operations = [migrations.RunSQL(CREATE, DROP)]
