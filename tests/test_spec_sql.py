"""Every SQL of the spec runs unchanged on our schema, gives exact numbers, and shows each spec defect.

The SQL below is copied verbatim from ../shared/spec/lead-sync-monitoring-dashboard.md. Do not
reformat it: trailing spaces included, it is the spec's text character for character
(test_sql_is_the_spec_verbatim checks that against the spec file when it is present).
Defects are numbered as in the foundation issue (README "Schema").
"""
from __future__ import annotations

# ruff: noqa: W291

STATUS_OVERVIEW = """-- Real-time sync status summary
SELECT 
    sync_status,
    COUNT(*) as lead_count,
    ROUND(COUNT(*) * 100.0 / SUM(COUNT(*)) OVER (), 2) as percentage,
    MAX(last_synced_at) as last_sync_time,
    AVG(sync_error_count) as avg_errors
FROM leads
GROUP BY sync_status
ORDER BY lead_count DESC;
"""

HOURLY_PERFORMANCE = """-- Hourly sync performance
SELECT 
    DATE_TRUNC('hour', synced_at) as sync_hour,
    COUNT(*) as syncs_completed,
    COUNT(CASE WHEN sync_status = 'error' THEN 1 END) as sync_errors,
    ROUND(AVG(EXTRACT(EPOCH FROM (synced_at - created_at))), 2) as avg_sync_time_seconds
FROM lead_sync_history
WHERE synced_at > NOW() - INTERVAL '24 hours'
GROUP BY sync_hour
ORDER BY sync_hour DESC;
"""

LEAD_FLOW = """-- Daily lead flow by source and direction
SELECT 
    DATE_TRUNC('day', created_at) as date,
    lead_source,
    sync_direction,
    COUNT(*) as lead_count,
    AVG(lead_score) as avg_score
FROM leads
WHERE created_at > NOW() - INTERVAL '7 days'
GROUP BY date, lead_source, sync_direction
ORDER BY date DESC, lead_count DESC;
"""

ERROR_TRACKING = """-- Recent sync errors with details
SELECT 
    l.id,
    l.first_name || ' ' || l.last_name as lead_name,
    l.email,
    l.sync_error_message,
    l.sync_error_count,
    l.last_synced_at,
    lsh.error_message as last_error_detail
FROM leads l
LEFT JOIN LATERAL (
    SELECT error_message 
    FROM lead_sync_history 
    WHERE lead_id = l.id 
    AND sync_status = 'error'
    ORDER BY synced_at DESC 
    LIMIT 1
) lsh ON true
WHERE l.sync_status = 'error'
ORDER BY l.sync_error_count DESC, l.last_synced_at DESC
LIMIT 20;
"""

SEGMENT_DISTRIBUTION = """-- Lead distribution by segment and sync status
SELECT 
    cs.segment_name,
    COUNT(l.id) as total_leads,
    COUNT(CASE WHEN l.sync_status = 'synced' THEN 1 END) as synced_leads,
    COUNT(CASE WHEN l.twenty_id IS NOT NULL THEN 1 END) as in_twenty,
    AVG(l.lead_score) as avg_lead_score,
    AVG(l.segment_confidence) as avg_confidence
FROM leads l
LEFT JOIN customer_segments cs ON l.segment_id = cs.id
GROUP BY cs.segment_name
ORDER BY total_leads DESC;
"""

