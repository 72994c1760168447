"""The shared list base: each filter, sorting, exports with filters, bad input -> 400, escaping, query budgets."""
from __future__ import annotations

import re

import csv
import io
from datetime import UTC

import openpyxl
import pytest
from django.urls import reverse

from monitoring.choices import HistoryDirection, HistoryStatus, LeadSyncStatus, SyncType
from monitoring.models import Lead, LeadSyncHistory
from monitoring.navigation import NAVIGATION

from .test_portal_pages import html, rows_of

ERRORS = "monitoring:errors"
# Pages whose main table has no row on sync_dataset (their exports are a header only).
EMPTY_ON_THE_DATASET = {"monitoring:alerts"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def names(response) -> list[str]:
    rows = [row for row in rows_of(response) if not row.startswith("No leads")]
    return [" ".join(row.split()[:2]) if not row.startswith("Katherine") else "Katherine" for row in rows]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["Alan Turing", "Katherine"]),
        ({"sync_direction": "twenty_to_supabase"}, ["Alan Turing"]),
        ({"sync_direction": "supabase_to_twenty"}, ["Katherine"]),
        ({"lead_source": "linkedin"}, ["Katherine"]),
        ({"min_errors": "3"}, ["Alan Turing"]),
        ({"max_errors": "2"}, ["Katherine"]),
        ({"q": "500"}, ["Katherine"]),
        ({"q": "bletchley"}, ["Alan Turing"]),
        ({"q": "nobody-matches-this"}, []),
    ],
)
def test_errors_page_filters(viewer_client, sync_dataset, params, expected):
    response = viewer_client.get(reverse(ERRORS), params)
    assert response.status_code == 200
    assert names(response) == expected


def test_source_filter_is_a_choice_list_built_from_the_data(viewer_client, sync_dataset):
    """Issue 13.7: the Source filter was free text with an exact match, so "linked" found nothing."""
    body = html(viewer_client.get(reverse("monitoring:leads")))
    select = body.split('name="lead_source"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="([^"]*)"', select) == ["", "linkedin", "referral", "website"]
    response = viewer_client.get(reverse("monitoring:leads"), {"lead_source": "linked"})
    assert response.status_code == 400 and "Select a valid choice. linked is not one of the available choices." in html(response)


def test_errors_page_segment_filter(viewer_client, sync_dataset):
    response = viewer_client.get(reverse(ERRORS), {"segment": str(sync_dataset.enterprise.pk)})
    assert names(response) == ["Alan Turing"]
    response = viewer_client.get(reverse(ERRORS), {"segment": str(sync_dataset.smb.pk)})
    assert names(response) == [] and "No leads are in error." in html(response)


def test_errors_page_sorts_by_column(viewer_client, sync_dataset):
    assert names(viewer_client.get(reverse(ERRORS), {"sort": "sync_error_count"})) == ["Katherine", "Alan Turing"]
    assert names(viewer_client.get(reverse(ERRORS), {"sort": "-sync_error_count"})) == ["Alan Turing", "Katherine"]
    # alan synced 20 min ago, katherine 40 min ago
    assert names(viewer_client.get(reverse(ERRORS), {"sort": "last_synced_at"})) == ["Katherine", "Alan Turing"]
    assert names(viewer_client.get(reverse(ERRORS), {"sort": "-last_synced_at"})) == ["Alan Turing", "Katherine"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sync_status": "pending"}, {"Linus Torvalds", "Barbara Liskov"}),
        ({"sync_status": "conflict"}, {"Donald Knuth"}),
    ],
)
def test_lead_list_status_filter(viewer_client, sync_dataset, params, expected):
    response = viewer_client.get(reverse("monitoring:leads"), params)
    assert {" ".join(r.split()[:2]) for r in rows_of(response)} == expected


def test_lead_list_sorts_by_creation(viewer_client, sync_dataset):
    oldest_first = viewer_client.get(reverse("monitoring:leads"), {"sort": "created_at"})
    assert [" ".join(r.split()[:2]) for r in rows_of(oldest_first)][:2] == ["Donald Knuth", "Edsger Dijkstra"]


def test_lead_timeline_filters(viewer_client, sync_dataset):
    url = reverse("monitoring:lead-detail", args=[sync_dataset.ada.pk])
    assert len(rows_of(viewer_client.get(url))) == 2
    rows = rows_of(viewer_client.get(url, {"sync_type": SyncType.WEBHOOK_UPDATE}))
    assert len(rows) == 1 and "Webhook update" in rows[0]
    rows = rows_of(viewer_client.get(url, {"sync_direction": HistoryDirection.TWENTY_TO_SUPABASE}))
    assert len(rows) == 1 and "Scheduled" in rows[0]
    assert rows_of(viewer_client.get(url, {"sync_status": HistoryStatus.ERROR})) == [
        "This lead has no sync attempts or repairs yet."
    ]


