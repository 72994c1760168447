"""Alert rules and channels in the admin: validation with clear messages, secrets hidden, test message."""
from __future__ import annotations

import pytest
from django.urls import reverse

from monitoring.models import AlertRule, Channel, ChannelKind
from tests.alert_helpers import RecordingServer

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["alertrule", "channel", "incident", "delivery"])
def test_superuser_opens_each_alert_admin_list(superuser_client, model):
    assert superuser_client.get(reverse(f"admin:monitoring_{model}_changelist")).status_code == 200


def _rule_form(**overrides) -> dict:
    form = {
        "name": "My stall", "kind": "direction_stalled", "direction": "", "severity": "critical", "enabled": "on",
        "threshold": "0", "window_0": "", "window": "00:30:00", "min_attempts": "20", "consecutive_checks": "1",
        "clear_checks": "1", "reminder_minutes": "60",
    }
    form.update(overrides)
    return form


def test_direction_stall_rule_without_direction_is_refused_with_a_message(superuser_client):
    response = superuser_client.post(reverse("admin:monitoring_alertrule_add"), _rule_form())
    assert response.status_code == 200
    assert "Choose a direction for a one-direction stall rule, and only for that kind." in response.content.decode()
    assert not AlertRule.objects.filter(name="My stall").exists()


def test_zero_window_is_refused(superuser_client):
    response = superuser_client.post(
        reverse("admin:monitoring_alertrule_add"), _rule_form(direction="twenty_to_supabase", window="00:00:00")
    )
    assert "The window must be longer than zero." in response.content.decode()


def test_valid_rule_is_saved(superuser_client):
    response = superuser_client.post(reverse("admin:monitoring_alertrule_add"), _rule_form(direction="twenty_to_supabase"))
    assert response.status_code == 302
    assert AlertRule.objects.get(name="My stall").direction == "twenty_to_supabase"


def test_slack_channel_without_webhook_is_refused(superuser_client):
    response = superuser_client.post(
        reverse("admin:monitoring_channel_add"), {"name": "slack", "kind": "slack", "config": "{}", "enabled": "on"}
    )
    assert response.status_code == 200
    assert "Slack needs: webhook_url." in response.content.decode()


def test_viewer_sees_channels_in_the_admin_without_their_secrets(viewer_client, superuser_client):
    channel = Channel.objects.create(
        name="tg", kind=ChannelKind.TELEGRAM, config={"bot_token": "999:TOPSECRET", "chat_id": "-1"}
    )
    url = reverse("admin:monitoring_channel_change", args=[channel.pk])
    viewer_page = viewer_client.get(url)
    assert viewer_page.status_code == 200
    assert "TOPSECRET" not in viewer_page.content.decode()
    assert "TOPSECRET" in superuser_client.get(url).content.decode()


def test_send_test_message_is_queued_and_its_result_shows_in_the_delivery_log(
    superuser_client, viewer_client, django_capture_on_commit_callbacks
):
    """Against an endpoint that takes 5 s, the admin answers at once: a worker sends the message."""
    import time

    from leadsync_portal.celery import app
    from monitoring.models import Delivery, DeliveryStatus, MessageKind

    with RecordingServer() as server:
        server.delay = 5.0
        channel = Channel.objects.create(name="slack", kind=ChannelKind.SLACK, config={"webhook_url": f"{server.url}/hook"})
        started = time.monotonic()
        with django_capture_on_commit_callbacks() as callbacks:
            response = superuser_client.post(
                reverse("admin:monitoring_channel_changelist"),
                {"action": "send_test_message", "_selected_action": [channel.pk]},
                follow=True,
            )
        assert time.monotonic() - started < 2.0 and server.requests == []
        [message] = [str(m) for m in response.context["messages"]]
        assert message.startswith("slack: test message queued; its result appears in the")
        queued = Delivery.objects.get(channel=channel)
        assert (queued.kind, queued.status, queued.incident_id) == (MessageKind.TEST, DeliveryStatus.PENDING, None)
        # The worker's side: the queued task, run here as a worker would (eagerly: no broker needed).
        app.conf.task_always_eager = True
        try:
            [callback() for callback in callbacks]
        finally:
            app.conf.task_always_eager = False
    assert server.requests[0]["json"]["text"].startswith("*[TEST] LeadSync Portal alert channel*")
    queued.refresh_from_db()
    assert queued.status == DeliveryStatus.SENT
    log = viewer_client.get(reverse("monitoring:alerts"), {"_export": "csv", "_table": "deliveries"}).content.decode()
    assert ",Test message,slack,[TEST] LeadSync Portal alert channel,Sent,1," in log


def test_the_send_test_message_task_is_registered_under_its_contract_name():
    from leadsync_portal.celery import app

    assert "monitoring.send_test_message" in app.tasks


def test_a_channel_with_a_re_sent_message_can_be_deleted(superuser_client):
    from monitoring.models import AlertRule, Delivery, DeliveryStatus, Incident, MessageKind

    channel = Channel.objects.create(name="slack", kind=ChannelKind.SLACK, config={"webhook_url": "http://127.0.0.1:9/x"})
    rule = AlertRule.objects.order_by("pk").first()
    from django.utils import timezone

    now = timezone.now()
    incident = Incident.objects.create(rule=rule, severity=rule.severity, summary="s", started_at=now,
                                       last_checked_at=now, last_notified_at=now)
    original = Delivery.objects.create(incident=incident, channel=channel, kind=MessageKind.FIRING, subject="s",
                                       body="b", status=DeliveryStatus.FAILED)
    Delivery.objects.create(incident=incident, channel=channel, kind=MessageKind.FIRING, subject="s", body="b",
                            resend_of=original)
    response = superuser_client.post(reverse("admin:monitoring_channel_delete", args=[channel.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Channel.objects.filter(pk=channel.pk).exists() and Delivery.objects.count() == 0
