"""Any value the sync may write is accepted, whatever its length (issue 10, finding 1).

The sync writes with plain SQL, so these tests do too. Long values are random base64: PostgreSQL
compresses an index entry before it checks its size, and a run of one letter would slip through
an index that the 6 KB stack trace of the issue did not (`index row size 4176 exceeds btree
version 4 maximum 2704`).
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from monitoring import selectors
from monitoring.models import CustomerSegment, Lead
from monitoring.selectors import errors

from .test_migrations import scratch_database  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


def noise(size: int) -> str:
    """`size` characters that do not compress."""
    return base64.b64encode(os.urandom(size))[:size].decode()


def sql(statement: str, params: list | tuple = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def test_a_6kb_failed_attempt_is_recorded(db):
    # The case: before 0170 was bounded, this INSERT was refused and the attempt lost.
    lead_id = sql("INSERT INTO leads (email, sync_status) VALUES ('trace@example.com', 'error') RETURNING id")[0][0]
    sql(
        "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, error_message) "
        "VALUES (%s, 'scheduled', 'supabase_to_twenty', 'error', %s)",
        [lead_id, "Traceback (most recent call last):\n" + noise(6 * 1024)],
    )
    assert sql("SELECT count(*) FROM lead_sync_history WHERE sync_status = 'error'") == [(1,)]
    assert selectors.health_summary()["total_errors"] == 1  # and the failure counts


def test_megabyte_values_insert_and_update_on_all_three_tables(db):
    names = {column: noise(10 * 1024) for column in ("first_name", "last_name", "company_name", "job_title")}
    email = noise(10 * 1024) + "@example.com"
    segment_id = sql(
        "INSERT INTO customer_segments (segment_name, description) VALUES (%s, %s) RETURNING id",
        [noise(10 * 1024), noise(MB)],
    )[0][0]
    lead_id = sql(
        "INSERT INTO leads (first_name, last_name, company_name, job_title, email, phone, inferred_segment, "
        "sync_status, sync_error_message, segment_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, 'error', %s, %s) RETURNING id",
        [*names.values(), email, noise(10 * 1024), noise(10 * 1024), noise(MB), segment_id],
    )[0][0]
    fields_changed = json.dumps({"notes": {"old": noise(MB // 2), "new": noise(MB // 2)}})
    for status in ("error", "synced", "conflict"):
        sql(
            "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, fields_changed, "
            "error_message) VALUES (%s, 'webhook_update', 'twenty_to_supabase', %s, %s::jsonb, %s)",
            [lead_id, status, fields_changed, noise(MB)],
        )
    # And every one of them can be changed to another long value.
    sql("UPDATE customer_segments SET segment_name = %s, description = %s", [noise(10 * 1024), noise(MB)])
    sql(
        "UPDATE leads SET first_name = %s, last_name = %s, company_name = %s, email = %s, sync_error_message = %s",
        [noise(10 * 1024), noise(10 * 1024), noise(10 * 1024), noise(10 * 1024), noise(MB)],
    )
    sql(
        "UPDATE lead_sync_history SET error_message = %s, fields_changed = %s::jsonb",
        [noise(MB), json.dumps({"x": noise(MB)})],
    )
    assert sql(
        "SELECT length(first_name), length(company_name), length(sync_error_message) FROM leads"
    ) == [(10 * 1024, 10 * 1024, MB)]
    assert sql("SELECT count(*), min(length(error_message)) FROM lead_sync_history") == [(3, MB)]
    assert sql("SELECT length(segment_name) FROM customer_segments") == [(10 * 1024,)]
    # The spec view reading these columns still answers, whole values included.
    assert sql("SELECT length(company_name) FROM real_time_sync_activity LIMIT 1") == [(10 * 1024,)]


def test_segment_names_stay_unique_whatever_their_length(db):
    from django.db import IntegrityError, transaction

    name = noise(10 * 1024)
    CustomerSegment.objects.create(segment_name=name)
    with pytest.raises(IntegrityError), transaction.atomic():
        sql("INSERT INTO customer_segments (segment_name) VALUES (%s)", [name])
    assert CustomerSegment.objects.get(segment_name=name).segment_name == name


def test_a_long_message_is_found_in_its_error_group(db):
    # Whitespace collapses in the fingerprint: this 3 KB message belongs to the short group, and
    # is read from idx_sync_history_error_group_long, the short one from ..._leads.
    group = "Twenty API 503: service unavailable"
    at = timezone.now() - timedelta(hours=1)
    short_lead = Lead.objects.create(email="short@example.com")
    long_lead = Lead.objects.create(email="long@example.com")
    for lead, message in ((short_lead, group), (long_lead, group + " " * 3000 + "\n")):
        sql(
            "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, error_message, "
            "created_at, synced_at) VALUES (%s, 'scheduled', 'supabase_to_twenty', 'error', %s, %s, %s)",
            [lead.pk, message, at, at],
        )
    assert errors.fingerprint(group + " " * 3000) == group
    for walk in (True, False):
        errors_walk = errors._walk_is_cheaper
        errors._walk_is_cheaper = lambda *args, walk=walk: walk  # noqa: E731
        try:
            found = selectors.leads_in_error_group(Lead.objects.all(), group, newest_first_rows=51)
            assert set(found.values_list("email", flat=True)) == {"short@example.com", "long@example.com"}
        finally:
            errors._walk_is_cheaper = errors_walk
    assert errors.error_group_size_probe(group, timezone.now() - timedelta(days=7))[0] == 2
    assert [(g["fingerprint"], g["affected_leads"]) for g in selectors.error_groups()] == [(group, 2)]


def test_no_btree_index_holds_unbounded_text(db):
    """Audit of the migrated schema: every btree key or INCLUDE column of the sync's tables is
    bounded (a fixed-size type, a varchar(n), or an expression cut to a length: left(...), md5)."""
    rows = sql(
        """
        SELECT c.relname, t.relname, a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_am am ON am.oid = c.relam
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::smallint[])
        WHERE am.amname = 'btree'
          AND t.relname IN ('leads', 'lead_sync_history', 'customer_segments', 'lead_sync_history_archive')
          AND (format_type(a.atttypid, a.atttypmod) IN ('text', 'jsonb', 'json', 'character varying', 'bytea'))
        """
    )
    # idx_sync_history_error_group_leads INCLUDEs error_message, under its partial predicate that
    # caps it at 1000 bytes; it is the one exception, and it is checked by its predicate here.
    unbounded = [row for row in rows if row[0] != "idx_sync_history_error_group_leads"]
    assert unbounded == []
    predicate = sql(
        "SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'idx_sync_history_error_group_leads'::regclass"
    )[0][0]
    assert "octet_length(error_message), 0) <= 1000" in predicate
    assert _unbounded_expression_keys() == []


SYNC_TABLES = ("leads", "lead_sync_history", "customer_segments", "lead_sync_history_archive")
# An expression key of a text-like type is bounded only when cut at the top: left(..., n) with a
# small n (characters, at most 4 bytes each, against btree's 2704-byte row limit) or md5(...).
BOUNDED_EXPRESSION = re.compile(r'^(?:"?left"?\(.*, (?P<n>\d+)\)|md5\(.*\))$', re.S)


def _unbounded_expression_keys() -> list[tuple[str, str]]:
    """Expression keys of btree indexes on the sync's tables whose value can be any length."""
    rows = sql(
        """
        SELECT c.relname, pg_get_indexdef(i.indexrelid, k, true)
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_am am ON am.oid = c.relam
        CROSS JOIN LATERAL generate_series(1, i.indnatts) AS k
        JOIN pg_attribute a ON a.attrelid = i.indexrelid AND a.attnum = k
        WHERE am.amname = 'btree' AND t.relname = ANY(%s) AND i.indkey[k - 1] = 0
          AND format_type(a.atttypid, a.atttypmod) IN ('text', 'jsonb', 'json', 'character varying', 'bytea')
        """,
        [list(SYNC_TABLES)],
    )
    offenders = []
    for index, expression in rows:
        bounded = BOUNDED_EXPRESSION.match(expression)
        if not bounded or (bounded["n"] and int(bounded["n"]) > 600):
            offenders.append((index, expression))
    return offenders


