"""Dashboard selectors on the hand-built dataset: exact numbers."""
from __future__ import annotations

from decimal import Decimal

import pytest

from monitoring import selectors


def test_health_summary_on_dataset(sync_dataset):
    health = selectors.health_summary()
    assert {k: health[k] for k in (
        "total_leads", "synced_leads", "pending_leads", "error_leads", "recently_synced", "syncing_leads",
        "conflict_leads", "stuck_leads", "stale_pending_leads", "never_synced_leads", "leads_with_errors",
        "total_errors",
    )} == {
        "total_leads": 8, "synced_leads": 2, "pending_leads": 2, "error_leads": 2, "recently_synced": 4,
        "syncing_leads": 1, "conflict_leads": 1, "stuck_leads": 1, "stale_pending_leads": 1,
        "never_synced_leads": 2, "leads_with_errors": 2, "total_errors": 3,
    }
    assert health["sync_success_rate"] == Decimal("28.57")
    assert health["error_rate"] == Decimal("25.00")
    assert health["median_sync_time_seconds"] == pytest.approx(5.0, rel=0.02)  # DDSketch histogram: ±2 %
    assert health["overall_health"] == "critical"


def test_health_summary_is_unknown_on_empty_tables(db):
    health = selectors.health_summary()
    assert health["total_leads"] == 0
    assert health["overall_health"] == "unknown"
    assert health["sync_success_rate"] is None


def test_failure_rate_last_hour(sync_dataset):
    assert selectors.failure_rate() == {"attempts": 5, "errors": 2, "rate": Decimal("40.00")}


def test_failure_rate_without_attempts_is_none_not_a_division_error(db):
    assert selectors.failure_rate() == {"attempts": 0, "errors": 0, "rate": None}


def test_sync_monitoring_puts_error_third(sync_dataset):
    rows = selectors.sync_monitoring()
    assert [(r["sync_status"], r["count"]) for r in rows] == [
        ("synced", 2), ("pending", 2), ("error", 2), ("syncing", 1), ("conflict", 1),
    ]
    assert rows[2]["count"] == 2


def test_raw_selectors_decode_jsonb_columns(sync_dataset):
    newest = selectors.recent_history(limit=1)[0]
    assert newest["fields_changed"] == {"email": ["old@example.com", "ada@example.com"]}
    activity = {row["id"]: row for row in selectors.real_time_activity()}
    assert activity[newest["id"]]["fields_changed"] == {"email": ["old@example.com", "ada@example.com"]}


def test_sync_monitoring_order_is_the_documented_contract(db):
    from monitoring.choices import SYNC_MONITORING_ORDER

    assert [row["sync_status"] for row in selectors.sync_monitoring()] == list(SYNC_MONITORING_ORDER)


def test_portal_sessions_run_without_jit(db):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_stuck_leads_limit_keeps_the_longest_stuck(sync_dataset):
    # Mutation testing found no test of `limit`: three stuck leads (edsger 25 min, two more), limit 2.
    from datetime import timedelta

    from django.utils import timezone

    from monitoring.choices import LeadSyncStatus
    from monitoring.models import Lead

    now = timezone.now()
    for minutes, name in ((40, "Longest"), (15, "Shortest")):
        lead = Lead.objects.create(first_name=name, sync_status=LeadSyncStatus.SYNCING)
        Lead.objects.filter(pk=lead.pk).update(sync_started_at=now - timedelta(minutes=minutes))

    assert [r["lead_name"] for r in selectors.stuck_leads()] == ["Longest", "Edsger Dijkstra", "Shortest"]
    assert [r["lead_name"] for r in selectors.stuck_leads(limit=2)] == ["Longest", "Edsger Dijkstra"]
    assert [r["lead_name"] for r in selectors.stuck_leads(limit=1, older_than=timedelta(minutes=30))] == ["Longest"]
