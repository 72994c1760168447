"""Migrations apply, unapply (monitoring zero) and re-apply cleanly on a scratch database.

A subprocess against its own database: unapplying inside the test database would drop the tables
(and the data-migration groups) every other test relies on.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, django
django.setup()
from django.core.management import call_command
from django.db import connection

def objects():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relname = ANY(%s) ORDER BY 1",
            [["leads", "lead_sync_history", "customer_segments", "lead_sync_health_dashboard",
              "real_time_sync_activity", "sync_monitoring", "lead_analytics", "lead_sync_daily_summary",
              "idx_sync_history_monitoring", "idx_leads_sync_monitoring"]])
        names = [r[0] for r in cursor.fetchall()]
        cursor.execute("SELECT proname FROM pg_proc WHERE proname IN "
                       "('check_stale_leads', 'refresh_daily_summary', 'leads_touch') ORDER BY 1")
        return names + [r[0] for r in cursor.fetchall()]

steps = {}
call_command("migrate", verbosity=0)
steps["forward"] = objects()
call_command("migrate", "monitoring", "zero", verbosity=0)
steps["zero"] = objects()
call_command("migrate", verbosity=0)
steps["again"] = objects()
with connection.cursor() as cursor:
    cursor.execute("SELECT * FROM sync_monitoring")
    steps["sync_monitoring_rows"] = len(cursor.fetchall())
print(json.dumps(steps))
"""


