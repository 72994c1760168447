"""The rollup rebuild goes in short batches, each its own transaction (migration 0231, revised).

The first 0231 recomputed every rollup in one REPEATABLE READ transaction under the compactor's
lock: exact while the sync writes, but at 1M leads / 10M attempts that transaction lasted about a
minute, and for that minute the compactor could not fold (the pages had a minute of deltas to add
up) and vacuum could not clean behind it. 0231 now creates batch functions instead: the leads per
status, then one UTC day of lead flow or of history per batch, then the all-time totals; each
batch folds the deltas its snapshot sees and rewrites its slice from the tables in that snapshot.

Databases that ran the first 0231 get the same functions here (the same SQL, CREATE OR REPLACE)
and lose rebuild_rollups(), which nothing calls any more. On a new database this changes nothing.
"""
import importlib

from django.db import migrations

BATCH_FUNCTIONS = importlib.import_module("monitoring.migrations.0231_rollups_backfill").BATCH_FUNCTIONS


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0304_delta_tables_keep_their_pages")]

    operations = [
        migrations.RunSQL(BATCH_FUNCTIONS + "\nDROP FUNCTION IF EXISTS rebuild_rollups();", migrations.RunSQL.noop),
    ]
