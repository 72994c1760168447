"""Autovacuum never truncates the rollup delta tables (vacuum_truncate = false).

Every compaction deletes the deltas it folds, so a delta table is often all dead rows; vacuum then
cuts its empty pages off the end, and for that it takes an ACCESS EXCLUSIVE lock on the table
(only when it can have it at once, and it gives it up within about 20 ms when someone waits).
Every write of the sync appends a delta through the triggers, so for those milliseconds the sync's
single-row writers would wait behind vacuum. Without truncation vacuum takes no lock a writer
waits for, and the freed pages are reused by the next deltas instead of being given back.
The change itself takes SHARE UPDATE EXCLUSIVE, which writers do not wait for.
"""
from django.db import migrations

TABLES = ("rollup_lead_deltas", "rollup_history_deltas")


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0303_compactor_queue")]

    operations = [
        migrations.RunSQL(
            [f"ALTER TABLE {table} SET (vacuum_truncate = false)" for table in TABLES],
            [f"ALTER TABLE {table} RESET (vacuum_truncate)" for table in TABLES],
        )
    ]
