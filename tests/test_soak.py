"""The chaos soak, short: every fault of benchmarks/soak.py for a few check intervals (about three minutes).

Real processes (gunicorn, a Celery worker per queue, beat) on the test database, the sync writing,
and each fault in turn: hung Redis, a slow-loris webhook with a silent SMTP server, terminated
backends, PostgreSQL gone, SIGKILL of a worker mid-archive and mid-delivery. What the soak checks
and why is in benchmarks/soak.py; here every line of its table must say "nothing" was late or lost.
This session's own connection is never a target: the faults hit the soak's processes only.
"""
from __future__ import annotations

import pytest
from django.conf import settings

from benchmarks.soak import ALL_FAULTS, SoakConfig, parse_sync_count, run_soak

# serialized_rollback: the soak commits (its rules, schedules, history); the flush afterwards
# restores what the migrations put in (role groups, default rules, beat schedules).
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_short_soak_every_fault_loses_nothing_and_never_hangs(tmp_path) -> None:
    config = SoakConfig.short(database_url=_test_database_url(), redis_url=settings.REDIS_URL, log_dir=tmp_path)
    report = run_soak(config)
    table = report.table()
    print(table)  # shown with -s, and in the failure report below

    assert [run.name for run in report.faults] == ["baseline", *ALL_FAULTS], table
    rows = report.rows
    assert rows.written > 0 and rows.lost == 0 and rows.duplicated == 0 and rows.unexplained == 0, table
    assert rows.archived > 0, f"the archive moved nothing, so the mid-archive kill proved nothing\n{table}"
    for run in report.faults:
        assert run.problems == [], f"{run.name}: {run.problems}\n{table}"
    assert report.problems == [], table


@pytest.mark.parametrize(
    "output, expected",
    [
        ("simulate_sync: writing to database 'x' with 4 connections at ~20 writes/s until stopped\n"
         "simulate_sync: 60.0 s, 2400 statements, 12 new leads, 1200 attempts (conflict 10, error 90, synced 1100)\n",
         (1200, 0)),
        # Restarted once during the soak: two runs, two summaries, one total.
        ("simulate_sync: 10.0 s, 40 statements, 0 new leads, 20 attempts (synced 20)\n"
         "simulate_sync: 5.0 s, 22 statements, 1 new leads, 11 attempts (synced 11); "
         "REFUSED statements: {'OperationalError': 2}\n", (31, 2)),
        ("simulate_sync: writing to database 'x'\n", (None, 0)),
    ],
)
def test_parse_sync_count_reads_the_simulators_own_count(output: str, expected: tuple[int | None, int]) -> None:
    assert parse_sync_count(output) == expected