HEALTH_VIEW_DDL = """CREATE OR REPLACE VIEW lead_sync_health_dashboard AS
WITH sync_stats AS (
    SELECT 
        COUNT(*) as total_leads,
        COUNT(CASE WHEN sync_status = 'synced' THEN 1 END) as synced_leads,
        COUNT(CASE WHEN sync_status = 'pending' THEN 1 END) as pending_leads,
        COUNT(CASE WHEN sync_status = 'error' THEN 1 END) as error_leads,
        COUNT(CASE WHEN last_synced_at > NOW() - INTERVAL '1 hour' THEN 1 END) as recently_synced
    FROM leads
),
sync_performance AS (
    SELECT 
        AVG(CASE WHEN sync_status = 'synced' THEN 1 ELSE 0 END) * 100 as sync_success_rate,
        PERCENTILE_CONT(0.5) WITHIN GROUP (
            ORDER BY EXTRACT(EPOCH FROM (last_synced_at - updated_at))
        ) as median_sync_time_seconds
    FROM leads
    WHERE last_synced_at IS NOT NULL
),
error_summary AS (
    SELECT 
        COUNT(DISTINCT lead_id) as leads_with_errors,
        COUNT(*) as total_errors,
        MAX(synced_at) as last_error_time
    FROM lead_sync_history
    WHERE sync_status = 'error'
    AND synced_at > NOW() - INTERVAL '24 hours'
)
SELECT 
    s.*,
    sp.sync_success_rate,
    sp.median_sync_time_seconds,
    es.leads_with_errors,
    es.total_errors,
    es.last_error_time,
    CASE 
        WHEN s.error_leads > 10 OR sp.sync_success_rate < 90 THEN 'critical'
        WHEN s.error_leads > 5 OR sp.sync_success_rate < 95 THEN 'warning'
        ELSE 'healthy'
    END as overall_health
FROM sync_stats s, sync_performance sp, error_summary es;
"""

ACTIVITY_VIEW_DDL = """CREATE OR REPLACE VIEW real_time_sync_activity AS
SELECT 
    lsh.id,
    lsh.synced_at,
    lsh.sync_type,
    lsh.sync_direction,
    lsh.sync_status,
    lsh.fields_changed,
    l.first_name || ' ' || l.last_name as lead_name,
    l.email,
    l.company_name,
    cs.segment_name
FROM lead_sync_history lsh
JOIN leads l ON lsh.lead_id = l.id
LEFT JOIN customer_segments cs ON l.segment_id = cs.id
WHERE lsh.synced_at > NOW() - INTERVAL '1 hour'
ORDER BY lsh.synced_at DESC
LIMIT 100;
"""

ALERT_FAILURE_RATE = """SELECT 
    CASE 
        WHEN (COUNT(CASE WHEN sync_status = 'error' THEN 1 END) * 100.0 / COUNT(*)) > 10 
        THEN true 
        ELSE false 
    END as alert_critical_failure_rate
FROM lead_sync_history
WHERE synced_at > NOW() - INTERVAL '1 hour';
"""

ALERT_STALLED = """SELECT 
    CASE 
        WHEN MAX(synced_at) < NOW() - INTERVAL '30 minutes' 
        THEN true 
        ELSE false 
    END as alert_sync_stalled
FROM lead_sync_history;
"""

ALERT_HIGH_ERROR_COUNT = """SELECT 
    id, 
    first_name || ' ' || last_name as lead_name,
    sync_error_count
FROM leads
WHERE sync_error_count > 5
ORDER BY sync_error_count DESC;
"""

STALE_LEADS_FUNCTION_DDL = """-- Example: Alert for stale leads
CREATE OR REPLACE FUNCTION check_stale_leads()
RETURNS TABLE(stale_count INTEGER, oldest_pending TIMESTAMP)
AS $$
BEGIN
    RETURN QUERY
    SELECT 
        COUNT(*)::INTEGER as stale_count,
        MIN(created_at) as oldest_pending
    FROM leads
    WHERE sync_status = 'pending'
    AND created_at < NOW() - INTERVAL '1 hour';
END;
$$ LANGUAGE plpgsql;
"""

DEBUG_STUCK_LEADS = """-- Find stuck leads
SELECT * FROM leads 
WHERE sync_status = 'syncing' 
AND updated_at < NOW() - INTERVAL '10 minutes';
"""

DEBUG_WEBHOOKS = """-- Check webhook processing
SELECT 
    DATE_TRUNC('minute', synced_at) as minute,
    COUNT(*) as webhook_count
FROM lead_sync_history
WHERE sync_type = 'webhook_update'
AND synced_at > NOW() - INTERVAL '1 hour'
GROUP BY minute
ORDER BY minute DESC;
"""