def test_the_index_audit_sees_expression_keys(db):
    """The column audit reads pg_index.indkey, where an expression key is 0: a lower(email) index
    would have passed it. The expression audit flags it (and accepts the bounded forms)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX audit_lower_email ON leads (lower(email))")
        cursor.execute("CREATE INDEX audit_left_email ON leads (left(email, 200))")
        cursor.execute("CREATE INDEX audit_left_too_long ON leads (left(email, 5000))")
    assert sorted(index for index, _ in _unbounded_expression_keys()) == ["audit_left_too_long", "audit_lower_email"]


MIGRATE_OVER_LONG_ROWS = """
import django, os, base64, json
django.setup()
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

def noise(size):
    return base64.b64encode(os.urandom(size))[:size].decode()

executor = MigrationExecutor(connection)
executor.migrate([("monitoring", "0002_triggers_and_indexes")])
MB = 1024 * 1024
with connection.cursor() as cursor:
    cursor.execute("INSERT INTO customer_segments (id, segment_name, description) "
                   "VALUES (gen_random_uuid(), 'long', %s) RETURNING id", [noise(MB)])
    segment = cursor.fetchone()[0]
    cursor.execute("INSERT INTO leads (id, email, sync_status, sync_direction, sync_error_count, sync_error_message, "
                   "segment_id, created_at, updated_at) VALUES (gen_random_uuid(), 'a@example.com', 'error', "
                   "'bidirectional', 1, %s, %s, now(), now()) RETURNING id", [noise(MB), segment])
    lead = cursor.fetchone()[0]
    for status in ("error", "synced"):
        cursor.execute("INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, "
                       "fields_changed, error_message, created_at, synced_at) VALUES (%s, 'scheduled', "
                       "'supabase_to_twenty', %s, %s::jsonb, %s, now(), now())",
                       [lead, status, json.dumps({"x": noise(MB)}), noise(MB)])
executor = MigrationExecutor(connection)
executor.migrate(executor.loader.graph.leaf_nodes())
with connection.cursor() as cursor:
    cursor.execute("UPDATE leads SET first_name = %s, company_name = %s", [noise(10240), noise(10240)])
    cursor.execute("UPDATE customer_segments SET segment_name = %s", [noise(10240)])
    cursor.execute("SELECT count(*) FROM lead_sync_history WHERE length(error_message) = %s", [MB])
    print(json.dumps({"history_rows": cursor.fetchone()[0]}))
"""


@pytest.mark.slow
def test_every_migration_applies_on_a_database_holding_long_rows(scratch_database):  # noqa: F811
    env = {**os.environ, "DATABASE_URL": scratch_database, "DJANGO_SETTINGS_MODULE": "leadsync_portal.settings_test",
           "DATABASE_POOL": "0"}
    result = subprocess.run(
        [sys.executable, "-c", MIGRATE_OVER_LONG_ROWS], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"history_rows": 2}
