"""An index for the history admin's "status: conflict" filter at 10M rows.

The history changelist lists newest first (synced_at DESC, id DESC). Failed attempts have their
partial index (idx_sync_history_errors); conflicts had none, and they are rare, so the filter
walked the whole sort order to fill a page of 100 (617 ms of database time at 1M leads / 10M
history, over the admin's 500 ms budget; benchmarks/admin_search.py). A partial index holds only
the conflicts in list order. Built CONCURRENTLY: the sync keeps writing.
"""
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("monitoring", "0299_merge_wave2")]

    operations = [
        migrations.RunSQL(
            [
                "DROP INDEX CONCURRENTLY IF EXISTS idx_sync_history_conflicts",  # a rerun after a failed build
                "CREATE INDEX CONCURRENTLY idx_sync_history_conflicts ON lead_sync_history "
                "(synced_at DESC, id DESC) WHERE sync_status = 'conflict'",
                "COMMENT ON INDEX idx_sync_history_conflicts IS "
                "'history admin: the status = conflict filter, newest first (LeadSyncHistoryAdmin)'",
            ],
            "DROP INDEX CONCURRENTLY IF EXISTS idx_sync_history_conflicts",
        )
    ]
