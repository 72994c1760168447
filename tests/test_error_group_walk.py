"""The error-group drill-down's two plans (semi-join, newest-first walk) select the same rows,
each uses its index, and the lead list picks the walk only for its default order."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from monitoring import filters, selectors
from monitoring.choices import HistoryDirection, HistoryStatus, LeadSyncStatus, SyncType
from monitoring.models import Lead, LeadSyncHistory
from monitoring.selectors import errors
from monitoring.views.lists import PortalTablesView

GROUP = "Twenty API 503: service unavailable"


def _attempt(lead: Lead, message: str | None, *, days_ago: float, status: str = HistoryStatus.ERROR) -> None:
    at = timezone.now() - timedelta(days=days_ago)
    LeadSyncHistory.objects.create(
        lead=lead, sync_type=SyncType.SCHEDULED, sync_direction=HistoryDirection.SUPABASE_TO_TWENTY,
        sync_status=status, error_message=message, created_at=at, synced_at=at,
    )


@pytest.fixture
def group_leads(db) -> list[Lead]:
    """Eight leads created one hour apart (two share a created_at, to check the id tie-break);
    returns, newest first, the five whose failed attempt of GROUP is within 7 days."""
    now = timezone.now()
    leads = []
    for hours in (1, 2, 3, 3, 4, 5, 6, 7):
        lead = Lead.objects.create(email=f"g{len(leads)}@example.com", sync_status=LeadSyncStatus.ERROR)
        Lead.objects.filter(pk=lead.pk).update(created_at=now - timedelta(hours=hours))
        leads.append(lead)
    in_group = [leads[0], leads[2], leads[3], leads[5], leads[7]]
    for lead in in_group:
        _attempt(lead, GROUP, days_ago=1)
    _attempt(leads[0], GROUP, days_ago=2)  # twice: still one row
    _attempt(leads[1], GROUP, days_ago=8)  # outside the 7 days
    _attempt(leads[4], "Twenty API 500: internal error", days_ago=1)  # another group
    _attempt(leads[6], None, days_ago=1, status=HistoryStatus.SYNCED)  # not a failure
    for lead in in_group:
        lead.refresh_from_db()
    return sorted(in_group, key=lambda lead: (-lead.created_at.timestamp(), str(lead.pk)))


def _newest_first(walk: bool, monkeypatch: pytest.MonkeyPatch, queryset=None):  # noqa: ANN001, ANN202
    monkeypatch.setattr(errors, "_walk_is_cheaper", lambda *args: walk)
    base = queryset if queryset is not None else Lead.objects.all()
    return selectors.leads_in_error_group(base, GROUP, newest_first_rows=51).order_by("-created_at", "id")


def test_walk_and_semi_join_select_the_same_rows_in_the_same_order(group_leads, monkeypatch):
    walked = list(_newest_first(True, monkeypatch))
    collected = list(_newest_first(False, monkeypatch))
    assert walked == collected == group_leads
    # Page slices (what the lazy paginator reads) agree too.
    walked_page = list(_newest_first(True, monkeypatch)[1:3])
    assert walked_page == list(_newest_first(False, monkeypatch)[1:3]) == group_leads[1:3]


def test_walk_combines_with_other_filters(group_leads, monkeypatch):
    Lead.objects.filter(pk=group_leads[1].pk).update(sync_status=LeadSyncStatus.SYNCED)
    queryset = Lead.objects.filter(sync_status=LeadSyncStatus.ERROR)
    expected = [group_leads[0], *group_leads[2:]]
    assert list(_newest_first(True, monkeypatch, queryset)) == expected
    assert list(_newest_first(False, monkeypatch, queryset)) == expected


def test_the_two_forms_differ_in_sql(group_leads, monkeypatch):
    # Guards the test above: it would pass vacuously if both branches built the same query.
    assert "IS TRUE" in str(_newest_first(True, monkeypatch).query)
    assert "IS TRUE" not in str(_newest_first(False, monkeypatch).query)


def _plan(queryset) -> str:  # noqa: ANN001
    sql, params = queryset[:51].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        # On a few rows the planner may as well filter the 7-day error index (whose estimate
        # depends on statistics earlier tests left): without it, the question is only whether
        # the group index can serve this query. Dropped inside the test's transaction.
        cursor.execute("DROP INDEX idx_sync_history_errors")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    print(plan)  # shown when an assertion below fails
    return plan


def test_walk_plan_reads_leads_newest_first_against_a_hash_of_the_group(group_leads, monkeypatch):
    plan = _plan(_newest_first(True, monkeypatch))
    assert "Index Scan Backward using idx_leads_created_at" in plan
    assert "hashed SubPlan" in plan
    # Messages up to 1000 bytes from the index alone; longer ones from their own bounded index.
    assert "Index Only Scan using idx_sync_history_error_group_leads" in plan
    assert "idx_sync_history_error_group_long" in plan
    assert "Semi Join" not in plan


def test_semi_join_plan_uses_the_group_index(group_leads, monkeypatch):
    plan = _plan(_newest_first(False, monkeypatch))
    assert "Index Only Scan using idx_sync_history_error_group_leads" in plan
    assert "idx_sync_history_error_group_long" in plan
    assert "hashed SubPlan" not in plan


def test_size_probe_counts_distinct_leads_of_the_window(group_leads):
    # No ANALYZE here: its table statistics would outlive this test's transaction.
    group, total = errors.error_group_size_probe(GROUP, timezone.now() - timedelta(days=7))
    assert group == 5  # leads[0]'s two attempts count once; leads[1]'s is 8 days old
    assert isinstance(total, int) and total >= 0


@pytest.mark.parametrize(
    ("group_leads_count", "total_leads", "rows", "walk"),
    [
        (15_000, 1_000_000, 51, True),  # the bench's largest group, page 1: walk ~3 400 leads
        (15_000, 1_000_000, 501, False),  # page 10: 33 000 leads walked > 2 x 15 000 collected
        (500, 1_000_000, 51, False),  # a small group: collect its 500 leads
        (0, 1_000_000, 51, False),  # an empty group
        (10, 0, 51, False),  # never-analysed table: size unknown, keep the semi-join
    ],
)
def test_walk_is_chosen_by_estimated_leads_read(monkeypatch, group_leads_count, total_leads, rows, walk):
    monkeypatch.setattr(errors, "error_group_size_probe", lambda *args: (group_leads_count, total_leads))
    assert errors._walk_is_cheaper(GROUP, timezone.now(), rows) is walk


@pytest.mark.parametrize(
    ("params", "rows_needed", "status"),
    [
        ({}, 51, 200),
        ({"per_page": "25"}, 26, 200),
        ({"page": "3", "per_page": "25"}, 76, 400),  # past the 5 rows: the page says so
        ({"sort": "-created_at"}, None, 200),  # any explicit sort: the order-neutral semi-join
        ({"_export": "csv"}, None, 200),
    ],
)
def test_lead_list_asks_for_the_walk_only_in_its_default_order(
    viewer_client, group_leads, monkeypatch, params, rows_needed, status
):
    seen: list[int | None] = []
    original = selectors.leads_in_error_group

    def spy(queryset, fingerprint, **kwargs):  # noqa: ANN001, ANN202
        seen.append(kwargs.get("newest_first_rows"))
        return original(queryset, fingerprint, **kwargs)

    monkeypatch.setattr(selectors, "leads_in_error_group", spy)
    response = viewer_client.get(reverse("monitoring:leads"), {"error_group": GROUP, **params})
    assert response.status_code == status
    assert seen == [rows_needed]


def test_lead_list_shows_the_same_page_either_way(viewer_client, group_leads, monkeypatch):
    pages = {}
    for walk in (True, False):
        monkeypatch.setattr(errors, "_walk_is_cheaper", lambda *args, walk=walk: walk)
        response = viewer_client.get(reverse("monitoring:leads"), {"error_group": GROUP, "per_page": "25"})
        assert response.status_code == 200
        pages[walk] = [row.record for row in response.context["table"].page.object_list]
    assert pages[True] == pages[False] == group_leads


def test_default_per_page_matches_the_list_base():
    assert filters.DEFAULT_PER_PAGE == PortalTablesView.per_page
