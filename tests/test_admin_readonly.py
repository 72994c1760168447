"""Read-only admins: sync history, the SQL views and the materialized view are searchable/filterable, never editable."""
from __future__ import annotations

from django.db import connection
from django.urls import reverse

from monitoring.models import LeadSyncHistory

HISTORY = reverse("admin:monitoring_leadsynchistory_changelist")


def _history_ids(client, query: str) -> set[int]:
    response = client.get(HISTORY + query)
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def test_history_filters_and_search(viewer_client, sync_dataset):
    d = sync_dataset
    by_lead = lambda lead: set(LeadSyncHistory.objects.filter(lead=lead).values_list("pk", flat=True))  # noqa: E731
    errors = set(LeadSyncHistory.objects.filter(sync_status="error").values_list("pk", flat=True))
    assert _history_ids(viewer_client, "?sync_status__exact=error") == errors
    assert len(_history_ids(viewer_client, "?within=1h")) == 5  # the dataset's last-hour attempts
    assert len(_history_ids(viewer_client, "?within=24h")) == 7
    assert _history_ids(viewer_client, "?sync_type__exact=retry") == set(
        LeadSyncHistory.objects.filter(lead=d.alan, error_message__endswith="lead 123").values_list("pk", flat=True)
    )
    assert _history_ids(viewer_client, f"?lead__id__exact={d.ada.pk}") == by_lead(d.ada)
    assert _history_ids(viewer_client, f"?q={d.ada.pk}") == by_lead(d.ada)
    assert _history_ids(viewer_client, "?q=tw-donald") == by_lead(d.donald)
    assert _history_ids(viewer_client, "?q=grace@") == by_lead(d.grace)
    assert _history_ids(viewer_client, "?q=internal error") == by_lead(d.katherine)


def test_history_search_with_a_non_uuid_term_is_not_an_error(viewer_client, sync_dataset):
    assert _history_ids(viewer_client, "?q=not-a-uuid") == set()


def test_history_change_page_is_read_only(superuser_client, sync_dataset):
    row = LeadSyncHistory.objects.filter(lead=sync_dataset.donald).get()
    url = reverse("admin:monitoring_leadsynchistory_change", args=[row.pk])
    page = superuser_client.get(url).content.decode()
    assert "Stanford U" in page and 'name="_save"' not in page
    assert superuser_client.post(url, {"sync_status": "error"}).status_code == 403
    assert LeadSyncHistory.objects.get(pk=row.pk).sync_status == "conflict"


def test_view_admins_list_their_rows(viewer_client, sync_dataset):
    health = viewer_client.get(reverse("admin:monitoring_leadsynchealthdashboard_changelist"))
    assert health.status_code == 200
    (row,) = health.context["cl"].result_list
    assert (row.total_leads, row.error_leads, row.overall_health) == (8, 2, "critical")

    monitoring = viewer_client.get(reverse("admin:monitoring_syncmonitoring_changelist") + "?sync_status=error")
    assert [(r.sync_status, r.count) for r in monitoring.context["cl"].result_list] == [("error", 2)]

    activity = viewer_client.get(reverse("admin:monitoring_realtimesyncactivity_changelist") + "?q=ada@example.com")
    assert len(activity.context["cl"].result_list) == 2
    activity = viewer_client.get(reverse("admin:monitoring_realtimesyncactivity_changelist") + "?sync_status=error")
    assert {r.lead_name for r in activity.context["cl"].result_list} == {"Alan Turing", "Katherine"}

    analytics = viewer_client.get(reverse("admin:monitoring_leadanalytics_changelist"))
    assert sum(r.total_leads for r in analytics.context["cl"].result_list) == 8


def test_daily_summary_admin_lists_and_filters_the_materialized_view(viewer_client, sync_dataset):
    with connection.cursor() as cursor:
        cursor.execute("SELECT refresh_daily_summary()")
    url = reverse("admin:monitoring_leadsyncdailysummary_changelist")
    rows = viewer_client.get(url + "?sync_status=error").context["cl"].result_list
    assert sum(r.sync_count for r in rows) == 3
    assert {r.sync_status for r in rows} == {"error"}
    page = viewer_client.get(url).content.decode()
    assert "/change/" not in page  # no per-row pages