INDEX_DDL = """-- Already included in migration
CREATE INDEX idx_sync_history_monitoring 
ON lead_sync_history(synced_at DESC, sync_status);

CREATE INDEX idx_leads_sync_monitoring 
ON leads(sync_status, last_synced_at);
"""

DAILY_SUMMARY_DDL = """-- For high-traffic dashboards
CREATE MATERIALIZED VIEW lead_sync_daily_summary AS
SELECT 
    DATE_TRUNC('day', synced_at) as sync_date,
    sync_direction,
    sync_status,
    COUNT(*) as sync_count,
    COUNT(DISTINCT lead_id) as unique_leads
FROM lead_sync_history
GROUP BY sync_date, sync_direction, sync_status;

-- Refresh daily
CREATE OR REPLACE FUNCTION refresh_daily_summary()
RETURNS void AS $$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY lead_sync_daily_summary;
END;
$$ LANGUAGE plpgsql;
"""

# Reads of the views and calls of the functions the spec defines or names (Grafana panels,
# the n8n workflow, the usage guide).
VIEW_READS = {
    "lead_sync_health_dashboard": "SELECT * FROM lead_sync_health_dashboard",
    "real_time_sync_activity": "SELECT * FROM real_time_sync_activity",
    "sync_monitoring": "SELECT * FROM sync_monitoring",
    "lead_analytics": "SELECT * FROM lead_analytics",
    "lead_sync_daily_summary": "SELECT * FROM lead_sync_daily_summary",
}
FUNCTION_CALLS = {
    "check_stale_leads": "SELECT * FROM check_stale_leads()",
    "refresh_daily_summary": "SELECT refresh_daily_summary()",
}

QUERIES = {
    "status_overview": STATUS_OVERVIEW,
    "hourly_performance": HOURLY_PERFORMANCE,
    "lead_flow": LEAD_FLOW,
    "error_tracking": ERROR_TRACKING,
    "segment_distribution": SEGMENT_DISTRIBUTION,
    "alert_failure_rate": ALERT_FAILURE_RATE,
    "alert_stalled": ALERT_STALLED,
    "alert_high_error_count": ALERT_HIGH_ERROR_COUNT,
    "debug_stuck_leads": DEBUG_STUCK_LEADS,
    "debug_webhooks": DEBUG_WEBHOOKS,
}


# --- tests ---------------------------------------------------------------------------------------

import importlib  # noqa: E402
from collections import Counter  # noqa: E402
from datetime import timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction  # noqa: E402

from monitoring import selectors  # noqa: E402
from monitoring.selectors.dashboard import RECENT_ERRORS_SQL  # noqa: E402

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "lead-sync-monitoring-dashboard.md"
SPEC_TEXTS = {
    **QUERIES,
    "HEALTH_VIEW_DDL": HEALTH_VIEW_DDL,
    "ACTIVITY_VIEW_DDL": ACTIVITY_VIEW_DDL,
    "STALE_LEADS_FUNCTION_DDL": STALE_LEADS_FUNCTION_DDL,
    "INDEX_DDL": INDEX_DDL,
    "DAILY_SUMMARY_DDL": DAILY_SUMMARY_DDL,
}


def rows(sql: str, params: Any = None) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [col.name for col in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]


def spec_view_body(ddl: str) -> str:
    """The SELECT of a spec CREATE VIEW, unchanged, to run as a subquery next to our view."""
    return ddl.split(" AS\n", 1)[1].rstrip().rstrip(";")


def _savepoint_error(sql: str) -> DatabaseError:
    """Run sql in a savepoint that must fail; return the error (the test's transaction goes on)."""
    with pytest.raises(DatabaseError) as info, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)
    return info.value


@pytest.mark.skipif(not SPEC.exists(), reason="the spec lives next to the repository (../shared/spec)")
def test_sql_is_the_spec_verbatim():
    spec = SPEC.read_text()
    for name, text in SPEC_TEXTS.items():
        if name == "debug_stuck_leads":
            assert text.rstrip("\n") in spec, name
        else:
            assert text in spec, name