def test_daily_summary_filters(viewer_client, sync_dataset):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT refresh_daily_summary()")
    url = reverse("monitoring:daily-summary")
    errors = rows_of(viewer_client.get(url, {"sync_status": "error"}))
    assert sum(int(r.split()[-2]) for r in errors) == 3
    t2s = rows_of(viewer_client.get(url, {"sync_direction": "twenty_to_supabase"}))
    assert sum(int(r.split()[-2]) for r in t2s) == 5
    future = rows_of(viewer_client.get(url, {"date_from": "2999-01-01"}))
    assert future == ["The daily summary is empty (no history yet, or it has never been refreshed)."]


def test_daily_summary_shows_the_last_30_days_unless_asked_for_more(viewer_client, sync_dataset):
    """Issue 12: the page read every day ever (3.6k view rows at 600 days; 3.3 -> 11 ms of database
    time from 60 to 600 days at the same write rate). It now reads the last 30 UTC days by default."""
    from datetime import timedelta

    from django.utils import timezone

    from monitoring.models import LeadSyncHistory

    old = timezone.now() - timedelta(days=45)
    LeadSyncHistory.objects.create(lead=sync_dataset.ada, sync_type=SyncType.SCHEDULED,
                                   sync_direction=HistoryDirection.TWENTY_TO_SUPABASE,
                                   sync_status=HistoryStatus.SYNCED, created_at=old, synced_at=old)
    url = reverse("monitoring:daily-summary")

    def attempts(response) -> int:
        assert response.status_code == 200
        return sum(int(r.split()[-2]) for r in rows_of(response))

    first_day = (timezone.now().astimezone(UTC).date() - timedelta(days=29)).isoformat()
    default = viewer_client.get(url)
    assert attempts(default) == 8  # sync_dataset's eight attempts, all within two days
    assert f"Showing the last 30 days (from {first_day}); show every day" in " ".join(html(default).split()).replace(
        '<a href="?date_from=">', "").replace("</a>", "")
    assert f'name="date_from" value="{first_day}"' in html(default)
    assert attempts(viewer_client.get(url, {"date_from": ""})) == 9  # every day, the old attempt too
    every = viewer_client.get(url, {"date_from": ""})
    assert 'id="default-window"' not in html(every)
    assert attempts(viewer_client.get(url, {"date_from": old.date().isoformat()})) == 9
    # The export follows the page: the default window unless From is given.
    csv_rows = list(csv.reader(io.StringIO(viewer_client.get(url, {"_export": "csv"}).content.decode())))
    assert sum(int(r[3]) for r in csv_rows[1:]) == 8
    csv_rows = list(csv.reader(io.StringIO(viewer_client.get(url, {"_export": "csv", "date_from": ""}).content.decode())))
    assert sum(int(r[3]) for r in csv_rows[1:]) == 9


# --- exports ---------------------------------------------------------------------------------