@pytest.fixture
def scratch_database():
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_migrations"[:63]
    admin = make_conninfo(
        dbname="postgres", host=db.get("HOST") or "", port=str(db.get("PORT") or ""), user=db.get("USER") or "",
        password=db.get("PASSWORD") or "",
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    yield f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_script(script: str, database_url: str, **env: str) -> dict:
    """Run a migration script in a subprocess on `database_url`; returns the JSON of its last line."""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "leadsync_portal.settings_test",
             "DATABASE_POOL": "0", **env},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_migrations_apply_unapply_and_reapply(scratch_database):
    env = {**os.environ, "DATABASE_URL": scratch_database, "DJANGO_SETTINGS_MODULE": "leadsync_portal.settings_test",
           "DATABASE_POOL": "0"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    steps = json.loads(result.stdout.strip().splitlines()[-1])
    everything = sorted([
        "customer_segments", "idx_leads_sync_monitoring", "idx_sync_history_monitoring", "lead_analytics",
        "lead_sync_daily_summary", "lead_sync_health_dashboard", "lead_sync_history", "leads",
        "real_time_sync_activity", "sync_monitoring",
    ]) + ["check_stale_leads", "leads_touch", "refresh_daily_summary"]
    assert steps["forward"] == everything
    assert steps["zero"] == []
    assert steps["again"] == everything
    assert steps["sync_monitoring_rows"] == 5


MERGE_SCRIPT = """
import json, django
django.setup()
from django.core.management import call_command
from django.db import connection

def groups():
    with connection.cursor() as cursor:
        cursor.execute("SELECT compact_rollups()")
        cursor.execute("SELECT fingerprint, sum(n)::int FROM rollup_error_groups WHERE grain = 'h' GROUP BY 1 ORDER BY 1")
        return cursor.fetchall()

# Every parent of 0299, each forward only: the state a database had before the merge migration.
for target in ("0234_rollups_alert_rule", "0201_unbounded_lead_text", "0212_lead_repairs_view_permission",
               "0220_delivery_test_messages_token_expiry", "0250_fingerprint_keeps_dotted_names"):
    call_command("migrate", "monitoring", target, verbosity=0)
with connection.cursor() as cursor:
    cursor.execute("INSERT INTO leads (first_name, sync_status) VALUES ('Ada', 'error') RETURNING id")
    (lead,) = cursor.fetchone()
    for message in ("Validation error: phone must be in E.164 format", "Twenty API 500: internal error 42"):
        cursor.execute(
            "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, error_message, synced_at) "
            "VALUES (%s, 'scheduled', 'twenty_to_supabase', 'error', %s, now() - interval '1 hour')", [lead, message])
steps = {"before": groups()}
call_command("migrate", verbosity=0)
steps["after"] = groups()
print(json.dumps(steps))
"""


def test_merge_migration_regroups_rollups_folded_with_the_old_fingerprint(scratch_database):
    """0299: rollups folded before it grouped "E.164" as "E.<n>"; after it they group as the pages do."""
    steps = run_script(MERGE_SCRIPT, scratch_database)
    assert steps["before"] == [["Twenty API 500: internal error <n>", 1],
                               ["Validation error: phone must be in E.<n> format", 1]]
    assert steps["after"] == [["Twenty API 500: internal error <n>", 1],
                              ["Validation error: phone must be in E.164 format", 1]]


OLD_0170_SCRIPT = """
import json, os, django
django.setup()
from django.core.management import call_command
from django.db import connection

FINGERPRINT = __import__("importlib").import_module("monitoring.migrations.0200_error_group_index_bounded").FINGERPRINT
long_row = os.environ["LONG_ROW"] == "1"

call_command("migrate", "monitoring", "0170_error_group_leads_index", verbosity=0)
connection.ensure_connection()
connection.connection.autocommit = True
with connection.cursor() as cursor:
    # Back to what the first 0170 left: its unbounded index in place of the bounded pair.
    cursor.execute("DROP INDEX idx_sync_history_error_group_leads")
    cursor.execute("DROP INDEX idx_sync_history_error_group_long")
    cursor.execute("INSERT INTO leads (first_name, sync_status) VALUES ('Ada', 'error') RETURNING id")
    (lead,) = cursor.fetchone()
    if long_row:  # a 13 KB message of random hex the old index cannot hold: its build fails, INVALID
        cursor.execute("INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, error_message) "
                       "SELECT %s, 'scheduled', 'twenty_to_supabase', 'error', string_agg(md5(random()::text), ' ') "
                       "FROM generate_series(1, 400)", [lead])
    try:
        cursor.execute(f"CREATE INDEX CONCURRENTLY idx_sync_history_error_group_leads ON lead_sync_history "
                       f"(({FINGERPRINT}), synced_at DESC) INCLUDE (lead_id, error_message) WHERE sync_status = 'error'")
        built = "valid"
    except Exception as exc:
        built = type(exc.__cause__ or exc).__name__  # psycopg's error under Django's wrapper
call_command("migrate", verbosity=0)
with connection.cursor() as cursor:
    cursor.execute("INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, error_message) "
                   "SELECT %s, 'scheduled', 'twenty_to_supabase', 'error', string_agg(md5(random()::text), ' ') "
                   "FROM generate_series(1, 400)", [lead])
    cursor.execute("SELECT c.relname, i.indisvalid, pg_get_indexdef(c.oid) LIKE '%%octet_length%%' FROM pg_index i "
                   "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'idx_sync_history_error_group%%' ORDER BY 1")
    indexes = cursor.fetchall()
    cursor.execute("SELECT count(*) FROM lead_sync_history WHERE octet_length(error_message) > 2704")
    (long_rows,) = cursor.fetchone()
print(json.dumps({"old_index": built, "indexes": indexes, "long_rows": long_rows}))
"""


@pytest.mark.parametrize(("long_row", "old_index"), [("0", "valid"), ("1", "ProgramLimitExceeded")])
def test_a_database_that_ran_the_first_0170_gets_the_bounded_indexes(scratch_database, long_row, old_index):
    """0200 on a database holding the first 0170's unbounded index, valid or left INVALID by a
    failed build: afterwards only the bounded pair exists and a long failed attempt is recorded."""
    outcome = run_script(OLD_0170_SCRIPT, scratch_database, LONG_ROW=long_row)
    assert outcome["old_index"] == old_index
    assert outcome["indexes"] == [["idx_sync_history_error_group_leads", True, True],
                                  ["idx_sync_history_error_group_long", True, True]]
    assert outcome["long_rows"] == 1 + int(long_row)
