"""Issue 10, finding 4: an operator repair is not a sync attempt, for any number the portal shows.

Each test builds the situation of the issue by hand, takes the figure, runs a real repair (the
service the admin action calls) and takes the figure again. On the old code the repair wrote a
'manual'/'synced' lead_sync_history row per lead, which every one of these figures counted.
"""
from __future__ import annotations

import time

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse

from monitoring import mcp_server, selectors
from monitoring.choices import HistoryStatus, LeadSyncDirection, LeadSyncStatus, RuleKind
from monitoring.models import Incident, IncidentState, Lead, LeadSyncHistory
from monitoring.selectors.metrics import attempts_by_direction, sync_metrics_payload
from monitoring.services.alerts import evaluate_alerts
from monitoring.services.api_tokens import create_api_token
from monitoring.services.leads import retry_leads
from tests.alert_helpers import S2T, T2S, add_attempts, db_now, make_lead
from tests.test_prometheus import scrape, value

pytestmark = pytest.mark.django_db


def _two_failed_leads_and_a_quiet_sync(minutes_quiet: int = 35) -> tuple[list[Lead], object]:
    """Two bidirectional leads in error; the last attempt in each direction `minutes_quiet` minutes ago."""
    now = db_now()
    leads = [
        make_lead(first_name=name, sync_status=LeadSyncStatus.ERROR, sync_error_count=1,
                  sync_error_message="Twenty API 503", sync_direction=LeadSyncDirection.BIDIRECTIONAL,
                  last_synced_at=now - timedelta(minutes=minutes_quiet))
        for name in ("Ada", "Grace")
    ]
    add_attempts(1, finished=now - timedelta(minutes=minutes_quiet), status=HistoryStatus.ERROR, direction=T2S,
                 lead=leads[0])
    add_attempts(1, finished=now - timedelta(minutes=minutes_quiet + 1), status=HistoryStatus.ERROR, direction=S2T,
                 lead=leads[1])
    return leads, now


def _retry(leads: list[Lead], operator) -> None:
    result = retry_leads(leads=Lead.objects.filter(pk__in=[lead.pk for lead in leads]), user=operator,
                         reason="Twenty is back")
    assert result.updated == len(leads)
    cache.clear()  # snapshotted selectors: the next read computes from the database


def test_retry_of_two_leads_leaves_the_performance_hours_unchanged(operator):
    leads, _ = _two_failed_leads_and_a_quiet_sync()
    before = selectors.hourly_performance()
    assert sum(row["syncs_completed"] for row in before) == 2

    _retry(leads, operator)

    assert selectors.hourly_performance() == before
    assert attempts_by_direction() == {"twenty_to_supabase": {"attempts": 1, "errors": 1},
                                       "supabase_to_twenty": {"attempts": 1, "errors": 1}}
    assert LeadSyncHistory.objects.count() == 2  # the two attempts; the repairs are elsewhere
    # A repair never claims the lead synced: last_synced_at ("last sync", "recently synced") is the sync's.
    assert [lead.last_synced_at for lead in Lead.objects.order_by("first_name")] == [
        lead.last_synced_at for lead in leads
    ]


def test_retry_leaves_seconds_since_last_sync_per_direction_unchanged(client, operator):
    leads, _ = _two_failed_leads_and_a_quiet_sync()
    _retry(leads, operator)

    samples = scrape(client)
    # Both directions have been silent for 35 and 36 minutes: the repair a moment ago is no sync.
    # (The metric is the time of the newest attempt since the Prometheus naming fix of issue 14.)
    now = time.time()
    assert now - value(samples, "leadsync_last_sync_timestamp_seconds", direction="twenty_to_supabase") >= 35 * 60
    assert now - value(samples, "leadsync_last_sync_timestamp_seconds", direction="supabase_to_twenty") >= 36 * 60
    assert value(samples, "leadsync_sync_attempts_last_hour", direction="supabase_to_twenty") == 1


def test_after_a_retry_the_whole_sync_stall_fires_and_no_per_direction_stall(operator):
    leads, _ = _two_failed_leads_and_a_quiet_sync()
    _retry(leads, operator)

    evaluate_alerts()

    firing = {incident.rule.kind: incident.rule for incident in
              Incident.objects.filter(state=IncidentState.FIRING).select_related("rule")}
    assert RuleKind.SYNC_STALLED in firing  # the real "Sync stalled" alert: both directions silent 35 min
    assert RuleKind.DIRECTION_STALLED not in firing  # not "... while the other direction still runs"


def test_a_large_retry_does_not_water_down_the_failure_rate(operator):
    now = db_now()
    # 20 attempts in the last hour, 3 failed = 15 % (threshold 10 %, minimum 20 attempts).
    add_attempts(17, finished=now - timedelta(minutes=20))
    failing = [
        make_lead(first_name=f"Lead {i}", sync_status=LeadSyncStatus.ERROR, sync_error_count=1)
        for i in range(12)
    ]
    for lead in failing[:3]:
        add_attempts(1, finished=now - timedelta(minutes=10), status=HistoryStatus.ERROR, lead=lead)
    assert selectors.failure_rate()["rate"] == 15

    # 12 leads retried: on the old code 12 "synced" rows made it 3 of 32 = 9.38 %, under the threshold.
    _retry(failing, operator)

    assert selectors.failure_rate() == {"attempts": 20, "errors": 3, "rate": 15}
    evaluate_alerts()
    assert Incident.objects.filter(state=IncidentState.FIRING, rule__kind=RuleKind.FAILURE_RATE).exists()


def test_api_and_mcp_do_not_list_a_repair_among_recent_syncs(client, operator, viewer, monkeypatch):
    leads, _ = _two_failed_leads_and_a_quiet_sync()
    secret = create_api_token(user=viewer, name="n8n")[1]
    url = reverse("monitoring:api-sync-metrics")
    before = client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}").json()["recentSyncs"]
    assert len(before) == 2

    _retry(leads, operator)

    after = client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}").json()["recentSyncs"]
    assert after == before
    assert [row["sync_status"] for row in after] == ["error", "error"]
    # The MCP tool's own function (its connection handling is for a thread outside a request).
    monkeypatch.setattr(mcp_server, "_fresh_connection", lambda: None)
    assert mcp_server.get_sync_metrics().structured_content["recentSyncs"] == before  # the untrusted_data envelope's document
    assert len(sync_metrics_payload()["recentSyncs"]) == 2


def test_daily_summary_and_activity_do_not_show_a_repair(viewer_client, operator):
    from django.db import connection

    leads, _ = _two_failed_leads_and_a_quiet_sync(minutes_quiet=5)
    _retry(leads, operator)
    with connection.cursor() as cursor:
        cursor.execute("REFRESH MATERIALIZED VIEW lead_sync_daily_summary")

    summary = selectors.daily_summary()
    assert sum(row["sync_count"] for row in summary) == 2
    assert {row["sync_status"] for row in summary} == {"error"}
    data = viewer_client.get(reverse("monitoring:activity-data")).json()
    assert data["count"] == 2
    assert [row["sync_status"] for row in data["rows"]] == ["error", "error"]
