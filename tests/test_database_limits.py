"""The web process's statement_timeout and lock_timeout (issue 10: every wait has a deadline).

A page, the API and /metrics that wait on a lock (a migration's ACCESS EXCLUSIVE on `leads`) give
up after DATABASE_WEB_LOCK_TIMEOUT and answer 503 "database busy" with Retry-After, then 200 again
once the lock is gone. Without the limits they waited for the lock until gunicorn killed the
worker; here each request has a client deadline, so the old code fails instead of hanging.
Management commands (and Celery, which loads settings the same way) keep no limits.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

from .portal_server import ROOT, fetch, gunicorn_portal, portal_urls

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

LOCK_TIMEOUT = 1.0  # seconds, given to the portal as DATABASE_WEB_LOCK_TIMEOUT
STATEMENT_TIMEOUT = 25.0  # longer than any answer below may take, so a 503 there is the lock limit's
# A cancelled request answers after its lock wait plus the rest of the request's work; on a loaded
# shared machine allow that much. Still far below STATEMENT_TIMEOUT and the client deadline.
SLACK = 8.0


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def portal() -> Iterator[str]:
    with gunicorn_portal(_database_url(), {
        "DATABASE_WEB_LOCK_TIMEOUT": str(LOCK_TIMEOUT),
        "DATABASE_WEB_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT),
    }) as url:
        yield url


@pytest.fixture
def lock_holder() -> Iterator[psycopg.Connection]:
    """A second connection of our own, as a migration would hold it."""
    db = connection.settings_dict
    conn = psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"])
    yield conn
    conn.rollback()
    conn.close()


def test_a_lock_on_leads_gives_503_busy_within_the_lock_timeout_then_200(portal, lock_holder, viewer, sync_dataset):
    urls = portal_urls(portal, viewer)
    deadline = STATEMENT_TIMEOUT + 5  # the old code waits for the lock: fail with a timeout, not hang

    assert {name: fetch(url, headers, deadline)[0] for name, (url, headers) in urls.items()} == {
        "page": 200, "api": 200, "metrics": 200}

    lock_holder.execute("LOCK TABLE leads IN ACCESS EXCLUSIVE MODE")  # held: the transaction stays open
    locked = {name: fetch(url, headers, deadline) for name, (url, headers) in urls.items()}
    for name, (status, headers, _body, seconds) in locked.items():
        assert status == 503, (name, status)
        assert headers.get("Retry-After") == "10", name
        assert headers.get("Cache-Control") == "no-store", name
        # It waited for the lock (at least lock_timeout) and gave up on it (well before any other limit).
        assert LOCK_TIMEOUT <= seconds < LOCK_TIMEOUT + SLACK, (name, seconds)
    page = locked["page"]
    assert page[1]["Content-Type"].startswith("text/html")
    assert "<h1>Database busy</h1>" in page[2] and "waited longer than its limit for a lock" in page[2]
    api = json.loads(locked["api"][2])
    assert api["error"].startswith("The database is busy") and api["retry_after_seconds"] == 10
    assert locked["metrics"][1]["Content-Type"].startswith("text/plain")
    assert locked["metrics"][2].startswith("# The database is busy")
    # The lock is really held the whole time: the web sessions waited on it and gave up.
    assert lock_holder.execute(
        "SELECT count(*) FROM pg_locks WHERE relation = 'leads'::regclass AND mode = 'AccessExclusiveLock' AND granted"
    ).fetchone() == (1,)

    lock_holder.rollback()  # the migration is done
    assert {name: fetch(url, headers, deadline)[0] for name, (url, headers) in urls.items()} == {
        "page": 200, "api": 200, "metrics": 200}


def _session_limits(code: str) -> list[str]:
    """statement_timeout and lock_timeout of a session opened by a new process running `code`."""
    db = connection.settings_dict
    show = ("from django.db import connection\n"
            "with connection.cursor() as c:\n"
            "    c.execute('SELECT current_setting(%s), current_setting(%s)', ['statement_timeout', 'lock_timeout'])\n"
            "    print(*c.fetchone())\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "leadsync_portal.settings_test", "DATABASE_URL": _database_url(),
           "DATABASE_WEB_LOCK_TIMEOUT": "2.5", "DATABASE_WEB_STATEMENT_TIMEOUT": "12"}
    assert db["NAME"].startswith("test_")
    out = subprocess.run([sys.executable, "-c", code + show], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout.split()


def test_only_the_web_process_gets_the_limits():
    # The WSGI module (what gunicorn and runserver load) gives its sessions the limits ...
    assert _session_limits("import leadsync_portal.wsgi\n") == ["12s", "2500ms"]
    # ... also when the process had connected before loading it, as runserver does (its migration
    # check): that pooled connection is dropped and the next one gets the limits.
    assert _session_limits(
        "import django\ndjango.setup()\nfrom django.db import connection\nconnection.ensure_connection()\n"
        "import leadsync_portal.wsgi\n"
    ) == ["12s", "2500ms"]
    # ... a management command, a migration or a Celery worker (django.setup() without it) does not.
    assert _session_limits("import django\ndjango.setup()\n") == ["0", "0"]


def test_every_session_has_tcp_keepalives_and_a_user_timeout():
    """A vanished host is noticed within DATABASE_TCP_TIMEOUT, in every process (libpq's own view)."""
    connection.ensure_connection()
    params = connection.connection.info.get_parameters()
    assert {key: params.get(key) for key in
            ("keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout")} == {
        "keepalives": "1", "keepalives_idle": "5", "keepalives_interval": "1", "keepalives_count": "3",
        "tcp_user_timeout": "10000"}


@pytest.mark.django_db
def test_vacuum_never_locks_the_delta_tables_the_sync_writes_through():
    """The triggers append a delta for every write of the sync; vacuum's truncation of a delta
    table's empty end would take ACCESS EXCLUSIVE and make the writers wait (migration 0304)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN ('rollup_lead_deltas', 'rollup_history_deltas') "
            "ORDER BY relname"
        )
        rows = cursor.fetchall()
    assert [name for name, _ in rows] == ["rollup_history_deltas", "rollup_lead_deltas"]
    for name, options in rows:
        assert "vacuum_truncate=false" in options, (name, options)