# --- every query runs unchanged, with exact numbers ------------------------------------------------


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_spec_query_runs_unchanged_on_empty_tables(db, name):
    if name == "alert_failure_rate":
        # Defect 1: the spec's failure-rate alert divides by zero when the last hour has no history.
        error = _savepoint_error(QUERIES[name])
        assert isinstance(error, DataError)
        assert "division by zero" in str(error)
        return
    result = rows(QUERIES[name])
    if name == "alert_stalled":
        assert result == [{"alert_sync_stalled": False}]  # defect 2: see test_defect_2
    else:
        assert result == []


@pytest.mark.parametrize("name", sorted(VIEW_READS))
def test_every_view_the_spec_reads_exists_and_reads_on_empty_tables(db, name):
    result = rows(VIEW_READS[name])
    if name == "lead_sync_health_dashboard":
        assert len(result) == 1
        assert result[0]["total_leads"] == 0
        assert result[0]["overall_health"] == "unknown"
    elif name == "sync_monitoring":
        assert [(r["sync_status"], r["count"], r["percentage"]) for r in result] == [
            ("synced", 0, None), ("pending", 0, None), ("error", 0, None), ("syncing", 0, None), ("conflict", 0, None),
        ]
    else:
        assert result == []


def test_status_overview(sync_dataset):
    result = {r["sync_status"]: r for r in rows(STATUS_OVERVIEW)}
    assert {s: r["lead_count"] for s, r in result.items()} == {
        "synced": 2, "pending": 2, "error": 2, "syncing": 1, "conflict": 1,
    }
    assert result["synced"]["percentage"] == Decimal("25.00")
    assert result["conflict"]["percentage"] == Decimal("12.50")
    assert result["error"]["avg_errors"] == Decimal("4.5")  # (7 + 2) / 2
    assert result["pending"]["last_sync_time"] is None
    assert result["synced"]["last_sync_time"] == sync_dataset.ada.last_synced_at


def test_hourly_performance(sync_dataset):
    result = rows(HOURLY_PERFORMANCE)
    # 7 attempts in 24 h (edsger's at 25 h is out), 3 of them errors.
    assert sum(r["syncs_completed"] for r in result) == 7
    assert sum(r["sync_errors"] for r in result) == 3
    assert [r["sync_hour"] for r in result] == sorted((r["sync_hour"] for r in result), reverse=True)


def test_lead_flow(sync_dataset):
    result = rows(LEAD_FLOW)
    # All eight leads were created within 7 days.
    assert sum(r["lead_count"] for r in result) == 8
    by_source = Counter()
    for r in result:
        by_source[r["lead_source"]] += r["lead_count"]
    assert by_source == {"website": 4, "referral": 3, "linkedin": 1}


def test_error_tracking(sync_dataset):
    result = rows(ERROR_TRACKING)
    assert [(r["email"], r["sync_error_count"], r["last_error_detail"]) for r in result] == [
        ("alan@example.com", 7, "Twenty API 429: rate limit exceeded for lead 123"),
        ("katherine@example.com", 2, "Twenty API 500: internal error"),
    ]
    assert result[0]["lead_name"] == "Alan Turing"


def test_segment_distribution(sync_dataset):
    result = {r["segment_name"]: r for r in rows(SEGMENT_DISTRIBUTION)}
    assert {k: (r["total_leads"], r["synced_leads"], r["in_twenty"]) for k, r in result.items()} == {
        "Enterprise": (3, 1, 2), "SMB": (3, 1, 2), None: (2, 0, 0),
    }
    assert round(result["Enterprise"]["avg_lead_score"], 4) == Decimal("73.3333")  # (90 + 50 + 80) / 3
    assert round(result["SMB"]["avg_confidence"], 4) == Decimal("0.7833")  # (0.8 + 0.6 + 0.95) / 3


def test_alerts(sync_dataset):
    assert rows(ALERT_FAILURE_RATE) == [{"alert_critical_failure_rate": True}]  # 2 of 5 = 40 %
    assert rows(ALERT_STALLED) == [{"alert_sync_stalled": False}]  # last attempt 10 minutes ago
    assert rows(ALERT_HIGH_ERROR_COUNT) == [
        {"id": sync_dataset.alan.id, "lead_name": "Alan Turing", "sync_error_count": 7}
    ]


