"""Move the operator repairs that earlier versions wrote into lead_sync_history over to lead_repairs.

Which rows are repairs: until this change, monitoring.services.leads wrote one history row per
repaired lead, and only that statement wrote rows of this exact shape:
- sync_type 'manual', sync_status 'synced', no error_message, created_at = synced_at (both now());
- fields_changed an object with the keys action, reason, user, user_id and changes, where action is
  one of the four repairs and changes is an object of column -> [old, new].
A 'manual' attempt written by the n8n sync (an operator pressing "sync now" in n8n) is a real
attempt and has field changes such as {"first_name": [...]}: it matches none of this and stays.

The same rows are looked for in lead_sync_history_archive (the archive job may have moved old
ones there). Batches walk the primary key in ranges of BATCH_IDS ids and commit each range on its
own (atomic = False), so the sync's inserts never wait behind one long transaction, and a table of
millions of rows costs one index range scan per batch rather than one long scan under a lock.
Afterwards the daily summary is refreshed once, so its counts lose the moved rows at once.

Reverse: the rows go back to lead_sync_history in the old shape. The history direction of a
repair was derived from the lead (one-way leads keep theirs, bidirectional -> supabase_to_twenty);
the reverse derives it the same way from the lead's current direction.
"""
from __future__ import annotations

from django.db import connection, migrations, transaction

BATCH_IDS = 50_000

ACTIONS = "('retry_sync', 'reset_stuck', 'clear_error_count', 'resolve_conflict')"

REPAIR_ROW = f"""
    h.sync_type = 'manual' AND h.sync_status = 'synced' AND h.error_message IS NULL
    AND h.created_at = h.synced_at
    AND jsonb_typeof(h.fields_changed) = 'object'
    AND h.fields_changed ?& ARRAY['action', 'reason', 'user', 'user_id', 'changes']
    AND h.fields_changed->>'action' IN {ACTIONS}
    AND jsonb_typeof(h.fields_changed->'changes') = 'object'
"""

MOVE = """
WITH moved AS (
    DELETE FROM {table} h
    WHERE h.id > %(low)s AND h.id <= %(high)s AND {repair_row}
    RETURNING h.*
),
inserted AS (
    INSERT INTO lead_repairs (lead_id, action, reason, user_id, username, old_values, new_values, options, created_at)
    SELECT m.lead_id,
           m.fields_changed->>'action',
           m.fields_changed->>'reason',
           -- The user may have been deleted since: the id is kept only while it still exists.
           (SELECT u.id FROM {user_table} u
            WHERE jsonb_typeof(m.fields_changed->'user_id') = 'number'
              AND u.id = (m.fields_changed->>'user_id')::bigint),
           left(m.fields_changed->>'user', 150),
           COALESCE((SELECT jsonb_object_agg(c.key, c.value->0) FROM jsonb_each(m.fields_changed->'changes') c), '{{}}'),
           COALESCE((SELECT jsonb_object_agg(c.key, c.value->1) FROM jsonb_each(m.fields_changed->'changes') c), '{{}}'),
           m.fields_changed - 'action' - 'reason' - 'user' - 'user_id' - 'changes',
           m.created_at
    FROM moved m
    ORDER BY m.id
    RETURNING 1
)
SELECT count(*) FROM inserted
"""

MOVE_BACK = """
WITH moved AS (
    DELETE FROM lead_repairs r WHERE r.id > %(low)s AND r.id <= %(high)s RETURNING r.*
),
inserted AS (
    INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, fields_changed, created_at, synced_at)
    SELECT m.lead_id, 'manual',
           CASE WHEN l.sync_direction = 'twenty_to_supabase' THEN 'twenty_to_supabase' ELSE 'supabase_to_twenty' END,
           'synced',
           m.options || jsonb_build_object(
               'action', m.action, 'reason', m.reason, 'user', m.username, 'user_id', m.user_id,
               'changes', COALESCE((SELECT jsonb_object_agg(o.key, jsonb_build_array(o.value, m.new_values->o.key))
                                    FROM jsonb_each(m.old_values) o), '{}')),
           m.created_at, m.created_at
    FROM moved m JOIN leads l ON l.id = m.lead_id  -- history needs the lead (foreign key)
    ORDER BY m.id
    RETURNING 1
)
SELECT count(*) FROM inserted
"""


def _walk(sql: str, table: str) -> int:
    """Runs `sql` over consecutive id ranges of `table`, one committed transaction per range."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {table}")
        low, high = cursor.fetchone()
    if low is None:
        return 0
    moved = 0
    start = low - 1
    while start < high:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, {"low": start, "high": start + BATCH_IDS})
            moved += cursor.fetchone()[0]
        start += BATCH_IDS
    return moved


def _refresh_daily_summary() -> None:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT refresh_daily_summary()")
    except Exception:  # noqa: BLE001 - a never-populated view cannot be refreshed concurrently; the task will
        pass


def forward(apps, schema_editor) -> None:
    user_table = apps.get_model("auth", "User")._meta.db_table
    moved = 0
    for table in ("lead_sync_history", "lead_sync_history_archive"):
        sql = MOVE.format(table=table, repair_row=REPAIR_ROW, user_table=user_table)
        moved += _walk(sql, table)
    if moved:
        _refresh_daily_summary()


def backward(apps, schema_editor) -> None:
    if _walk(MOVE_BACK, "lead_repairs"):
        _refresh_daily_summary()


class Migration(migrations.Migration):
    atomic = False  # one transaction per batch (see the docstring)

    dependencies = [("monitoring", "0210_lead_repairs")]

    operations = [migrations.RunPython(forward, backward)]
