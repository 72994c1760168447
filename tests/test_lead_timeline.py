"""The lead timeline (portal page and admin panel): repairs as their own rows, readable changes, folds,
escaping; and each repaired lead's admin History (issue 13 "Readable timelines", item 6)."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse

from monitoring.choices import HistoryDirection, HistoryStatus, SyncType
from monitoring.models import Lead, LeadSyncHistory
from monitoring.services.leads import resolve_conflicts, retry_leads
from tests.test_portal_pages import rows_of

pytestmark = pytest.mark.django_db


def _detail(client, lead: Lead, **params):
    response = client.get(reverse("monitoring:lead-detail", args=[lead.pk]), params)
    assert response.status_code == 200, response.content[:500]
    return response


def _body(response) -> str:
    """The page's main table only (the Fields card above also shows the lead's columns)."""
    html = response.content.decode()
    return html[html.index("<h2>Timeline</h2>"):]


def test_a_repair_is_its_own_row_between_the_attempts_with_who_reason_and_old_new(viewer_client, sync_dataset, operator):
    katherine = sync_dataset.katherine
    # An attempt after the repair, so the repair sits between two attempts.
    retry_leads(leads=Lead.objects.filter(pk=katherine.pk), user=operator, reason="Twenty is <b>back</b>")
    LeadSyncHistory.objects.create(
        lead=katherine, sync_type=SyncType.RETRY, sync_direction=HistoryDirection.SUPABASE_TO_TWENTY,
        sync_status=HistoryStatus.SYNCED, created_at=sync_dataset.now + timedelta(hours=1),
        synced_at=sync_dataset.now + timedelta(hours=1),
    )

    response = _detail(viewer_client, katherine)

    rows = rows_of(response)
    assert len(rows) == 3
    assert "Retry Synced" in rows[0]
    # The repair: who, the action, the reason, old -> new; no direction or status of an attempt.
    assert "— — Repair: Retry sync — operator" in rows[1]  # no direction, no attempt status
    assert "Reason: Twenty is &lt;b&gt;back&lt;/b&gt;" in rows[1]
    assert "status: error → pending" in rows[1]
    assert "last error: Twenty API 500: internal error → —" in rows[1]
    assert "Webhook update Error" in rows[2]
    html = _body(response)
    assert html.count('class="timeline-repair"') == 1 and html.count('class="timeline-attempt"') == 2
    assert "Twenty is &lt;b&gt;back&lt;/b&gt;" in html and "<b>back</b>" not in html  # escaped


def test_changed_fields_are_field_old_new_lines_not_raw_json(viewer_client, sync_dataset):
    response = _detail(viewer_client, sync_dataset.ada)
    html = _body(response)
    assert '<span class="field">email:</span> old@example.com → ada@example.com' in html
    assert '<span class="field">lead_score:</span> 85 → 90' in html
    assert "[&quot;old@example.com&quot;" not in html and '{"email"' not in html


def test_long_values_and_errors_fold_with_the_full_text_one_click_away(viewer_client, sync_dataset):
    lead = sync_dataset.alan
    long_value = "x" * 70 + "<script>alert(1)</script>" + "y" * 500
    trace = "Traceback (most recent call last):\n" + "  File \"n8n.js\", line 1\n" * 400  # ~10 KB
    LeadSyncHistory.objects.create(
        lead=lead, sync_type=SyncType.WEBHOOK_UPDATE, sync_direction=HistoryDirection.TWENTY_TO_SUPABASE,
        sync_status=HistoryStatus.ERROR, fields_changed={"notes": ["short", long_value]}, error_message=trace,
        created_at=sync_dataset.now, synced_at=sync_dataset.now,
    )
    html = _body(_detail(viewer_client, lead))

    escaped = long_value.replace("<", "&lt;").replace(">", "&gt;")
    # The start in the summary, the whole value inside the <details>: no JavaScript needed.
    assert f'<span class="field">notes:</span> short → <details class="fold"><summary>{escaped[:80 + 12]}' not in html
    assert re.search(r'<span class="field">notes:</span> short → <details class="fold"><summary>x{70}&lt;script&gt;', html)
    assert f'<span class="fold-full">{escaped}</span>' in html
    assert "<script>alert(1)</script>" not in html
    # The error: once, in its own cell, folded after 300 characters, the full trace on demand.
    assert html.count("Traceback (most recent call last):") == 2  # the folded start + the full text
    assert html.count('<div class="error-text"><details class="fold">') == 1
    assert trace.replace('"', "&quot;") in html


def test_a_resolved_conflict_shows_the_direction_change(viewer_client, sync_dataset, operator):
    resolve_conflicts(leads=Lead.objects.filter(pk=sync_dataset.donald.pk), user=operator, reason="Twenty is right",
                      winner=HistoryDirection.TWENTY_TO_SUPABASE)
    rows = rows_of(_detail(viewer_client, sync_dataset.donald))
    assert "Repair: Resolve conflict" in rows[0]
    assert "direction: bidirectional → twenty_to_supabase" in rows[0]
    assert "status: conflict → pending" in rows[0]


def test_timeline_filters_show_only_attempts_or_only_repairs(viewer_client, sync_dataset, operator):
    katherine = sync_dataset.katherine
    retry_leads(leads=Lead.objects.filter(pk=katherine.pk), user=operator, reason="r")
    assert len(rows_of(_detail(viewer_client, katherine))) == 2
    only_repairs = rows_of(_detail(viewer_client, katherine, entry="repair"))
    assert len(only_repairs) == 1 and "Repair: Retry sync" in only_repairs[0]
    only_attempts = rows_of(_detail(viewer_client, katherine, entry="attempt"))
    assert len(only_attempts) == 1 and "Webhook update" in only_attempts[0]
    # A status is an attempt's: filtering by one leaves the repairs out.
    assert len(rows_of(_detail(viewer_client, katherine, sync_status="error"))) == 1
    bad = viewer_client.get(reverse("monitoring:lead-detail", args=[katherine.pk]), {"entry": "nonsense"})
    assert bad.status_code == 400


def test_timeline_sorts_and_exports_with_readable_changes(viewer_client, sync_dataset, operator):
    katherine = sync_dataset.katherine
    retry_leads(leads=Lead.objects.filter(pk=katherine.pk), user=operator, reason="r")
    oldest_first = rows_of(_detail(viewer_client, katherine, sort="at"))
    assert "Webhook update" in oldest_first[0] and "Repair" in oldest_first[1]
    response = viewer_client.get(reverse("monitoring:lead-detail", args=[katherine.pk]), {"_export": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["Type"] for row in rows] == ["Repair: Retry sync", "Webhook update"]
    assert rows[0]["Changes"].splitlines() == [
        "Reason: r", "last error: Twenty API 500: internal error → —", "status: error → pending"
    ]
    assert rows[0]["By"] == "operator" and rows[1]["Error"] == "Twenty API 500: internal error"


def test_admin_change_page_interleaves_repairs_in_its_timeline_panel(operator_client, sync_dataset, operator):
    katherine = sync_dataset.katherine
    retry_leads(leads=Lead.objects.filter(pk=katherine.pk), user=operator, reason="Twenty <i>back</i>")
    page = operator_client.get(reverse("admin:monitoring_lead_change", args=[katherine.pk])).content.decode()
    panel = page[page.index('<table class="lead-timeline">'):]
    assert panel.index('<tr class="timeline-repair">') < panel.index('<tr class="timeline-attempt">')
    assert "Repair: Retry sync" in panel and "Twenty &lt;i&gt;back&lt;/i&gt;" in panel
    assert "status:</span> error → pending" in panel


def test_after_a_repair_the_leads_admin_history_shows_it(operator_client, sync_dataset, operator):
    d = sync_dataset
    retry_leads(leads=Lead.objects.filter(pk__in=[d.katherine.pk, d.donald.pk]), user=operator,
                reason="Twenty outage over")
    for lead in (d.katherine, d.donald):
        response = operator_client.get(reverse("admin:monitoring_lead_history", args=[lead.pk]))
        assert response.status_code == 200
        page = response.content.decode()
        assert "This object doesn’t have a change history" not in page
        assert "doesn't have a change history" not in page
        assert "Retry sync: Twenty outage over (status:" in page
        assert "operator" in page
    # A lead that was not repaired still has none.
    page = operator_client.get(reverse("admin:monitoring_lead_history", args=[d.ada.pk])).content.decode()
    assert "doesn’t have a change history" in page or "doesn't have a change history" in page


def test_lead_repairs_admin_lists_every_repair_read_only(viewer_client, operator_client, sync_dataset, operator):
    retry_leads(leads=Lead.objects.filter(pk=sync_dataset.katherine.pk), user=operator, reason="Twenty <back>")
    url = reverse("admin:monitoring_leadrepair_changelist")
    page = viewer_client.get(url).content.decode()
    assert "Twenty &lt;back&gt;" in page and "Retry sync" in page
    assert reverse("admin:monitoring_lead_change", args=[sync_dataset.katherine.pk]) in page
    assert operator_client.get(reverse("admin:monitoring_leadrepair_add")).status_code == 403
    found = viewer_client.get(url, {"q": str(sync_dataset.katherine.pk)}).context["cl"].result_list
    assert len(found) == 1
