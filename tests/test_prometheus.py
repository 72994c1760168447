"""GET /metrics: Prometheus exposition of the sync on hand-built data, and who may scrape it."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitoring.choices import LeadSyncStatus
from monitoring.models import Incident, IncidentState, JobRun, Lead, LeadSyncHistory
from monitoring.selectors.alerts import firing_alerts
from monitoring.services.alerts import evaluate_alerts
from monitoring.services.api_tokens import create_api_token

URL = reverse("monitoring:prometheus-metrics")


def scrape(client, **extra) -> dict[tuple[str, tuple], float]:
    response = client.get(URL, **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_sync_numbers_on_hand_built_dataset(client, sync_dataset):
    samples = scrape(client)  # the test client is 127.0.0.1, in the default allow-list

    assert {status: value(samples, "leadsync_leads", status=status)
            for status in ("synced", "pending", "error", "syncing", "conflict")} == {
        "synced": 2, "pending": 2, "error": 2, "syncing": 1, "conflict": 1}
    # Last hour: t->s ada 10m, alan 20m (error), donald 30m; s->t katherine 40m (error), ada 50m.
    assert value(samples, "leadsync_sync_attempts_last_hour", direction="twenty_to_supabase") == 3
    assert value(samples, "leadsync_sync_attempts_last_hour", direction="supabase_to_twenty") == 2
    assert value(samples, "leadsync_sync_errors_last_hour", direction="twenty_to_supabase") == 1
    assert value(samples, "leadsync_sync_errors_last_hour", direction="supabase_to_twenty") == 1
    # Ratios in 0-1 (the views' 28.57 % and 25.00 %), never percent.
    assert value(samples, "leadsync_sync_success_ratio") == pytest.approx(0.2857)
    assert value(samples, "leadsync_lead_error_ratio") == pytest.approx(0.25)
    assert value(samples, "leadsync_overall_health", state="critical") == 1
    assert value(samples, "leadsync_overall_health", state="healthy") == 0
    assert value(samples, "leadsync_alerts_firing") == 0
    # Newest attempt per direction, as the time it happened: t->s ada 10 min ago, s->t katherine 40 min ago.
    newest = {"twenty_to_supabase": timedelta(minutes=10), "supabase_to_twenty": timedelta(minutes=40)}
    for direction, age in newest.items():
        assert value(samples, "leadsync_last_sync_timestamp_seconds", direction=direction) == pytest.approx(
            (sync_dataset.now - age).timestamp(), abs=1e-3)


def test_pending_deltas_show_a_compactor_that_falls_behind(client, db):
    from monitoring.services import rollups as rollup_services
    from tests.maintenance_helpers import insert_history, make_lead

    rollup_services.compact_rollups()
    assert value(scrape(client), "leadsync_rollup_pending_deltas", table="history") == 0
    lead = make_lead()
    insert_history(lead, timezone.now(), count=3)
    samples = scrape(client)
    assert value(samples, "leadsync_rollup_pending_deltas", table="leads") == 1
    assert value(samples, "leadsync_rollup_pending_deltas", table="history") == 3
    rollup_services.compact_rollups()
    samples = scrape(client)
    assert value(samples, "leadsync_rollup_pending_deltas", table="leads") == 0
    assert value(samples, "leadsync_rollup_pending_deltas", table="history") == 0


def test_names_follow_the_prometheus_naming_guide(client, sync_dataset):
    """No seconds-since (a sample that is wrong a second later), no percent, no `_rate` in a
    gauge's name, `_total` only on counters, and every family says what it counts."""
    response = client.get(URL)
    families = list(text_string_to_metric_families(response.content.decode()))
    names = {family.name for family in families}
    assert not {name for name in names if "seconds_since" in name or "percent" in name or "_rate" in name}, names
    assert {"leadsync_last_sync_timestamp_seconds", "leadsync_sync_success_ratio", "leadsync_lead_error_ratio"} <= names
    for family in families:
        assert len(family.documentation) >= 20, family.name
        if family.type == "gauge":
            assert not family.name.endswith("_total"), family.name
    ratios = [sample.value for family in families if family.name.endswith("_ratio") for sample in family.samples]
    assert ratios and all(0 <= ratio <= 1 for ratio in ratios)


def test_build_info_carries_the_package_version(client, db):
    from leadsync_portal import __version__

    assert value(scrape(client), "leadsync_build_info", version=__version__) == 1


def test_empty_database(client, db):
    samples = scrape(client)
    assert value(samples, "leadsync_leads", status="error") == 0
    assert value(samples, "leadsync_sync_attempts_last_hour", direction="twenty_to_supabase") == 0
    assert value(samples, "leadsync_overall_health", state="unknown") == 1
    # Unknown numbers are absent, never a made-up zero.
    assert not any(name in ("leadsync_sync_success_ratio", "leadsync_last_sync_timestamp_seconds",
                            "leadsync_job_last_run_timestamp_seconds") for name, _ in samples)


