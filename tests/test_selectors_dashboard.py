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
    assert selectors.stuck_leads(limit=0) == []  # at most 0 rows, not "no limit"


# ---- every selector of monitoring/selectors/dashboard.py on hand-built rows: exact rows, order and bounds.
# Mutation testing reached most of these only through the pages, whose tests check far less.

from datetime import timedelta  # noqa: E402

from django.db import connection  # noqa: E402

from monitoring.choices import HistoryDirection, HistoryStatus, LeadSyncStatus, SyncType  # noqa: E402
from monitoring.models import Lead, LeadSyncHistory  # noqa: E402
from monitoring.selectors import dashboard  # noqa: E402
from tests.alert_helpers import add_attempts, db_now  # noqa: E402

ALAN_NEWEST_ERROR = "Twenty API 429: rate limit exceeded for lead 123"
KATHERINE_ERROR = "Twenty API 500: internal error"


def test_recent_errors_most_errors_first_with_the_newest_failed_attempts_message(sync_dataset):
    d = sync_dataset
    assert dashboard.recent_errors() == [
        {"id": d.alan.id, "lead_name": "Alan Turing", "email": "alan@example.com",
         "sync_error_message": "Twenty API 429: rate limit exceeded", "sync_error_count": 7,
         "last_synced_at": d.alan.last_synced_at, "last_error_detail": ALAN_NEWEST_ERROR},
        {"id": d.katherine.id, "lead_name": "Katherine", "email": "katherine@example.com",
         "sync_error_message": KATHERINE_ERROR, "sync_error_count": 2,
         "last_synced_at": d.katherine.last_synced_at, "last_error_detail": KATHERINE_ERROR},
    ]


def test_recent_errors_keeps_20_by_default_by_errors_then_newest_sync_then_id(db):
    now = db_now()
    leads = [
        Lead.objects.create(first_name=f"E{i}", sync_status=LeadSyncStatus.ERROR, sync_error_count=1 + i % 2,
                            last_synced_at=None if i % 3 == 0 else now - timedelta(minutes=i % 4))
        for i in range(22)
    ]
    expected = [lead.id for lead in sorted(leads, key=lambda lead: (  # errors, newest sync (never: last), id
        -lead.sync_error_count, lead.last_synced_at is None, now - (lead.last_synced_at or now), lead.id))]

    assert [row["id"] for row in dashboard.recent_errors()] == expected[:20]
    assert [row["id"] for row in dashboard.recent_errors(limit=3)] == expected[:3]
    assert {row["last_error_detail"] for row in dashboard.recent_errors()} == {None}  # no failed attempt recorded


def test_last_error_details_gives_each_lead_its_newest_failed_attempts_message(sync_dataset):
    d = sync_dataset
    assert dashboard.last_error_details([d.alan.id, d.katherine.id, d.ada.id]) == {
        d.alan.id: ALAN_NEWEST_ERROR, d.katherine.id: KATHERINE_ERROR, d.ada.id: None,
    }


