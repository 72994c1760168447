"""Planner statistics never outlive a test: ANALYZE inside a test's transaction (the plan tests,
seed_demo) is rolled back with it, so the next test sees the table sizes it would see alone."""
from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from monitoring.services.demo_data import seed_demo
from tests.maintenance_helpers import insert_history, make_lead, second_connection

TABLES = ("leads", "lead_sync_history", "customer_segments")


def _committed_sizes() -> dict[str, tuple[float, int]]:
    # Another session sees what ANALYZE wrote in place at once, committed or not.
    with second_connection() as other:
        rows = other.execute(
            "SELECT relname, reltuples, relpages FROM pg_class WHERE relname = ANY(%s)", [list(TABLES)]
        ).fetchall()
    return {name: (tuples, pages) for name, tuples, pages in rows}


def _own_tuples(table: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        return cursor.fetchone()[0]


def test_analyze_in_a_test_is_rolled_back_with_it(db):
    before = _committed_sizes()
    insert_history(make_lead(), timezone.now() - timedelta(hours=1), count=300)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE lead_sync_history")
    assert _own_tuples("lead_sync_history") == 300  # the test itself plans with its statistics
    assert _committed_sizes() == before  # nobody else ever sees them


def test_seed_demo_inside_a_test_leaves_no_statistics_behind(db):
    before = _committed_sizes()
    seed_demo(leads=200, history=1_000, days=5, seed=1)  # ends with ANALYZE of all three tables
    assert _own_tuples("leads") == 200
    assert _committed_sizes() == before
