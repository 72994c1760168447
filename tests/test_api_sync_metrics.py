"""GET /api/sync-metrics/: the get-sync-metrics document over HTTP, with token auth and throttling."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client
from django.urls import reverse

from monitoring.models import ApiToken, LeadSyncHistory
from monitoring.services.api_tokens import create_api_token, revoke_api_tokens

URL = reverse("monitoring:api-sync-metrics")


def iso(value: datetime | None) -> str | None:
    return None if value is None else DjangoJSONEncoder().default(value)


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def viewer_secret(viewer) -> str:
    return create_api_token(user=viewer, name="n8n")[1]


def expected_analytics(ds) -> list[dict]:
    """lead_analytics recomputed in Python from the dataset's leads (UTC days, newest first)."""
    days: dict = defaultdict(list)
    for lead in (ds.ada, ds.grace, ds.alan, ds.katherine, ds.linus, ds.barbara, ds.edsger, ds.donald):
        days[lead.created_at.astimezone(dt_timezone.utc).date()].append(lead)
    rows = []
    for day in sorted(days, reverse=True)[:7]:
        leads = days[day]
        avg = Decimal(sum(lead.lead_score for lead in leads)) / len(leads)
        rows.append({
            "date": day.isoformat(),
            "total_leads": len(leads),
            "synced_to_twenty": sum(lead.twenty_id is not None for lead in leads),
            "synced_leads": sum(lead.sync_status == "synced" for lead in leads),
            "error_leads": sum(lead.sync_status == "error" for lead in leads),
            "pending_leads": sum(lead.sync_status in ("pending", "syncing") for lead in leads),
            "avg_score": str(avg.quantize(Decimal("0.01"), ROUND_HALF_UP)),
        })
    return rows


def test_sync_metrics_body_on_hand_built_dataset(client, sync_dataset, viewer_secret):
    ds = sync_dataset
    response = client.get(URL, **bearer(viewer_secret))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert list(body) == ["metrics", "recentSyncs", "analytics", "timestamp", "health", "alerts"]

    assert body["metrics"] == [
        {"sync_status": "synced", "count": 2, "percentage": "25.00",
         "last_sync_time": iso(ds.ada.last_synced_at), "avg_errors": "0.00"},
        {"sync_status": "pending", "count": 2, "percentage": "25.00", "last_sync_time": None, "avg_errors": "0.00"},
        {"sync_status": "error", "count": 2, "percentage": "25.00",
         "last_sync_time": iso(ds.alan.last_synced_at), "avg_errors": "4.50"},
        {"sync_status": "syncing", "count": 1, "percentage": "12.50",
         "last_sync_time": iso(ds.edsger.last_synced_at), "avg_errors": "0.00"},
        {"sync_status": "conflict", "count": 1, "percentage": "12.50",
         "last_sync_time": iso(ds.donald.last_synced_at), "avg_errors": "0.00"},
    ]
    # The spec's n8n IF node reads this path: leads in error.
    assert body["metrics"][2]["count"] == 2

    # All eight attempts (fewer than ten), newest first.
    recent = body["recentSyncs"]
    by_lead = {str(lead.id): name for name, lead in (
        ("ada", ds.ada), ("grace", ds.grace), ("alan", ds.alan), ("katherine", ds.katherine),
        ("edsger", ds.edsger), ("donald", ds.donald))}
    assert [(by_lead[row["lead_id"]], row["sync_status"]) for row in recent] == [
        ("ada", "synced"), ("alan", "error"), ("donald", "conflict"), ("katherine", "error"),
        ("ada", "synced"), ("grace", "synced"), ("alan", "error"), ("edsger", "synced"),
    ]
    newest = recent[0]
    assert newest == {
        "id": newest["id"], "lead_id": str(ds.ada.id), "sync_type": "scheduled",
        "sync_direction": "twenty_to_supabase", "sync_status": "synced",
        "fields_changed": {"email": ["old@example.com", "ada@example.com"]}, "error_message": None,
        "created_at": iso(ds.now - timedelta(minutes=10, seconds=5)), "synced_at": iso(ds.now - timedelta(minutes=10)),
    }
    assert recent[1]["error_message"] == "Twenty API 429: rate limit exceeded for lead 123"

    assert body["analytics"] == expected_analytics(ds)

    health = dict(body["health"])
    # Quantiles of the duration histograms (issue 12): approximate to ±2 % and labelled so.
    assert health.pop("median_sync_time_seconds") == pytest.approx(5.0, rel=0.02)
    assert health.pop("p95_sync_time_seconds") == pytest.approx(9.5, rel=0.02)  # between 5 s and 10 s
    assert health.pop("p99_sync_time_seconds") == pytest.approx(9.9, rel=0.02)
    assert health.pop("sync_time_relative_accuracy") == 0.02
    assert health == {
        "total_leads": 8, "synced_leads": 2, "pending_leads": 2, "error_leads": 2, "recently_synced": 4,
        "sync_success_rate": "28.57", "leads_with_errors": 2,
        "total_errors": 3, "last_error_time": iso(ds.now - timedelta(minutes=20)), "overall_health": "critical",
        "syncing_leads": 1, "conflict_leads": 1, "stuck_leads": 1, "stale_pending_leads": 1,
        "never_synced_leads": 2, "error_rate": "25.00",
    }
    assert body["alerts"] == []
    stamp = datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    assert abs((stamp - ds.now).total_seconds()) < 60


