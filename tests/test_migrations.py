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
