"""The views stay cheap at scale: the plans they get, not only the numbers they return.

Their numbers are tested in test_spec_sql.py and test_selectors_dashboard.py; here, that the
health view can answer its 24 h history parts from indexes alone (migration 0110) and that the
planner knows how many days lead_analytics groups into.
"""
from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from monitoring import selectors


def explain(sql: str) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        return cursor.fetchone()[0][0]["Plan"]  # psycopg decodes the json column


def plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in plan_nodes(child))]


def execute(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


def test_health_view_reads_24h_history_from_indexes_alone(sync_dataset):
    # Older attempts, so that a range on synced_at is worth an index over a whole-index read.
    execute(
        "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, created_at, synced_at) "
        "SELECT l.id, 'scheduled', 'twenty_to_supabase', s.status, now() - interval '3 days', now() - interval '3 days' "
        "FROM leads l, unnest(ARRAY['synced', 'error']) s(status), generate_series(1, 500)"
    )
    execute("ANALYZE lead_sync_history")
    # Small tables favour seq scans; with them off the planner shows what the indexes can do:
    # without INCLUDE columns these would be plain Index Scans that visit the heap per row.
    execute("SET LOCAL enable_seqscan = off")
    execute("SET LOCAL enable_bitmapscan = off")
    scans = {
        node["Index Name"]: node["Node Type"]
        for node in plan_nodes(explain("SELECT * FROM lead_sync_health_dashboard"))
        if node.get("Relation Name") == "lead_sync_history"
    }
    assert scans == {
        "idx_sync_history_synced_duration": "Index Only Scan",  # the 24 h median
        "idx_sync_history_errors": "Index Only Scan",  # the 24 h error summary
    }
    health = selectors.health_summary()  # same numbers through those plans
    assert (health["leads_with_errors"], health["total_errors"]) == (2, 3)
    # The portal's median now comes from the duration histograms (issue 12): within 2 %.
    assert health["median_sync_time_seconds"] == pytest.approx(5.0, rel=0.02)


def test_history_is_vacuumed_often_enough_for_index_only_scans(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'lead_sync_history'")
        assert cursor.fetchone()[0] == ["autovacuum_vacuum_insert_scale_factor=0.005"]


def test_planner_knows_how_many_days_lead_analytics_groups_into(db):
    # 5,000 leads, each created at its own second, over 10 UTC days. Without statistics on the day
    # expression the planner took created_at's distinct count: a group per lead, and at 1M leads
    # it sorted them all on disk instead of hashing 60 days.
    execute(
        "INSERT INTO leads (email, created_at) SELECT 'plan' || n || '@example.com', "
        "date_trunc('day', now(), 'UTC') - (n % 10) * interval '1 day' + n * interval '1 second' "
        "FROM generate_series(1, 5000) n"
    )
    execute("ANALYZE leads")
    plan = explain("SELECT * FROM lead_analytics")
    assert plan["Plan Rows"] <= 20
    assert {node["Strategy"] for node in plan_nodes(plan) if node["Node Type"] == "Aggregate"} == {"Hashed"}
    assert len(selectors.lead_analytics(limit=10)) == 10


def test_health_median_is_the_numeric_epoch_median_on_microsecond_durations(sync_dataset):
    # Migration 0111 takes the median of date_part('epoch', ...) floats instead of EXTRACT's
    # numerics cast to float: the same number to the last bit, on durations that are not round.
    execute(
        "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, created_at, synced_at) "
        "SELECT l.id, 'scheduled', 'twenty_to_supabase', 'synced', now() - interval '1 hour' - d, "
        "now() - interval '1 hour' FROM leads l, "
        "(SELECT n * interval '1.234567 seconds' + n * n * interval '1 microsecond' AS d "
        " FROM generate_series(1, 40) n) durations"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM (synced_at - created_at))) "
            "FROM lead_sync_history WHERE sync_status = 'synced' AND synced_at > NOW() - INTERVAL '24 hours'"
        )
        numeric_median = cursor.fetchone()[0]
        cursor.execute("SELECT pg_get_viewdef('lead_sync_health_dashboard')")
        definition = cursor.fetchone()[0]
    assert numeric_median != round(numeric_median, 3)  # microseconds matter here
    # The view keeps its exact median for SQL clients; the portal's histogram median is within 2 %.
    assert selectors.health_summary()["median_sync_time_seconds"] == pytest.approx(numeric_median, rel=0.02)
    assert "date_part('epoch'" in definition and "EXTRACT(epoch" not in definition