def test_debug_queries(sync_dataset):
    stuck = rows(DEBUG_STUCK_LEADS)
    assert [r["id"] for r in stuck] == [sync_dataset.edsger.id]
    webhooks = rows(DEBUG_WEBHOOKS)
    # ada 50 m, katherine 40 m, donald 30 m ago: three different minutes
    assert [r["webhook_count"] for r in webhooks] == [1, 1, 1]


def test_view_reads_on_the_dataset(sync_dataset):
    health = rows(VIEW_READS["lead_sync_health_dashboard"])[0]
    assert (health["total_leads"], health["synced_leads"], health["error_leads"], health["overall_health"]) == (
        8, 2, 2, "critical",
    )
    activity = rows(VIEW_READS["real_time_sync_activity"])
    assert [(r["email"], r["sync_status"]) for r in activity] == [
        ("ada@example.com", "synced"),  # 10 m
        ("alan@example.com", "error"),  # 20 m
        ("donald@example.com", "conflict"),  # 30 m
        ("katherine@example.com", "error"),  # 40 m
        ("ada@example.com", "synced"),  # 50 m
    ]
    assert activity[3]["lead_name"] == "Katherine"
    assert activity[0]["segment_name"] == "Enterprise"
    monitoring = rows(VIEW_READS["sync_monitoring"])
    assert [(r["sync_status"], r["count"]) for r in monitoring] == [
        ("synced", 2), ("pending", 2), ("error", 2), ("syncing", 1), ("conflict", 1),
    ]
    analytics = rows(VIEW_READS["lead_analytics"])
    expected = Counter(lead.created_at.date() for lead in _dataset_leads(sync_dataset))
    assert {r["date"]: r["total_leads"] for r in analytics} == expected
    assert sum(r["synced_to_twenty"] for r in analytics) == 4  # ada, grace, edsger, donald
    assert [r["date"] for r in analytics] == sorted(expected, reverse=True)


def _dataset_leads(ds):
    return [ds.ada, ds.grace, ds.alan, ds.katherine, ds.linus, ds.barbara, ds.edsger, ds.donald]


def test_check_stale_leads(sync_dataset):
    assert rows(FUNCTION_CALLS["check_stale_leads"]) == [
        {"stale_count": 1, "oldest_pending": sync_dataset.barbara.created_at}
    ]


def test_check_stale_leads_on_empty_table(db):
    assert rows(FUNCTION_CALLS["check_stale_leads"]) == [{"stale_count": 0, "oldest_pending": None}]


def test_refresh_daily_summary(sync_dataset):
    assert rows(VIEW_READS["lead_sync_daily_summary"]) == []  # not refreshed yet
    rows(FUNCTION_CALLS["refresh_daily_summary"])
    summary = rows(VIEW_READS["lead_sync_daily_summary"])
    totals = Counter()
    for r in summary:
        totals[r["sync_status"]] += r["sync_count"]
        assert r["sync_date"].tzinfo is not None  # timestamptz, UTC midnight (migration 0010)
        assert (r["sync_date"].hour, r["sync_date"].minute) == (0, 0)
    assert totals == {"synced": 4, "error": 3, "conflict": 1}
    refreshed = rows("SELECT * FROM materialized_view_refreshes")
    assert [r["view_name"] for r in refreshed] == ["lead_sync_daily_summary"]
    rows(FUNCTION_CALLS["refresh_daily_summary"])  # twice: CONCURRENTLY over a populated view
    assert sum(r["sync_count"] for r in rows(VIEW_READS["lead_sync_daily_summary"])) == 8


def test_refresh_daily_summary_on_empty_table(db):
    rows(FUNCTION_CALLS["refresh_daily_summary"])
    assert rows(VIEW_READS["lead_sync_daily_summary"]) == []


# --- the spec's defects, one test each ------------------------------------------------------------


def test_defect_1_failure_rate_on_an_empty_hour(db):
    error = _savepoint_error(ALERT_FAILURE_RATE)
    assert "division by zero" in str(error)
    assert selectors.failure_rate() == {"attempts": 0, "errors": 0, "rate": None}


