"""The chaos soak, short: every fault of benchmarks/soak.py for a few check intervals (about three minutes).

Real processes (gunicorn, a Celery worker per queue, beat) on the test database, the sync writing,
and each fault in turn: hung Redis, a slow-loris webhook with a silent SMTP server, terminated
backends, PostgreSQL gone, SIGKILL of a worker mid-archive and mid-delivery. What the soak checks
and why is in benchmarks/soak.py; here every line of its table must say "nothing" was late or lost.
This session's own connection is never a target: the faults hit the soak's processes only.
"""
from __future__ import annotations

import re

import pytest
from django.conf import settings

from benchmarks.soak import ALL_FAULTS, SoakConfig, parse_sync_count, run_soak

# serialized_rollback: the soak commits (its rules, schedules, history); the flush afterwards
# restores what the migrations put in (role groups, default rules, beat schedules).
pytestmark = [
    pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


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
    failures = [(run.name, problem) for run in report.faults for problem in run.problems]
    failures += [("whole run", problem) for problem in report.problems]
    unknown = [failure for failure in failures if not _known_open(*failure)]
    assert unknown == [], f"{unknown}\n{table}"
    if failures:
        # Only the defects listed in KNOWN_OPEN failed: everything else held. Once they are fixed
        # this test passes outright; any other failure above fails it.
        pytest.xfail(f"open in issue 10: {failures}")


# Defects the soak found that are still open on the merged issue-10 branches (see docs/performance.md,
# "Soak results"): (fault, start of the problem text). Remove a line when its fix lands.
KNOWN_OPEN: list[tuple[str, str]] = [
    # Both found by the soak are fixed: the pool answers 503 in DATABASE_POOL_TIMEOUT (0.5 s), and
    # beat runs leadsync_portal.beat.ResilientDatabaseScheduler, which outlives a terminated connection.
]


def _known_open(fault: str, problem: str) -> bool:
    if "page answers bad" in problem and re.search(r" (?!200 |503 )\S+ [\d.]+s", problem.split("e.g.", 1)[-1]):
        return False  # a status other than 200/503, or a hang, is never the known slow 503
    return any(fault == known_fault and text in problem for known_fault, text in KNOWN_OPEN)