def test_recent_syncs_keeps_the_ten_newest(client, sync_dataset, viewer_secret):
    for minutes in range(1, 6):  # five more attempts, all newer than the dataset's
        LeadSyncHistory.objects.create(
            lead=sync_dataset.grace, sync_type="manual", sync_direction="supabase_to_twenty", sync_status="synced",
            created_at=sync_dataset.now - timedelta(seconds=minutes * 60 + 1),
            synced_at=sync_dataset.now - timedelta(seconds=minutes * 60),
        )
    recent = client.get(URL, **bearer(viewer_secret)).json()["recentSyncs"]
    assert len(recent) == 10
    assert [row["sync_type"] for row in recent[:5]] == ["manual"] * 5
    # The two oldest of the 13 attempts (alan 3 h, edsger 25 h) fell off.
    assert recent[-1]["error_message"] is None and recent[-1]["sync_direction"] == "supabase_to_twenty"


def test_empty_database_still_has_five_metric_rows(client, viewer_secret):
    body = client.get(URL, **bearer(viewer_secret)).json()
    assert [(row["sync_status"], row["count"]) for row in body["metrics"]] == [
        ("synced", 0), ("pending", 0), ("error", 0), ("syncing", 0), ("conflict", 0)]
    assert body["recentSyncs"] == [] and body["analytics"] == []
    assert body["health"]["overall_health"] == "unknown"


def test_query_budget(client, sync_dataset, viewer_secret, django_assert_max_num_queries):
    # token, last-used write, two permission lookups, firing alerts, and the selectors: sync_monitoring,
    # recent history, lead analytics (clock + rollups) and health (clock, histogram, row), none a scan
    with django_assert_max_num_queries(12):
        assert client.get(URL, **bearer(viewer_secret)).status_code == 200


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"])
def test_missing_or_malformed_authorization_is_401(client, sync_dataset, header):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = client.get(URL, **extra)
    assert response.status_code == 401
    assert response.json() == {"error": "Authentication required: send 'Authorization: Bearer <token>'."}
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"metrics" not in response.content


def test_unknown_token_is_401(client, sync_dataset, viewer_secret):
    response = client.get(URL, **bearer(viewer_secret + "x"))
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or revoked token."}


def test_revoked_token_is_401(client, sync_dataset, viewer, viewer_secret):
    assert client.get(URL, **bearer(viewer_secret)).status_code == 200
    assert revoke_api_tokens(ApiToken.objects.filter(user=viewer)) == 1
    response = client.get(URL, **bearer(viewer_secret))
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or revoked token."}