def test_defect_2_an_empty_history_is_stalled(db):
    assert rows(ALERT_STALLED) == [{"alert_sync_stalled": False}]  # the spec: not stalled
    assert selectors.sync_stalled() is True


def test_defect_3_concurrent_refresh_needs_a_unique_index_with_nulls_not_distinct(sync_dataset):
    index = rows("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_lead_sync_daily_summary_key'")[0]
    assert "UNIQUE" in index["indexdef"] and "NULLS NOT DISTINCT" in index["indexdef"]
    # Without it (the spec's DDL creates none) the spec's refresh_daily_summary() fails.
    with pytest.raises(DatabaseError, match="concurrently"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX idx_lead_sync_daily_summary_key")
            cursor.execute("SELECT refresh_daily_summary()")
    rows("SELECT refresh_daily_summary()")
    assert sum(r["sync_count"] for r in rows("SELECT * FROM lead_sync_daily_summary")) == 8


def _insert_leads(count: int, status: str, **extra: str) -> None:
    columns = ", ".join(["email", "sync_status", *extra])
    values = ", ".join(["'bulk' || n || '-' || %s || '@example.com'", "%s", *extra.values()])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO leads ({columns}) SELECT {values} FROM generate_series(1, %s) n", [status, status, count]
        )


def _spec_health() -> str:
    return rows(f"SELECT overall_health FROM ({spec_view_body(HEALTH_VIEW_DDL)}) spec")[0]["overall_health"]


def test_defect_4_health_on_empty_table(db):
    assert _spec_health() == "healthy"
    assert selectors.health_summary()["overall_health"] == "unknown"


def test_defect_4_health_with_stuck_syncing_and_conflict_leads(db):
    _insert_leads(100, "synced", last_synced_at="now() - interval '5 minutes'")
    _insert_leads(1, "syncing", sync_started_at="now() - interval '2 hours'")
    _insert_leads(1, "conflict")
    assert _spec_health() == "healthy"
    health = selectors.health_summary()
    assert (health["stuck_leads"], health["conflict_leads"], health["syncing_leads"]) == (1, 1, 1)
    assert health["overall_health"] == "warning"


def test_defect_4_health_with_never_synced_leads(db):
    _insert_leads(10, "synced", last_synced_at="now() - interval '5 minutes'")
    _insert_leads(10, "pending", created_at="now() - interval '3 hours'")  # stale, never synced
    assert _spec_health() == "healthy"  # the spec only looks at leads that have synced
    health = selectors.health_summary()
    assert (health["stale_pending_leads"], health["never_synced_leads"]) == (10, 10)
    assert health["sync_success_rate"] == Decimal("50.00")
    assert health["overall_health"] == "critical"


def test_defect_4_thresholds_are_ratios_not_counts(db):
    _insert_leads(989, "synced", last_synced_at="now() - interval '5 minutes'")
    _insert_leads(11, "error", last_synced_at="now() - interval '5 minutes'")
    assert _spec_health() == "critical"  # 11 errors > 10, though only 1.1 % of the leads
    health = selectors.health_summary()
    assert health["error_rate"] == Decimal("1.10")
    assert health["sync_success_rate"] == Decimal("98.90")
    assert health["overall_health"] == "healthy"


def test_defect_5_check_stale_leads_returns_timestamptz(sync_dataset):
    error = _savepoint_error(
        "DROP FUNCTION check_stale_leads();\n" + STALE_LEADS_FUNCTION_DDL + "\nSELECT * FROM check_stale_leads();"
    )
    assert "does not match function result type" in str(error)
    result_type = rows(
        "SELECT pg_get_function_result('check_stale_leads()'::regprocedure) AS result"
    )[0]["result"]
    assert result_type == "TABLE(stale_count integer, oldest_pending timestamp with time zone)"
    assert rows("SELECT * FROM check_stale_leads()")[0]["stale_count"] == 1


