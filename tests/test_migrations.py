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


FIRST_0231_SCRIPT = """
import json, os, django
django.setup()
from django.core.management import call_command
from django.db import connection

def functions():
    with connection.cursor() as cursor:
        cursor.execute("SELECT proname FROM pg_proc WHERE proname LIKE 'rebuild_rollups%%' OR proname LIKE 'rollup_rebuild%%' "
                       "ORDER BY 1")
        return [row[0] for row in cursor.fetchall()]

if os.environ["UPGRADE_THROUGH"] == "0299":  # the parents of 0299: its rebuild runs before 0305
    for target in ("0234_rollups_alert_rule", "0201_unbounded_lead_text", "0212_lead_repairs_view_permission",
                   "0220_delivery_test_messages_token_expiry", "0250_fingerprint_keeps_dotted_names"):
        call_command("migrate", "monitoring", target, verbosity=0)
else:  # everything up to 0304: only 0305 is left to give the batch functions
    call_command("migrate", "monitoring", "0304_delta_tables_keep_their_pages", verbosity=0)
# What the first 0231 left: its one-transaction rebuild_rollups(), none of the batch functions.
with connection.cursor() as cursor:
    cursor.execute("DROP FUNCTION rollup_rebuild_days(), rollup_rebuild_totals(), rollup_rebuild_history_day(date), "
                   "rollup_rebuild_leads_created_day(date), rollup_rebuild_leads(), rollup_rebuild_begin()")
    cursor.execute("CREATE FUNCTION rebuild_rollups() RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$")
    cursor.execute("INSERT INTO leads (first_name, sync_status) VALUES ('Ada', 'error') RETURNING id")
    (lead,) = cursor.fetchone()
    # Through 0299: a message it groups differently, so it rebuilds with 0231's backfill.
    cursor.execute("INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, error_message, synced_at) "
                   "VALUES (%s, 'scheduled', 'twenty_to_supabase', 'error', %s, now() - interval '1 hour')",
                   [lead, "phone must be in E.164 format" if os.environ["UPGRADE_THROUGH"] == "0299" else "timeout"])
steps = {"before": functions()}
call_command("migrate", verbosity=0)
steps["after"] = functions()
from monitoring.services import rollups
steps["batches"] = rollups.rebuild_rollups().batches
steps["agree"] = rollups.verify_rollups().agree
print(json.dumps(steps))
"""


@pytest.mark.parametrize("upgrade_through", ["0299", "0305"])
def test_a_database_that_ran_the_first_0231_gets_the_batch_functions(scratch_database, upgrade_through):
    """A database whose 0231 was the one-transaction version: 0299's rebuild (if it has one to
    do) and 0305 both leave it the batch functions, and a rebuild then works."""
    steps = run_script(FIRST_0231_SCRIPT, scratch_database, UPGRADE_THROUGH=upgrade_through)
    assert steps["before"] == ["rebuild_rollups"]
    assert steps["after"] == ["rollup_rebuild_begin", "rollup_rebuild_days", "rollup_rebuild_history_day",
                              "rollup_rebuild_leads", "rollup_rebuild_leads_created_day", "rollup_rebuild_totals"]
    assert steps["batches"] == 4  # the leads, their one creation day, one day of history, the totals
    assert steps["agree"] is True


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