def test_last_error_details_of_no_leads_asks_nothing(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert dashboard.last_error_details([]) == {}


def test_real_time_activity_is_the_last_hours_attempts_newest_first_with_their_errors(sync_dataset):
    d = sync_dataset
    rows = dashboard.real_time_activity()
    assert [(row["lead_id"], row["lead_name"], row["sync_status"], row["error_message"]) for row in rows] == [
        (d.ada.id, "Ada Lovelace", HistoryStatus.SYNCED, None),  # 10 min ago
        (d.alan.id, "Alan Turing", HistoryStatus.ERROR, ALAN_NEWEST_ERROR),  # 20
        (d.donald.id, "Donald Knuth", HistoryStatus.CONFLICT, None),  # 30
        (d.katherine.id, "Katherine", HistoryStatus.ERROR, KATHERINE_ERROR),  # 40
        (d.ada.id, "Ada Lovelace", HistoryStatus.SYNCED, None),  # 50
    ]
    assert [row["synced_at"] for row in rows] == [d.now - timedelta(minutes=m) for m in (10, 20, 30, 40, 50)]


def test_daily_summary_refreshed_at_is_none_until_a_refresh_then_its_time(db):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM materialized_view_refreshes")
    assert dashboard.daily_summary_refreshed_at() is None
    at = db_now() - timedelta(minutes=7)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO materialized_view_refreshes (view_name, refreshed_at) VALUES ('other_view', now())")
        assert dashboard.daily_summary_refreshed_at() is None  # another view's refresh is not this one's
        cursor.execute(
            "INSERT INTO materialized_view_refreshes (view_name, refreshed_at) VALUES ('lead_sync_daily_summary', %s)",
            [at],
        )
    assert dashboard.daily_summary_refreshed_at() == at


def _syncing_since(*minutes_ago: float) -> None:
    now = db_now()  # the transaction's NOW(): a lead exactly on the bound stays exactly on it
    for minutes in minutes_ago:
        Lead.objects.create(first_name=f"S{minutes}", sync_status=LeadSyncStatus.SYNCING,
                            sync_started_at=now - timedelta(minutes=minutes))


def test_stuck_lead_count_counts_leads_in_syncing_for_longer_than_older_than(db):
    assert dashboard.stuck_lead_count() == 0  # no lead in syncing: 0, not None
    _syncing_since(25, 10.5, 10, 9)  # exactly 10 min is not "longer than 10 min"
    Lead.objects.create(first_name="Waiting", sync_status=LeadSyncStatus.PENDING)
    Lead.objects.filter(first_name="Waiting").update(updated_at=db_now() - timedelta(hours=5))

    assert dashboard.stuck_lead_count() == 2
    assert dashboard.stuck_lead_count(older_than=timedelta(minutes=20)) == 1
    assert dashboard.stuck_lead_count(older_than=timedelta(minutes=30)) == 0
    assert dashboard.stuck_lead_count(older_than=timedelta(minutes=5)) == 4
    for older_than in (timedelta(minutes=10), timedelta(minutes=20)):  # the count of the rows stuck_leads() lists
        assert dashboard.stuck_lead_count(older_than=older_than) == len(dashboard.stuck_leads(older_than=older_than))
    assert [row["lead_name"] for row in dashboard.stuck_leads()] == ["S25", "S10.5"]


def test_stuck_lead_count_on_the_dataset(sync_dataset):
    assert dashboard.stuck_lead_count() == 1  # edsger, 25 min


def test_last_sync_times_overall_and_per_direction(sync_dataset):
    now = sync_dataset.now
    assert dashboard.last_sync_times() == {
        "last_sync": now - timedelta(minutes=10),
        "twenty_to_supabase": now - timedelta(minutes=10),
        "supabase_to_twenty": now - timedelta(minutes=40),  # katherine's failed attempt counts too
    }


def test_last_sync_times_of_empty_history_are_none(db):
    assert dashboard.last_sync_times() == {"last_sync": None, "twenty_to_supabase": None, "supabase_to_twenty": None}


def test_sync_stalled_when_no_attempt_within_quiet_for_30_minutes_by_default(db):
    assert dashboard.sync_stalled() is True  # an empty history counts as stalled
    add_attempts(1, finished=db_now() - timedelta(minutes=30, seconds=1))
    assert dashboard.sync_stalled() is True
    assert dashboard.sync_stalled(quiet_for=timedelta(minutes=31)) is False
    add_attempts(1, finished=db_now() - timedelta(minutes=30))  # exactly 30 min ago: not yet stalled
    assert dashboard.sync_stalled() is False
    assert dashboard.sync_stalled(quiet_for=timedelta(minutes=29)) is True


def test_high_error_leads_over_5_errors_by_default_most_first_then_by_id(db):
    for name, errors in (("five", 5), ("six", 6), ("seven a", 7), ("seven b", 7), ("none", 0)):
        Lead.objects.create(first_name=name, sync_status=LeadSyncStatus.ERROR, sync_error_count=errors)
    sevens = sorted(Lead.objects.filter(sync_error_count=7).values_list("id", flat=True))
    expected = [(id_, 7) for id_ in sevens] + [(Lead.objects.get(first_name="six").id, 6)]

    assert [(row["id"], row["sync_error_count"]) for row in dashboard.high_error_leads()] == expected
    assert [(row["id"], row["sync_error_count"]) for row in dashboard.high_error_leads(limit=2)] == expected[:2]
    assert dashboard.high_error_leads(limit=0) == []  # at most 0 rows, not "no limit"
    assert [row["lead_name"] for row in dashboard.high_error_leads(threshold=6)] == [
        Lead.objects.get(id=id_).first_name for id_ in sevens]
    assert dashboard.high_error_lead_count() == 3
    assert dashboard.high_error_lead_count(threshold=6) == 2
    assert dashboard.high_error_lead_count(threshold=4) == 4


def test_recent_history_is_the_newest_10_by_default_newest_first_then_by_id(sync_dataset):
    lead = sync_dataset.grace
    tied = sync_dataset.now - timedelta(minutes=5)
    add_attempts(3, finished=tied, lead=lead, direction=HistoryDirection.SUPABASE_TO_TWENTY)
    newest = sorted(LeadSyncHistory.objects.filter(synced_at=tied).values_list("id", flat=True), reverse=True)

    rows = dashboard.recent_history()

    assert len(rows) == 10 and LeadSyncHistory.objects.count() == 11
    assert [row["id"] for row in rows[:3]] == newest
    assert [row["synced_at"] for row in rows[3:]] == [
        sync_dataset.now - timedelta(minutes=m) for m in (10, 20, 30, 40, 50, 120, 180)]
    assert {key: rows[0][key] for key in ("lead_id", "sync_type", "sync_direction", "sync_status", "error_message")} == {
        "lead_id": lead.id, "sync_type": SyncType.SCHEDULED, "sync_direction": HistoryDirection.SUPABASE_TO_TWENTY,
        "sync_status": HistoryStatus.SYNCED, "error_message": None}
    assert [row["id"] for row in dashboard.recent_history(limit=2)] == newest[:2]