def test_csv_export_has_header_and_filtered_rows(viewer_client, sync_dataset):
    response = viewer_client.get(reverse(ERRORS), {"_export": "csv", "sync_direction": "twenty_to_supabase"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="leads-in-error.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["Lead", "Email", "Error message", "Errors", "Last synced", "Last error detail",
                       "Direction", "Source", "Segment"]
    assert len(rows) == 2
    assert rows[1][:4] == ["Alan Turing", "alan@example.com", "Twenty API 429: rate limit exceeded", "7"]
    assert rows[1][5] == "Twenty API 429: rate limit exceeded for lead 123"
    assert rows[1][6] == "Twenty → Supabase"
    assert rows[1][4].endswith("+00:00")  # ISO 8601 with the offset


def test_xlsx_export_has_header_and_filtered_rows(viewer_client, sync_dataset):
    response = viewer_client.get(reverse(ERRORS), {"_export": "xlsx", "q": "katherine"})
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    values = [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]
    assert list(values[0][:4]) == ["Lead", "Email", "Error message", "Errors"]
    assert len(values) == 2 and values[1][0] == "Katherine" and values[1][5] == "Twenty API 500: internal error"


def test_export_of_a_dashboard_table_by_name(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:debug"), {"_export": "csv", "_table": "webhooks"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["Minute", "Webhook updates"]
    assert sum(int(r[1]) for r in rows[1:]) == 3


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exports_stop_at_the_cap_keeping_the_tables_order(viewer_client, sync_dataset, monkeypatch, fmt):
    from monitoring.views.lists import PortalTablesView

    assert PortalTablesView.export_max_rows == 50_000  # the README: "at most 50 000 rows"
    everything = _csv(viewer_client.get(reverse("monitoring:leads"), {"_export": "csv"}))
    assert len(everything) == 1 + 8
    monkeypatch.setattr(PortalTablesView, "export_max_rows", 3)  # the same cap, on 8 rows instead of 50,001

    response = viewer_client.get(reverse("monitoring:leads"), {"_export": fmt})

    if fmt == "csv":
        capped = _csv(response)
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        capped = [["" if c is None else str(c) for c in row] for row in sheet.iter_rows(values_only=True)]
    assert len(capped) == 1 + 3
    assert [row[0] for row in capped] == [row[0] for row in everything[:4]]  # the first 3, newest first


@pytest.mark.parametrize("page", [name for name, _ in NAVIGATION])
@pytest.mark.parametrize(("fmt", "content_type"), [("csv", "text/csv"), ("xlsx", XLSX)])
def test_every_page_exports(viewer_client, sync_dataset, page, fmt, content_type):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT refresh_daily_summary()")  # so that the daily summary has rows too
    response = viewer_client.get(reverse(page), {"_export": fmt})
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    if fmt == "csv":
        exported = list(csv.reader(io.StringIO(response.content.decode())))
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        exported = [["" if cell is None else str(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]
    # The export is the page's main table: its rows, with a header, in the same order.
    shown = viewer_client.get(reverse(page), {"per_page": 250})
    main = next(iter(shown.context["view"].tables))
    on_page = rows_of(shown, main) if shown.context["view"].tables[main].rows else []  # not the "empty" line
    header, *data = exported
    assert header and all(header), header
    assert len(data) == len(shown.context["view"].tables[main].rows) == len(on_page)
    assert len(data) > 0 or page in EMPTY_ON_THE_DATASET
    if data:
        first_cell = data[0][0].split("T")[0] if data[0][0] else ""
        assert first_cell[:10] in on_page[0], (data[0], on_page[0])


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "params", "message"),
    [
        (ERRORS, {"min_errors": "abc"}, "Enter a whole number."),
        (ERRORS, {"min_errors": "1.5"}, "Enter a whole number."),
        (ERRORS, {"min_errors": "-1"}, "Ensure this value is greater than or equal to 0."),
        (ERRORS, {"sync_direction": "sideways"}, "Select a valid choice. sideways is not one of the available choices."),
        (ERRORS, {"segment": "not-a-uuid"}, "“not-a-uuid” is not a valid UUID."),
        (ERRORS, {"sort": "password"}, "Unknown sort column “password”"),
        (ERRORS, {"sort": "last_error_detail"}, "Unknown sort column “last_error_detail”"),
        (ERRORS, {"sort": "email"}, "Unknown sort column “email”; sortable columns: sync_error_count, last_synced_at."),
        (ERRORS, {"page": "abc"}, "Page must be a whole number from 1, not “abc”."),
        (ERRORS, {"page": "0"}, "Page must be a whole number from 1, not “0”."),
        (ERRORS, {"page": "99"}, "Page 99 is past the last page of results."),
        (ERRORS, {"page": "99999999999999999999"}, "Page must be a whole number from 1"),
        (ERRORS, {"per_page": "7"}, "Rows per page must be one of 25, 50, 100, 250, not “7”."),
        (ERRORS, {"_export": "pdf"}, "Unknown export format “pdf”"),
        ("monitoring:leads", {"page": "5"}, "Page 5 is past the last page of results."),
        ("monitoring:leads", {"sort": "email"}, "Unknown sort column “email”; sortable columns: created_at."),
        ("monitoring:daily-summary", {"date_from": "2026-13-45"}, "Enter a valid date."),
        ("monitoring:daily-summary", {"date_from": "2026-02-02", "date_to": "2026-01-01"},
         "Must be on or after the start date."),
        ("monitoring:debug", {"webhooks-sort": "nope"}, "Unknown sort column “nope”"),
        ("monitoring:debug", {"_export": "csv", "_table": "nope"}, "Unknown table “nope”"),
        ("monitoring:overview", {"page": "x"}, "Page must be a whole number from 1, not “x”."),
    ],
)
def test_bad_input_is_a_400_with_the_message(viewer_client, sync_dataset, page, params, message):
    response = viewer_client.get(reverse(page), params)
    assert response.status_code == 400
    assert message in html(response).replace("&quot;", '"').replace("&#x27;", "'")


def test_filter_error_is_next_to_its_field(viewer_client, sync_dataset):
    body = html(viewer_client.get(reverse(ERRORS), {"min_errors": "abc"}))
    field = body.split('name="min_errors"', 1)[1].split("</div>", 1)[0]
    assert "Enter a whole number." in field


# --- escaping ------------------------------------------------------------------------------------

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture
def hostile_lead(sync_dataset) -> Lead:
    lead = Lead.objects.create(
        first_name=SCRIPT, last_name="Mallory", email="m@example.com", company_name=SCRIPT,
        sync_status=LeadSyncStatus.ERROR, sync_error_count=9, sync_error_message=SCRIPT,
    )
    LeadSyncHistory.objects.create(
        lead=lead, sync_type=SyncType.RETRY, sync_direction=HistoryDirection.SUPABASE_TO_TWENTY,
        sync_status=HistoryStatus.ERROR, error_message=f"Twenty API 400: {SCRIPT}", fields_changed={"x": SCRIPT},
    )
    return lead


@pytest.mark.parametrize("page", [name for name, _ in NAVIGATION] + ["lead_detail"])
def test_sync_text_is_escaped(viewer_client, hostile_lead, page):
    url = reverse("monitoring:lead-detail", args=[hostile_lead.pk]) if page == "lead_detail" else reverse(page)
    body = html(viewer_client.get(url))
    assert "<script>alert" not in body
    if page in ("monitoring:errors", "monitoring:error-groups", "lead_detail", "monitoring:activity"):
        assert "&lt;script&gt;alert(" in body


def test_activity_json_carries_text_not_markup(viewer_client, hostile_lead):
    data = viewer_client.get(reverse("monitoring:activity-data")).json()
    assert data["rows"][0]["lead_name"] == f"{SCRIPT} Mallory"  # rendered with textContent by activity.js


# --- query budgets ---------------------------------------------------------------------------------

BUDGETS = {
    # Rollup reads (issue 12) plus the firing alerts of the headline rule (issue 13).
    "monitoring:overview": 12,
    "monitoring:performance": 8,
    "monitoring:lead-flow": 7,
    "monitoring:errors": 11,  # + the range-aware error-group read merged with the rollups (wave 2)
    "monitoring:error-groups": 7,
    "monitoring:segments": 7,
    "monitoring:activity": 7,
    "monitoring:daily-summary": 9,
    "monitoring:debug": 9,
    "monitoring:leads": 9,
    # session, user, permissions, then five tables: firing, incidents (+count), rules (+count,
    # channels prefetch), channels, deliveries (+count)
    "monitoring:alerts": 13,
    # + 2 while the alert check has never completed: since when it was due (first run, schedule)
    "monitoring:jobs": 19,
}


@pytest.mark.parametrize("page", [name for name, _ in NAVIGATION])
def test_query_budget(viewer_client, sync_dataset, django_assert_max_num_queries, page):
    with django_assert_max_num_queries(BUDGETS[page]):
        assert viewer_client.get(reverse(page)).status_code == 200


def test_errors_page_query_count_does_not_grow_with_rows(viewer_client, sync_dataset, django_assert_max_num_queries):
    for i in range(30):
        lead = Lead.objects.create(first_name=f"L{i}", sync_status=LeadSyncStatus.ERROR, sync_error_count=1)
        LeadSyncHistory.objects.create(lead=lead, sync_type=SyncType.RETRY, sync_direction=HistoryDirection.SUPABASE_TO_TWENTY,
                                       sync_status=HistoryStatus.ERROR, error_message=f"boom {i}")
    with django_assert_max_num_queries(BUDGETS["monitoring:errors"]):
        response = viewer_client.get(reverse(ERRORS), {"per_page": "50"})
    assert len(rows_of(response)) == 32


def test_lead_detail_query_budget(viewer_client, sync_dataset, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        viewer_client.get(reverse("monitoring:lead-detail", args=[sync_dataset.ada.pk]))


# --- search index ------------------------------------------------------------------------------------


def test_search_takes_like_wildcards_literally(viewer_client, sync_dataset):
    assert names(viewer_client.get(reverse(ERRORS), {"q": "%"})) == []
    assert names(viewer_client.get(reverse(ERRORS), {"q": "_"})) == []


def test_search_expression_matches_its_index():
    from importlib import import_module

    from monitoring.selectors.search import LEAD_SEARCH_TEXT

    assert import_module("monitoring.migrations.0021_lead_search_index").LEAD_SEARCH_TEXT == LEAD_SEARCH_TEXT


def test_search_can_use_the_trigram_index(sync_dataset):
    from django.db import connection

    from monitoring import selectors

    sql, params = selectors.search_leads(Lead.objects.order_by(), "rate limit").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "idx_leads_search_trgm" in plan