BACKFILL_SCRIPT = """
import json, threading, time, django
django.setup()
import psycopg
from django.core.management import call_command
from django.db import connection

# The database as it was before the rollups: 0230 creates them (and the triggers that feed them).
call_command("migrate", "monitoring", "0230_rollups", verbosity=0)
with connection.cursor() as cursor:
    cursor.execute("TRUNCATE rollup_lead_deltas, rollup_history_deltas")  # as if the rows predated 0230
    cursor.execute("INSERT INTO leads (first_name, sync_status, lead_source, created_at) "
                   "SELECT 'Lead ' || i, (ARRAY['pending','synced','error'])[1 + i % 3], "
                   "(ARRAY['website','referral',NULL])[1 + i % 3], now() - (i % 40) * interval '1 day' "
                   "FROM generate_series(1, 300) i")
    cursor.execute("INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, error_message, "
                   "created_at, synced_at) "
                   "SELECT l.id, (ARRAY['scheduled','retry','webhook_update'])[1 + g % 3], "
                   "(ARRAY['twenty_to_supabase','supabase_to_twenty'])[1 + g % 2], "
                   "(ARRAY['synced','synced','error','conflict'])[1 + g % 4], "
                   "CASE WHEN g % 4 = 2 THEN 'Twenty API 429: rate limit for lead ' || g END, "
                   "now() - (g % 50) * interval '19 hours' - interval '2 seconds', now() - (g % 50) * interval '19 hours' "
                   "FROM (SELECT id, row_number() OVER () AS r FROM leads) l "
                   "CROSS JOIN generate_series(1, 20) g")
    cursor.execute("TRUNCATE rollup_lead_deltas, rollup_history_deltas, rollup_leads, rollup_leads_created, "
                   "rollup_history, rollup_durations, rollup_error_groups, rollup_daily, rollup_daily_leads, "
                   "rollup_closed_days, rollup_attempt_totals")

# The sync keeps writing through the backfill, one row per statement, as n8n does; a write that
# waits more than 20 ms for a lock fails (a backfill that locked the table against writes for
# its ~0.1 s would fail them).
dsn = connection.get_connection_params()
stop, writes, failures = threading.Event(), [], []
def write():
    with psycopg.connect(host=dsn.get("host"), port=dsn.get("port"), user=dsn.get("user"),
                         dbname=dsn.get("dbname"), autocommit=True) as db:
        db.execute("SET lock_timeout = '20ms'")
        leads = [row[0] for row in db.execute("SELECT id FROM leads ORDER BY created_at LIMIT 20")]
        i = 0
        while not stop.is_set():
            i += 1
            started = time.monotonic()
            try:
                db.execute("INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status) "
                           "VALUES (%s, 'webhook_update', 'supabase_to_twenty', 'synced')", [leads[i % 20]])
                db.execute("UPDATE leads SET sync_status = %s WHERE id = %s",
                           ["error" if i % 2 else "synced", leads[i % 20]])
                writes.append((started, time.monotonic()))
            except psycopg.Error as exc:
                failures.append(type(exc).__name__)
            time.sleep(0.002)
# How long the migrating connection's longest transaction lasts, sampled every 2 ms.
with connection.cursor() as cursor:
    cursor.execute("SELECT pg_backend_pid()")
    migrating_pid = cursor.fetchone()[0]
longest = [0.0]
def sample():
    with psycopg.connect(host=dsn.get("host"), port=dsn.get("port"), user=dsn.get("user"),
                         dbname=dsn.get("dbname"), autocommit=True) as db:
        while not stop.is_set():
            row = db.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp() - xact_start)::float FROM pg_stat_activity "
                             "WHERE pid = %s AND xact_start IS NOT NULL AND state <> 'idle'", [migrating_pid]).fetchone()
            if row:
                longest[0] = max(longest[0], row[0])
            time.sleep(0.002)
writer = threading.Thread(target=write)
sampler = threading.Thread(target=sample)
writer.start()
time.sleep(0.3)
sampler.start()
started = time.monotonic()
call_command("migrate", "monitoring", "0231_rollups_backfill", verbosity=0)
ended = time.monotonic()
time.sleep(0.3)
stop.set()
writer.join()
sampler.join()
call_command("migrate", verbosity=0)
connection.close()
from monitoring.services import rollups
rollups.compact_rollups()
result = rollups.verify_rollups()
with connection.cursor() as cursor:
    cursor.execute("SELECT (SELECT SUM(attempts) FROM rollup_attempt_totals), (SELECT COUNT(*) FROM lead_sync_history)")
    totals, rows = cursor.fetchone()
print(json.dumps({
    "during": sum(1 for a, b in writes if a >= started and b <= ended),
    "slowest": max(b - a for a, b in writes), "failures": failures, "seconds": ended - started,
    "agree": result.agree, "mismatches": result.mismatches, "totals": int(totals), "rows": rows,
    "longest_transaction": longest[0],
}))
"""


def test_the_backfill_counts_existing_rows_exactly_while_the_sync_writes(scratch_database):
    """0231 on a database that already holds 300 leads and 6,000 attempts over 40 days: a writer
    inserting attempts and updating leads one row at a time goes on throughout (no write waits
    20 ms for a lock: the backfill takes only what a SELECT takes), and afterwards every
    rollup agrees with the tables exactly, the writes made during the backfill counted once.
    It goes in batches of one UTC day, each its own transaction: the longest transaction is a
    small part of the whole (the first 0231 was one transaction from start to end)."""
    steps = run_script(BACKFILL_SCRIPT, scratch_database)
    assert steps["failures"] == [], steps
    assert steps["during"] > 0, steps  # the writer really wrote while the backfill ran
    assert steps["slowest"] < 1.0, steps
    assert steps["agree"] is True, steps
    assert steps["totals"] == steps["rows"] >= 6_000, steps
    assert 0 < steps["longest_transaction"] < steps["seconds"] / 4, steps
