"""The Alerts page: who sees it, who may act (POST + CSRF + permission), what it shows, its query budget."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from monitoring.models import Channel, ChannelKind, Delivery, DeliveryStatus, Incident, RuleKind
from monitoring.services import alerts as alert_services
from tests.alert_helpers import make_channels, make_lead, only_rule

pytestmark = pytest.mark.django_db

PAGE = reverse("monitoring:alerts")


@pytest.fixture
def firing():
    """The stall rule firing, one e-mail channel; returns the incident."""
    Channel.objects.create(name="ops mail", kind=ChannelKind.EMAIL, config={"to": ["ops@example.com"]})
    only_rule(RuleKind.SYNC_STALLED)
    alert_services.evaluate_alerts()
    return Incident.objects.get()


def test_anonymous_goes_to_login(anonymous_client):
    response = anonymous_client.get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_non_staff_is_refused(non_staff_client):
    assert non_staff_client.get(PAGE).status_code == 403


def test_viewer_sees_firing_alert_but_no_buttons(viewer_client, firing):
    response = viewer_client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Firing now (1)" in html
    assert "No sync attempt has ever been recorded." in html
    assert "You can look; operators acknowledge, snooze and re-send." in html
    assert "Acknowledge</button>" not in html


def test_operator_sees_the_buttons(operator_client, firing):
    html = operator_client.get(PAGE).content.decode()
    assert "Acknowledge</button>" in html and "Snooze until resolved</button>" in html
    assert reverse("monitoring:alert-acknowledge", args=[firing.pk]) in html


@pytest.mark.parametrize("url_name", ["monitoring:alert-acknowledge", "monitoring:alert-snooze"])
def test_viewer_cannot_act(viewer_client, firing, url_name):
    assert viewer_client.post(reverse(url_name, args=[firing.pk])).status_code == 403
    firing.refresh_from_db()
    assert firing.acknowledged_at is None and firing.snoozed_at is None


def test_actions_refuse_get(operator_client, firing):
    assert operator_client.get(reverse("monitoring:alert-acknowledge", args=[firing.pk])).status_code == 405


def test_actions_need_the_csrf_token(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(reverse("monitoring:alert-acknowledge", args=[1])).status_code == 403


def test_operator_acknowledges(operator_client, operator, firing):
    response = operator_client.post(reverse("monitoring:alert-acknowledge", args=[firing.pk]), follow=True)
    assert response.status_code == 200
    assert "Acknowledged “Sync stalled: no attempt for 30 min”: reminders stop" in response.content.decode()
    firing.refresh_from_db()
    assert firing.acknowledged_by == operator
    assert timezone.now() - firing.acknowledged_at < timedelta(minutes=1)
    assert "acknowledged by operator at" in response.content.decode()


def test_superuser_snoozes(superuser_client, superuser, firing):
    response = superuser_client.post(reverse("monitoring:alert-snooze", args=[firing.pk]))
    assert response.status_code == 302
    firing.refresh_from_db()
    assert (firing.snoozed_by, firing.acknowledged_by) == (superuser, None)


def test_acknowledging_twice_is_a_clear_400(operator_client, firing):
    url = reverse("monitoring:alert-acknowledge", args=[firing.pk])
    operator_client.post(url)
    response = operator_client.post(url)
    assert response.status_code == 400
    assert "“Sync stalled: no attempt for 30 min” is already acknowledged." in response.content.decode()


def test_acting_on_a_resolved_incident_is_a_clear_400(operator_client, firing):
    Incident.objects.filter(pk=firing.pk).update(state="resolved", resolved_at=timezone.now())
    response = operator_client.post(reverse("monitoring:alert-snooze", args=[firing.pk]))
    assert response.status_code == 400
    assert "is already resolved." in response.content.decode()


def test_unknown_incident_is_404(operator_client, db):
    assert operator_client.post(reverse("monitoring:alert-acknowledge", args=[999999])).status_code == 404


def test_disabled_channel_shows_with_reason_and_can_be_re_enabled(operator_client, viewer_client):
    channel = Channel.objects.create(
        name="ops slack", kind=ChannelKind.SLACK, config={"webhook_url": "http://127.0.0.1:9/x"},
        enabled=False, disabled_reason="Slack refused: HTTP 404: no_service",
    )
    html = viewer_client.get(PAGE).content.decode()
    assert "1 channel disabled after a permanent failure:" in html
    assert "ops slack (Slack refused: HTTP 404: no_service)" in html
    assert "Re-enable</button>" not in html

    assert viewer_client.post(reverse("monitoring:alert-channel-enable", args=[channel.pk])).status_code == 403
    response = operator_client.post(reverse("monitoring:alert-channel-enable", args=[channel.pk]))
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.enabled, channel.disabled_reason) == (True, "")


def test_resend_a_failed_delivery(operator_client, operator, firing):
    original = Delivery.objects.get()
    Delivery.objects.filter(pk=original.pk).update(status=DeliveryStatus.FAILED, error="HTTP 500")
    assert "Re-send</button>" in operator_client.get(PAGE).content.decode()

    response = operator_client.post(reverse("monitoring:alert-resend", args=[original.pk]))

    assert response.status_code == 302
    again = Delivery.objects.get(resend_of=original)
    assert (again.status, again.requested_by, again.subject, again.kind) == (
        DeliveryStatus.PENDING, operator, original.subject, original.kind
    )
    second = operator_client.post(reverse("monitoring:alert-resend", args=[original.pk]))
    assert second.status_code == 400
    assert "already been re-sent" in second.content.decode()


def test_resend_of_a_sent_delivery_is_refused(operator_client, firing):
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.SENT)
    response = operator_client.post(reverse("monitoring:alert-resend", args=[delivery.pk]))
    assert response.status_code == 400
    assert "Only failed or skipped messages can be re-sent; this one is sent." in response.content.decode()


def test_viewer_cannot_resend(viewer_client, firing):
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    assert viewer_client.post(reverse("monitoring:alert-resend", args=[delivery.pk])).status_code == 403
    assert Delivery.objects.count() == 1


def test_page_shows_rules_last_evaluation_incidents_and_delivery_log(viewer_client, firing):
    html = viewer_client.get(PAGE).content.decode()
    assert "Rules and their last check" in html
    assert "breached" in html and "waiting for the first check" in html  # the stall rule, and the dead-man rule
    assert "Recent incidents" in html and "(ongoing)" in html
    assert "[CRITICAL] FIRING: Sync stalled: no attempt for 30 min" in html  # the delivery log


def test_lead_names_in_alerts_are_escaped(viewer_client):
    make_lead(first_name="<script>alert(1)</script>", sync_status="error", sync_error_count=9)
    only_rule(RuleKind.HIGH_ERROR_LEADS)
    alert_services.evaluate_alerts()
    html = viewer_client.get(PAGE).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_page_query_budget_does_not_grow_with_rows(viewer_client, django_assert_max_num_queries):
    # 13 = session, user, permissions, five tables with a count per paginated queryset
    make_channels("http://127.0.0.1:9")  # never called: the messages stay queued
    only_rule(RuleKind.SYNC_STALLED)
    alert_services.evaluate_alerts()
    for incident in range(30):  # many resolved incidents and deliveries
        Incident.objects.filter(state="firing").update(state="resolved", resolved_at=timezone.now())
        alert_services.evaluate_alerts()
    with django_assert_max_num_queries(13):
        response = viewer_client.get(PAGE)
    assert response.status_code == 200
    assert response.content.decode().count("[CRITICAL] FIRING") >= 90


def test_delivery_log_export_is_data_without_buttons(operator_client, firing):
    Delivery.objects.update(status=DeliveryStatus.FAILED, error="HTTP 500")  # a Re-send button on the page

    response = operator_client.get(PAGE, {"_export": "csv", "_table": "deliveries"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="alerts-deliveries.csv"'
    header, row = response.content.decode().splitlines()
    assert header == "Queued,Rule,Kind,Channel,Subject,Status,Attempts,Next retry,Completed,Error"
    assert row.endswith(",Sync stalled: no attempt for 30 min,Firing,ops mail,[CRITICAL] FIRING: Sync stalled: no attempt for 30 min,Failed,0,,,HTTP 500")  # empty times export empty
    assert "<" not in response.content.decode()


@pytest.mark.parametrize("table", ["firing", "channels"])
def test_tables_with_buttons_export_without_them(operator_client, firing, table):
    header = operator_client.get(PAGE, {"_export": "csv", "_table": table}).content.decode().splitlines()[0]
    assert not header.endswith(",")


def test_delivery_log_pages_past_the_first_hundred_and_exports_all(viewer_client, firing):
    original = Delivery.objects.get()
    Delivery.objects.bulk_create(
        Delivery(incident=original.incident, channel=original.channel, kind="reminder", sequence=n, subject=f"reminder {n}", body="")
        for n in range(1, 120)
    )

    second = viewer_client.get(PAGE, {"deliveries-page": 2})
    export = viewer_client.get(PAGE, {"_export": "csv", "_table": "deliveries"})

    assert second.status_code == 200 and "[CRITICAL] FIRING: Sync stalled" in second.content.decode()  # the oldest
    assert len(export.content.decode().splitlines()) == 1 + 120


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"_export": "pdf"}, "Unknown export format “pdf”; use one of csv, xlsx."),
        ({"_export": "csv", "_table": "nope"}, "Unknown table “nope”; this page has firing, incidents, rules, channels, deliveries."),
        ({"deliveries-page": "x"}, "Page must be a whole number from 1, not “x”."),
        ({"deliveries-page": "5"}, "Page 5 is past the last page of results."),
        ({"incidents-per_page": "7"}, "Rows per page must be one of 25, 50, 100, 250, not “7”."),
        ({"sort": "rule"}, "Unknown sort column “rule”; this table is not sortable."),
    ],
)
def test_bad_input_is_a_400_with_the_reason(viewer_client, firing, query, message):
    response = viewer_client.get(PAGE, query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_the_pages_forms_carry_a_working_csrf_token(operator, firing):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    html = client.get(PAGE).content.decode()
    url = reverse("monitoring:alert-snooze", args=[firing.pk])
    form = html[html.index(f'action="{url}"'):]
    token = form.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]

    response = client.post(url, {"csrfmiddlewaretoken": token})

    assert response.status_code == 302
    firing.refresh_from_db()
    assert firing.snoozed_by == operator


@override_settings(TIME_ZONE="Asia/Kolkata")
def test_alert_times_show_their_zone(operator_client, operator, firing):
    alert_services.acknowledge_incident(incident_id=firing.pk, user=operator)
    html = operator_client.get(PAGE).content.decode()
    started = timezone.localtime(firing.started_at).strftime("%Y-%m-%d %H:%M:%S") + " IST"
    assert html.count(started) >= 2  # firing table and recent incidents
    assert re.search(r"acknowledged by \w+ at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d IST", html)
    assert "p.m." not in html and "a.m." not in html
