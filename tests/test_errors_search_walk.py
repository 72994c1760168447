"""The Errors page's search in its default order: reading the ranking index until the page is full
selects exactly the rows the trigram plan selects, and rare terms fall back to the trigram plan."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from monitoring import selectors
from monitoring.choices import LeadSyncStatus
from monitoring.models import Lead
from monitoring.selectors import search
from monitoring.views.leads import ErrorListView


@pytest.fixture
def error_leads(db) -> list[Lead]:
    """30 leads in error: error counts 1-5 with ties, some never synced; every third one's last
    error is a timeout, the rest rate limits; plus a synced lead with a rate-limit message.
    Returns the rate-limit leads in the Errors page's order."""
    now = timezone.now()
    for i in range(30):
        Lead.objects.create(
            email=f"e{i}@example.com", sync_status=LeadSyncStatus.ERROR, sync_error_count=1 + i % 5,
            last_synced_at=None if i % 7 == 0 else now - timedelta(minutes=i % 4),
            sync_error_message="Supabase timeout" if i % 3 == 0 else "Twenty API 429: rate limit exceeded",
            lead_source="web" if i % 2 else "referral",
        )
    Lead.objects.create(email="ok@example.com", sync_status=LeadSyncStatus.SYNCED,
                        sync_error_message="Twenty API 429: rate limit exceeded")
    return list(selectors.search_leads(ErrorListView.queryset, "rate limit"))


def _page(client, params: dict[str, str]) -> list[Lead]:  # noqa: ANN001
    response = client.get(reverse("monitoring:errors"), params)
    assert response.status_code == 200
    return [row.record for row in response.context["table"].page.object_list]


def _spy(monkeypatch) -> list[object]:  # noqa: ANN001
    results: list[object] = []
    original = selectors.first_matches_in_order

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        results.append(original(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(selectors, "first_matches_in_order", spy)
    return results


def test_fixture_has_ties_and_the_expected_matches(error_leads):
    assert len(error_leads) == 20
    counts = [lead.sync_error_count for lead in error_leads]
    assert counts == sorted(counts, reverse=True) and len(set(counts)) == 5


@pytest.mark.parametrize("per_page", ["25", "50"])
def test_the_page_equals_the_trigram_plan(viewer_client, error_leads, monkeypatch, per_page):
    results = _spy(monkeypatch)
    assert _page(viewer_client, {"q": "rate limit", "per_page": per_page}) == error_leads
    assert results and results[-1] is not None  # the walk answered, not the fallback


def test_a_later_page_equals_the_trigram_plan(viewer_client, error_leads, monkeypatch):
    # Keep 26+ matches so page 2 of 25 exists.
    for i in range(10):
        Lead.objects.create(email=f"x{i}@example.com", sync_status=LeadSyncStatus.ERROR, sync_error_count=2,
                            sync_error_message="rate limit again")
    expected = list(selectors.search_leads(ErrorListView.queryset, "rate limit"))
    results = _spy(monkeypatch)
    assert _page(viewer_client, {"q": "rate limit", "per_page": "25", "page": "2"}) == expected[25:50]
    assert results[-1] is not None and len(results[-1]) == 30  # all 30 matches (fewer than 2 x 25 + 1)


def test_pages_of_a_walk_equal_slices_of_the_trigram_plan(error_leads):
    base = ErrorListView.queryset
    for rows_needed in (1, 5, 11, 20, 21):
        pks = selectors.first_matches_in_order(base, "rate limit", rows_needed)
        assert pks == [lead.pk for lead in error_leads[:rows_needed]]
        assert list(base.filter(pk__in=pks)) == error_leads[:rows_needed]


def test_other_filters_apply_to_the_walk(viewer_client, error_leads, monkeypatch):
    results = _spy(monkeypatch)
    shown = _page(viewer_client, {"q": "rate limit", "lead_source": "web", "min_errors": "3"})
    expected = [lead for lead in error_leads if lead.lead_source == "web" and lead.sync_error_count >= 3]
    assert shown == expected and len(expected) > 0
    assert results[-1] is not None


def test_a_rare_term_falls_back_to_the_trigram_plan(viewer_client, error_leads, monkeypatch):
    # 20 of 30 rows match: with a probe of 1 x the rows needed (26) it cannot fill the page.
    monkeypatch.setattr(search, "SEARCH_PROBE_FACTOR", 1)
    results = _spy(monkeypatch)
    assert _page(viewer_client, {"q": "rate limit", "per_page": "25"}) == error_leads
    assert results == [None]


def test_an_explicit_sort_or_an_export_does_not_walk(viewer_client, error_leads, monkeypatch):
    results = _spy(monkeypatch)
    shown = _page(viewer_client, {"q": "rate limit", "sort": "-sync_error_count"})
    assert {lead.pk for lead in shown} == {lead.pk for lead in error_leads}
    response = viewer_client.get(reverse("monitoring:errors"), {"q": "rate limit", "_export": "csv"})
    assert response.status_code == 200
    assert results == []


def test_no_match_and_blank_text(error_leads):
    assert selectors.first_matches_in_order(ErrorListView.queryset, "no such words", 5) == []  # all 30 read
    assert selectors.first_matches_in_order(ErrorListView.queryset, "  ", 5) is None


def test_the_walk_reads_the_ranking_index(error_leads):
    queryset = ErrorListView.queryset.annotate(_matches=search.lead_text_contains("rate limit"))
    sql, params = queryset.values_list("pk", "_matches")[:400].query.sql_with_params()
    with connection.cursor() as cursor:
        # A few rows are as cheap to sort as to walk; with full sorts and bitmaps off the planner
        # shows what the query can use (at 1M leads it picks the walk by itself: 2 ms).
        for setting in ("enable_seqscan", "enable_sort", "enable_bitmapscan"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "idx_leads_error_ranking" in plan, plan
    assert "idx_leads_search_trgm" not in plan


def test_errors_page_shows_25_leads_a_page_by_default(viewer_client, error_leads):
    """The spec's error list is its top 20: the page opens on 25 rows (the chooser offers more),
    in the spec's order, and the next page continues without a gap or a repeat."""
    ranked = list(ErrorListView.queryset)
    assert len(ranked) == 30
    first = _page(viewer_client, {})
    assert first == ranked[:25]
    assert _page(viewer_client, {"page": "2"}) == ranked[25:]
    assert _page(viewer_client, {"per_page": "50"}) == ranked