def test_defect_6_our_ddl_is_rerunnable_and_the_specs_is_not(db):
    assert "already exists" in str(_savepoint_error(INDEX_DDL))
    assert "already exists" in str(_savepoint_error(DAILY_SUMMARY_DDL))
    indexes = importlib.import_module("monitoring.migrations.0002_triggers_and_indexes")
    summary = importlib.import_module("monitoring.migrations.0004_daily_summary")
    with connection.cursor() as cursor:
        cursor.execute(indexes.CREATE_INDEXES)
        cursor.execute(summary.CREATE)
    assert rows("SELECT count(*) AS n FROM pg_indexes WHERE indexname = 'idx_sync_history_monitoring'") == [{"n": 1}]


def test_defect_7_sync_monitoring_and_lead_analytics_are_defined(sync_dataset):
    metrics = rows(VIEW_READS["sync_monitoring"])
    assert metrics[2]["sync_status"] == "error"  # n8n: $json.metrics[2].count
    assert metrics[2]["count"] == 2
    analytics = rows(VIEW_READS["lead_analytics"])
    assert {"date", "total_leads", "synced_to_twenty"} <= set(analytics[0])


def test_defect_8_stuck_is_measured_from_sync_started_at(sync_dataset):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE leads SET phone = '+1 555 0199' WHERE id = %s", [sync_dataset.edsger.id])
    assert rows(DEBUG_STUCK_LEADS) == []  # the edit reset updated_at: the spec loses the stuck lead
    assert [r["id"] for r in selectors.stuck_leads()] == [sync_dataset.edsger.id]
    assert selectors.health_summary()["stuck_leads"] == 1


def test_defect_9_last_error_lookup_puts_nulls_first(sync_dataset):
    # Our synced_at is NOT NULL (defect 11); on a history where it may be NULL (the spec's schema),
    # the spec's lookup picks the unfinished attempt instead of the newest failure.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE lead_sync_history (LIKE public.lead_sync_history INCLUDING DEFAULTS)")
        cursor.execute("ALTER TABLE pg_temp.lead_sync_history ALTER COLUMN synced_at DROP NOT NULL")
        cursor.execute("INSERT INTO pg_temp.lead_sync_history SELECT * FROM public.lead_sync_history")
        cursor.execute(
            "INSERT INTO pg_temp.lead_sync_history (id, lead_id, sync_type, sync_direction, sync_status, "
            "error_message, created_at, synced_at) VALUES (999, %s, 'retry', 'twenty_to_supabase', 'error', "
            "'attempt never finished', now() - interval '3 days', NULL)",
            [sync_dataset.alan.id],
        )
    spec = {r["email"]: r["last_error_detail"] for r in rows(ERROR_TRACKING)}
    ours = {r["email"]: r["last_error_detail"] for r in rows(RECENT_ERRORS_SQL, {"limit": 20})}
    assert spec["alan@example.com"] == "attempt never finished"
    assert ours["alan@example.com"] == "Twenty API 429: rate limit exceeded for lead 123"


def test_defect_10_lead_name_survives_a_missing_part(sync_dataset):
    spec = {r["email"]: r["lead_name"] for r in rows(ERROR_TRACKING)}
    assert spec["katherine@example.com"] is None
    ours = {r["email"]: r["lead_name"] for r in selectors.recent_errors()}
    assert ours["katherine@example.com"] == "Katherine"
    assert rows(
        "SELECT lead_name FROM real_time_sync_activity WHERE email = 'katherine@example.com'"
    ) == [{"lead_name": "Katherine"}]


def test_defect_11_synced_at_is_never_null(sync_dataset):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status) "
            "VALUES (%s, 'manual', 'twenty_to_supabase', 'synced') RETURNING synced_at, created_at",
            [sync_dataset.ada.id],
        )
        synced_at, created_at = cursor.fetchone()
    assert synced_at is not None and created_at is not None
    error = _savepoint_error(
        f"INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, synced_at) "
        f"VALUES ('{sync_dataset.ada.id}', 'manual', 'twenty_to_supabase', 'synced', NULL)"
    )
    assert isinstance(error, IntegrityError) and "synced_at" in str(error)


