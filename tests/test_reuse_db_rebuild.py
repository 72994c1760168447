"""`--reuse-db` rebuilds a test database a killed run left flushed or dirty (pytest_configure in conftest.py).

End to end, once: a real pytest run in a subprocess, on a throwaway database named after this
run's, creates the test database; the test flushes it as a run killed in the middle of a
transactional test would; the next --reuse-db run must build it again (a marker table the build
did not make is then gone) and pass. Without the rebuild the probe fails and the marker survives.
Which states count as broken (a healthy one must not: that would rebuild every run) is checked on
the same database in-process, a few milliseconds each.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import psycopg
import pytest

from tests.conftest import _reused_test_database_was_left_broken

ROOT = Path(__file__).resolve().parent.parent
PROBE = "tests/reuse_db_probe.py"
NAME = f"{dj_database_url.parse(os.environ['DATABASE_URL'])['NAME']}_reuse_probe"
TEST_DB = f"test_{NAME}"


def _connect(dbname: str) -> psycopg.Connection:
    url = urlsplit(os.environ["DATABASE_URL"])
    return psycopg.connect(url._replace(path=f"/{dbname}").geturl(), connect_timeout=5, autocommit=True)


def _run_probe() -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{NAME}").geturl()}
    env.pop("LEADSYNC_TEST_RUN_PREFIX", None)  # its own Redis key prefix: it deletes only its own keys
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "--reuse-db", PROBE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def probe_db() -> Iterator[None]:
    """The throwaway test database, built by a first --reuse-db run (kept: --reuse-db); dropped at the end."""
    try:
        first = _run_probe()
        assert first.returncode == 0, first.stdout + first.stderr
        yield
    finally:
        with _connect("postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')


def test_a_reused_test_database_left_flushed_is_built_again_and_the_run_passes(probe_db):
    with _connect(TEST_DB) as conn:
        conn.execute("CREATE TABLE reuse_db_marker ()")
        conn.execute("TRUNCATE auth_group CASCADE")  # what a killed transactional test's flush leaves

    again = _run_probe()

    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 passed" in again.stdout
    with _connect(TEST_DB) as conn:  # dropped and built again, not patched up
        assert conn.execute("SELECT to_regclass('reuse_db_marker')").fetchone() == (None,)


DIRTY = {  # a row a killed transactional test committed, in each table the check looks at
    "leads": "INSERT INTO leads (email) VALUES ('left@example.com')",
    "lead_sync_history": (
        "WITH lead AS (INSERT INTO leads (email) VALUES ('left@example.com') RETURNING id)"
        " INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status)"
        " SELECT id, 'scheduled', 'twenty_to_supabase', 'synced' FROM lead"
    ),
    "monitoring_alert_incident": (
        "INSERT INTO monitoring_alert_incident (rule_id, state, severity, started_at, last_checked_at,"
        " last_notified_at, summary, values, last_values, reminders_sent)"
        " SELECT MIN(id), 'firing', 'warning', now(), now(), now(), 'left', '{}', '{}', 0 FROM monitoring_alert_rule"
    ),
}


@pytest.mark.parametrize("table", sorted(DIRTY))
def test_a_test_row_left_behind_counts_as_broken_and_a_healthy_database_does_not(probe_db, table):
    assert _reused_test_database_was_left_broken(TEST_DB) is False
    with _connect(TEST_DB) as conn:
        conn.execute(DIRTY[table])
        try:
            assert _reused_test_database_was_left_broken(TEST_DB) is True
        finally:
            conn.execute("DELETE FROM monitoring_alert_incident; DELETE FROM lead_sync_history; DELETE FROM leads")
    assert _reused_test_database_was_left_broken(TEST_DB) is False


def test_no_test_database_yet_is_not_broken():
    assert _reused_test_database_was_left_broken(f"{TEST_DB}_never_created") is False