def test_token_of_deactivated_user_is_401(client, viewer, viewer_secret):
    viewer.is_active = False
    viewer.save()
    assert client.get(URL, **bearer(viewer_secret)).status_code == 401


def test_session_login_alone_is_not_enough(viewer_client, sync_dataset):
    assert viewer_client.get(URL).status_code == 401


@pytest.mark.parametrize("persona", ["non_staff", "staff_without_role"])
def test_token_of_user_without_viewer_role_is_403(client, sync_dataset, persona, non_staff, django_user_model):
    user = non_staff
    if persona == "staff_without_role":
        user = django_user_model.objects.create_user("staffer", is_staff=True)
    secret = create_api_token(user=user, name="x")[1]
    response = client.get(URL, **bearer(secret))
    assert response.status_code == 403
    assert response.json() == {"error": "This token's user does not have the viewer role."}


@pytest.mark.parametrize("persona", ["viewer", "operator", "superuser"])
def test_every_role_with_view_permission_gets_200(db, client, request, persona):
    secret = create_api_token(user=request.getfixturevalue(persona), name="x")[1]
    assert client.get(URL, **bearer(secret)).status_code == 200


def test_throttled_per_token_with_retry_after(client, settings, viewer, operator):
    settings.API_THROTTLE_PER_MINUTE = 3
    first = create_api_token(user=viewer, name="first")[1]
    second = create_api_token(user=operator, name="second")[1]
    # Frozen 10 s into a minute, so the one-minute window cannot roll over mid-test.
    with time_machine.travel(datetime(2026, 3, 2, 9, 30, 10, tzinfo=dt_timezone.utc), tick=False) as clock:
        assert [client.get(URL, **bearer(first)).status_code for _ in range(3)] == [200, 200, 200]
        refused = client.get(URL, **bearer(first))
        assert refused.status_code == 429
        assert refused.json() == {"error": "Too many requests for this token; slow down."}
        assert refused["Retry-After"] == "50"
        # Another token has its own budget.
        assert client.get(URL, **bearer(second)).status_code == 200
        # The next minute starts a fresh budget.
        clock.shift(50)
        assert client.get(URL, **bearer(first)).status_code == 200


def test_post_is_refused_and_reads_nothing(client, sync_dataset, viewer_secret):
    response = client.post(URL, **bearer(viewer_secret))
    assert response.status_code == 405
    assert b"metrics" not in response.content


def test_csrf_protection_stays_on(sync_dataset, viewer_secret):
    response = Client(enforce_csrf_checks=True).post(URL, **bearer(viewer_secret))
    assert response.status_code == 403


def test_last_used_is_recorded(client, viewer, viewer_secret):
    token = ApiToken.objects.get(user=viewer)
    assert token.last_used_at is None
    client.get(URL, **bearer(viewer_secret))
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_firing_alerts_are_in_the_payload(client, sync_dataset, viewer_secret):
    from monitoring.services.alerts import evaluate_alerts

    evaluate_alerts()
    body = client.get(URL, **bearer(viewer_secret)).json()
    # On the dataset: alan has 7 errors, barbara is stale pending, edsger stuck, health critical;
    # Supabase -> Twenty last ran 40 min ago while Twenty -> Supabase ran 10 min ago;
    # 5 attempts in the last hour stay under the failure-rate rule's 20-attempt minimum.
    assert sorted((alert["rule"], alert["severity"]) for alert in body["alerts"]) == [
        ("Leads stuck in syncing over 10 min", "warning"),
        ("Leads with more than 5 sync errors", "warning"),
        ("Overall sync health not healthy", "critical"),  # the health view says critical
        ("Stale pending leads (older than 1 h)", "warning"),
        ("Supabase → Twenty stalled for 30 min", "critical"),
    ]
