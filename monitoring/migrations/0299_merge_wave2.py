"""Merge of the second wave's migrations, and one fix their combination needs.

0250 moved the error-group fingerprint to a pattern that keeps tokens such as "E.164", but the
rollups (0230) freeze the old pattern in lead_sync_error_fingerprint(), which the compactor uses to
group failed attempts. Here the function takes the new pattern, so the Error groups rollup groups
exactly as monitoring.selectors.errors.fingerprint_sql does. Rollup rows already folded with the
old pattern are rebuilt (0231's backfill: short REPEATABLE READ batches under the compactor's
lock) only where a failed attempt's fingerprint actually changes; a
database without such messages (every new one) skips the rebuild.
"""
import importlib

from django.db import migrations

# 0231's backfill: short REPEATABLE READ batches under the compactor's lock (it creates its batch
# functions first, so it also runs on a database that ran the first, one-transaction 0231).
backfill = importlib.import_module("monitoring.migrations.0231_rollups_backfill").backfill

OLD_NUMBER_PATTERN = r"'(?<![0-9])(?<!(api|http|status|code)[ :=#]{0,2})[0-9]+([.,][0-9]+)*'"
NEW_NUMBER_PATTERN = r"'(?<![0-9])(?<![a-z]\.)(?<!(api|http|status|code)[ :=#]{0,2})[0-9]+([.,][0-9]+)*'"
FUNCTION = "lead_sync_error_fingerprint(text)"


def _swap_function(cursor, old: str, new: str) -> None:
    cursor.execute("SELECT pg_get_functiondef(%s::regprocedure)", [FUNCTION])
    definition = cursor.fetchone()[0]
    if old in definition:
        cursor.execute(definition.replace(old, new))


def _fingerprint_changes(cursor) -> bool:
    """Whether any failed attempt is grouped differently under the new pattern."""
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM lead_sync_history WHERE sync_status = 'error' AND error_message ~* %s)",
        [r"[a-z]\.[0-9]"],
    )
    return bool(cursor.fetchone()[0])


def forwards(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        _swap_function(cursor, OLD_NUMBER_PATTERN, NEW_NUMBER_PATTERN)
        changed = _fingerprint_changes(cursor)
    if changed:
        backfill(apps, schema_editor)


def backwards(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        _swap_function(cursor, NEW_NUMBER_PATTERN, OLD_NUMBER_PATTERN)


class Migration(migrations.Migration):
    atomic = False  # the rebuild runs in its own REPEATABLE READ transaction

    dependencies = [
        ("monitoring", "0201_unbounded_lead_text"),
        ("monitoring", "0212_lead_repairs_view_permission"),
        ("monitoring", "0220_delivery_test_messages_token_expiry"),
        ("monitoring", "0234_rollups_alert_rule"),
        ("monitoring", "0250_fingerprint_keeps_dotted_names"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
