"""Error-group fingerprints keep tokens such as "E.164": rebuild the fingerprint index(es) with the new expression.

monitoring.selectors.errors.fingerprint_sql no longer turns a number right after a letter and a dot
into <n> ("phone must be in E.164 format" was grouped as "E.<n>"). An expression index is only used
when its expression is the query's, so every index on lead_sync_history keyed on the old
expression is rebuilt with the new one. The rebuild takes each index's own definition from the
catalogue and swaps only the number pattern, so it keeps whatever columns and INCLUDE list the index
has (0170's, or a later replacement's). New index first, CONCURRENTLY, then the old one dropped and
the new one renamed: the sync keeps writing and there is never a moment without an index.
The patterns are frozen here; tests/test_selectors_errors.py checks NEW_NUMBER_PATTERN against the
selector.
"""
from django.db import migrations

OLD_NUMBER_PATTERN = r"'(?<![0-9])(?<!(api|http|status|code)[ :=#]{0,2})[0-9]+([.,][0-9]+)*'"
NEW_NUMBER_PATTERN = r"'(?<![0-9])(?<![a-z]\.)(?<!(api|http|status|code)[ :=#]{0,2})[0-9]+([.,][0-9]+)*'"

INDEXES_WITH = """
    SELECT c.relname, pg_get_indexdef(i.indexrelid), obj_description(i.indexrelid, 'pg_class')
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = 'lead_sync_history'::regclass AND position(%s IN pg_get_indexdef(i.indexrelid)) > 0
    ORDER BY c.relname
"""


def _swap(schema_editor, old: str, new: str) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(INDEXES_WITH, [old])
        indexes = cursor.fetchall()
        for name, definition, comment in indexes:
            temporary = f"{name[:55]}_swap"
            created = definition.replace(old, new).replace(f"INDEX {name} ON", f"INDEX CONCURRENTLY {temporary} ON", 1)
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {temporary}")  # a rerun after a failed build
            cursor.execute(created)
            cursor.execute(f"DROP INDEX CONCURRENTLY {name}")
            cursor.execute(f"ALTER INDEX {temporary} RENAME TO {name}")
            if comment is not None:
                cursor.execute(f"COMMENT ON INDEX {name} IS %s", [comment])


def forwards(apps, schema_editor) -> None:
    _swap(schema_editor, OLD_NUMBER_PATTERN, NEW_NUMBER_PATTERN)


def backwards(apps, schema_editor) -> None:
    _swap(schema_editor, NEW_NUMBER_PATTERN, OLD_NUMBER_PATTERN)


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    # 0170 built the index this rebuilds, and 0200 replaced it by a bounded pair (old expression):
    # after 0201 (0200's successor), every fingerprint index is found and rebuilt.
    dependencies = [("monitoring", "0170_error_group_leads_index"), ("monitoring", "0201_unbounded_lead_text")]

    operations = [migrations.RunPython(forwards, backwards)]