def test_job_runs_newest_per_task(client, db):
    now = timezone.now()
    JobRun.objects.create(task_name="monitoring.refresh_snapshots", started_at=now - timedelta(minutes=2),
                          finished_at=now - timedelta(minutes=2), outcome="succeeded")
    newest = JobRun.objects.create(task_name="monitoring.refresh_snapshots", started_at=now - timedelta(minutes=1),
                                   finished_at=now - timedelta(seconds=50), outcome="failed")
    alerts = JobRun.objects.create(task_name="monitoring.evaluate_alerts", started_at=now - timedelta(minutes=4),
                                   outcome="running")

    samples = scrape(client)

    assert value(samples, "leadsync_job_last_run_timestamp_seconds", task="monitoring.refresh_snapshots") == \
        pytest.approx(newest.started_at.timestamp(), abs=1e-3)
    assert value(samples, "leadsync_job_last_run_timestamp_seconds", task="monitoring.evaluate_alerts") == \
        pytest.approx(alerts.started_at.timestamp(), abs=1e-3)
    outcomes = {outcome: value(samples, "leadsync_job_last_run_outcome", task="monitoring.refresh_snapshots",
                               outcome=outcome) for outcome in ("running", "succeeded", "skipped", "failed")}
    assert outcomes == {"running": 0, "succeeded": 0, "skipped": 0, "failed": 1}
    assert value(samples, "leadsync_job_last_run_outcome", task="monitoring.evaluate_alerts", outcome="running") == 1


def test_firing_alerts_gauge_counts_the_firing_incidents(client, sync_dataset, operator):
    evaluate_alerts()  # five rules fire on the dataset (see test_firing_alerts_are_in_the_payload)
    assert len(firing_alerts()) == 5
    assert value(scrape(client), "leadsync_alerts_firing") == 5
    # An acknowledged alert still fires; a resolved one does not.
    acknowledged, resolved = Incident.objects.order_by("pk")[:2]
    Incident.objects.filter(pk=acknowledged.pk).update(acknowledged_by=operator, acknowledged_at=timezone.now())
    Incident.objects.filter(pk=resolved.pk).update(state=IncidentState.RESOLVED, resolved_at=timezone.now())
    assert value(scrape(client), "leadsync_alerts_firing") == 4


def test_each_scrape_reads_current_data(client, sync_dataset):
    assert value(scrape(client), "leadsync_leads", status="error") == 2
    Lead.objects.filter(pk=sync_dataset.linus.pk).update(sync_status=LeadSyncStatus.ERROR)
    assert value(scrape(client), "leadsync_leads", status="error") == 3


def test_outside_the_allow_list_needs_a_token(client, sync_dataset, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    response = client.get(URL, REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 401
    assert b"leadsync_leads" not in response.content


def test_forwarded_for_header_does_not_pass_the_allow_list(client, db, settings):
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    response = client.get(URL, REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 401


def test_allow_list_accepts_networks(client, db, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get(URL, REMOTE_ADDR="10.1.2.3").status_code == 200


def test_token_works_from_anywhere(client, sync_dataset, settings, viewer):
    settings.METRICS_ALLOWED_IPS = []
    secret = create_api_token(user=viewer, name="prometheus")[1]
    samples = scrape(client, REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert value(samples, "leadsync_leads", status="error") == 2


def test_token_without_viewer_role_is_403(client, db, settings, non_staff):
    settings.METRICS_ALLOWED_IPS = []
    secret = create_api_token(user=non_staff, name="prometheus")[1]
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 403


def test_openmetrics_on_request(client, db):
    response = client.get(URL, HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().rstrip().endswith("# EOF")


def test_query_budget(client, sync_dataset, django_assert_max_num_queries):
    # sync_monitoring (1), attempts by direction (clock + rollups), all-time totals (1), health
    # (clock, histogram, row), last sync times, latest job runs, firing alerts, the deltas waiting
    # for the compactor (counted up to a cap): each an index or rollup read, none a table scan (issue 12)
    with django_assert_max_num_queries(11):
        scrape(client)


def test_scrapes_are_live_and_totals_count_every_attempt(client, sync_dataset, settings):
    settings.SELECTOR_SNAPSHOT_TTL = 60  # snapshots on: the numbers must still be live (issue 12)
    first = scrape(client)
    assert value(first, "leadsync_sync_attempts_last_hour", direction="twenty_to_supabase") == 3
    before = value(first, "leadsync_sync_attempts_total", direction="twenty_to_supabase")
    LeadSyncHistory.objects.create(
        lead=sync_dataset.ada, sync_type="webhook_update", sync_direction="twenty_to_supabase", sync_status="error"
    )
    second = scrape(client)
    assert value(second, "leadsync_sync_attempts_last_hour", direction="twenty_to_supabase") == 4
    assert value(second, "leadsync_sync_attempts_total", direction="twenty_to_supabase") == before + 1
    assert value(second, "leadsync_sync_errors_total", direction="twenty_to_supabase") == (
        value(first, "leadsync_sync_errors_total", direction="twenty_to_supabase") + 1)