def test_defect_11_median_sync_time_comes_from_history(sync_dataset):
    spec = rows(f"SELECT median_sync_time_seconds FROM ({spec_view_body(HEALTH_VIEW_DDL)}) spec")[0]
    assert spec["median_sync_time_seconds"] < 0  # last_synced_at - updated_at after an edit
    assert selectors.health_summary()["median_sync_time_seconds"] == pytest.approx(5.0, rel=0.02)  # [3, 5, 10] s, ±2 %


def test_defect_12_buckets_do_not_depend_on_the_session_time_zone(db):
    with connection.cursor() as cursor:
        # 12:00 UTC yesterday is already tomorrow... in Kiritimati (UTC+14): 02:00 today.
        cursor.execute(
            "INSERT INTO leads (email, created_at) VALUES "
            "('tz@example.com', date_trunc('day', now(), 'UTC') - interval '12 hours') RETURNING created_at"
        )
        created_at = cursor.fetchone()[0]
        cursor.execute("SET LOCAL TIME ZONE 'Pacific/Kiritimati'")
    spec_day = rows(LEAD_FLOW)[0]["date"]
    ours = rows("SELECT date FROM lead_analytics")[0]["date"]
    assert ours == created_at.date()  # the UTC day, whatever the session says
    assert spec_day.date() == created_at.date() + timedelta(days=1)  # the session's day
    hours = selectors.hourly_performance(tz="Asia/Kolkata")
    assert hours == []  # no history; bucketing itself is covered below


def test_defect_12_hourly_buckets_in_the_display_zone(sync_dataset):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'Pacific/Kiritimati'")
    hours = selectors.hourly_performance(tz="Asia/Kolkata")  # UTC+05:30: hours start at :30 UTC
    assert sum(r["syncs_completed"] for r in hours) == 7
    assert {r["sync_hour"].astimezone(tz=None).utcoffset() is not None for r in hours} == {True}
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")
    utc_minutes = {
        r["m"] for r in rows(
            "SELECT date_part('minute', DATE_TRUNC('hour', synced_at AT TIME ZONE 'Asia/Kolkata') "
            "AT TIME ZONE 'Asia/Kolkata') AS m FROM lead_sync_history"
        )
    }
    assert utc_minutes == {30.0}
    assert {(r["sync_hour"].minute, r["sync_hour"].utcoffset()) for r in hours} == {(30, timedelta(0))}


def test_spec_activity_view_body_runs_and_ours_keeps_its_rows(sync_dataset):
    spec = rows(spec_view_body(ACTIVITY_VIEW_DDL))
    ours = rows("SELECT * FROM real_time_sync_activity")
    assert [r["id"] for r in spec] == [r["id"] for r in ours]  # same attempts, same order
    assert [k for k in ours[0]][: len(spec[0])] == list(spec[0])  # spec columns first, in order
    assert {r["email"]: r["lead_name"] for r in spec}["katherine@example.com"] is None  # defect 10


def test_stuck_count_is_the_rollups_syncing_count_minus_the_young_ones(db):
    """stuck_lead_count() and the health row subtract the leads that went into syncing in the last
    10 minutes from the rollup's syncing count; on leads of every case they equal the list."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO leads (first_name, sync_status, sync_started_at, updated_at) VALUES
                ('old', 'syncing', now() - interval '2 hours', now()),
                ('older', 'syncing', now() - interval '3 days', now()),
                ('edge', 'syncing', now() - interval '10 minutes 1 second', now()),
                ('young', 'syncing', now() - interval '9 minutes', now()),
                ('just now', 'syncing', now(), now()),
                ('no start', 'syncing', NULL, now() - interval '1 hour'),
                ('no start, young', 'syncing', NULL, now() - interval '1 minute'),
                ('done', 'synced', now() - interval '2 hours', now())
            """
        )
        # Without sync_started_at a lead is measured from updated_at (defect 8).
    listed = sorted(r["lead_name"] for r in selectors.stuck_leads())
    assert listed == ["edge", "no start", "old", "older"]
    assert selectors.stuck_lead_count() == 4
    assert selectors.stuck_lead_count(older_than=timedelta(hours=1, minutes=30)) == 2
    assert selectors.health_summary()["stuck_leads"] == 4
