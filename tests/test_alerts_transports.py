"""Transports against a real HTTP server on 127.0.0.1 and Django's test outbox; retries and disabling."""
from __future__ import annotations

import logging
import socket
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError

from monitoring.alerts.transports import (
    Message,
    PermanentError,
    SlackTransport,
    TelegramTransport,
    TransientError,
    post_json,
    transport_for,
)
from monitoring.models import Channel, ChannelKind, Delivery, DeliveryStatus, Incident, RuleKind
from monitoring.services import alerts as alert_services
from tests.alert_helpers import channels, only_rule, server  # noqa: F401 (fixtures)
from tests.maintenance_helpers import second_connection

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=dt_timezone.utc)
MESSAGE = Message(subject="[CRITICAL] FIRING: Sync stalled", body="No sync attempt has ever been recorded.\nStarted 09:00.")


def fire_and_deliver(minutes: float = 0) -> None:
    with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
        alert_services.evaluate_alerts()
        alert_services.deliver_due_notifications()


def deliver_at(minutes: float) -> dict[str, int]:
    with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
        return alert_services.deliver_due_notifications()


# --- payloads ----------------------------------------------------------------------------------------


def test_slack_payload(server, channels):
    SlackTransport(channels["slack"]).notify(MESSAGE)
    [request] = server.requests
    assert request["path"] == "/services/T000/B000/XXXX"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["json"] == {
        "text": "*[CRITICAL] FIRING: Sync stalled*\nNo sync attempt has ever been recorded.\nStarted 09:00."
    }


def test_telegram_payload(server, channels):
    TelegramTransport(channels["telegram"]).notify(MESSAGE)
    [request] = server.requests
    assert request["path"] == "/bot123456:SECRET-token/sendMessage"
    assert request["json"] == {
        "chat_id": "-100200",
        "text": "[CRITICAL] FIRING: Sync stalled\n\nNo sync attempt has ever been recorded.\nStarted 09:00.",
        "disable_web_page_preview": True,
    }


def test_email_goes_through_djangos_backend(channels, settings):
    settings.DEFAULT_FROM_EMAIL = "alerts@leadsync.example"
    transport_for(channels["email"]).notify(MESSAGE)
    [email] = mail.outbox
    assert (email.subject, email.body, email.to, email.from_email) == (
        MESSAGE.subject, MESSAGE.body, ["ops@example.com"], "alerts@leadsync.example"
    )


def test_whole_path_sends_the_firing_message_to_all_three(server, channels):
    only_rule(RuleKind.SYNC_STALLED)
    fire_and_deliver()
    assert [r["path"].split("/")[1] for r in server.requests] == ["services", "bot123456:SECRET-token"]
    assert server.requests[0]["json"]["text"].startswith("*[CRITICAL] FIRING: Sync stalled: no attempt for 30 min*\n")
    assert mail.outbox[0].subject == "[CRITICAL] FIRING: Sync stalled: no attempt for 30 min"
    assert set(Delivery.objects.values_list("status", "attempts")) == {(DeliveryStatus.SENT, 1)}


# --- classification -------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "error"), [(500, TransientError), (503, TransientError), (429, TransientError),
                                                (400, PermanentError), (401, PermanentError), (403, PermanentError),
                                                (404, PermanentError)])
def test_http_status_classification(server, status, error):
    server.statuses = [status]
    with pytest.raises(error, match=f"HTTP {status}"):
        post_json(f"{server.url}/hook", {"text": "x"})


def test_timeout_is_transient(server, settings):
    settings.ALERTS_HTTP_TIMEOUT = 0.3
    server.delay = 1.0
    with pytest.raises(TransientError, match="timed out"):
        post_json(f"{server.url}/hook", {"text": "x"})


def test_refused_connection_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(TransientError, match="connection failed"):
        post_json(f"http://127.0.0.1:{port}/hook", {"text": "x"})


def test_only_http_urls_are_opened():
    with pytest.raises(PermanentError, match="only http"):
        post_json("file:///etc/passwd", {"text": "x"})


def _everything_an_operator_or_a_log_reader_sees(caplog) -> str:
    """Delivery log rows, channel disable reasons and every log record, as one text."""
    return "\n".join([
        *Delivery.objects.values_list("error", flat=True),
        *Channel.objects.values_list("disabled_reason", flat=True),
        caplog.text,
    ])


@pytest.mark.parametrize(("kind", "secret"), [("telegram", "123456:SECRET-token"), ("slack", "T000/B000/XXXX")])
@pytest.mark.parametrize("status", [401, 500])
def test_errors_never_show_the_secret_even_when_the_server_echoes_it(server, channels, caplog, kind, secret, status):
    caplog.set_level(logging.DEBUG)
    server.echo = True  # the error body quotes the URL it was called on, token or webhook path included
    server.statuses = [status]
    only_rule(RuleKind.SYNC_STALLED).channels.set([channels[kind]])
    fire_and_deliver()

    [delivery] = Delivery.objects.all()
    assert delivery.status == (DeliveryStatus.RETRYING if status == 500 else DeliveryStatus.FAILED)
    assert f"HTTP {status}" in delivery.error and "rejected http" in delivery.error  # the echo did come back
    assert "***" in delivery.error
    seen = _everything_an_operator_or_a_log_reader_sees(caplog)
    assert secret not in seen
    assert "SECRET" not in seen


@pytest.mark.parametrize(("kind", "secret"), [("telegram", "SECRET"), ("slack", "T000/B000/XXXX")])
def test_a_failed_send_raises_an_error_without_the_secret(server, channels, kind, secret):
    server.echo = True
    server.statuses = [401]
    with pytest.raises(PermanentError) as caught:
        transport_for(channels[kind]).notify(MESSAGE)
    assert "rejected http" in str(caught.value) and "***" in str(caught.value)  # the echo came back, hidden
    assert secret not in str(caught.value)


def test_the_admin_test_message_shows_no_secret_when_the_server_echoes_it(server, channels, superuser_client):
    from django.urls import reverse

    server.echo = True
    server.statuses = [403, 403]
    response = superuser_client.post(
        reverse("admin:monitoring_channel_changelist"),
        {"action": "send_test_message", "_selected_action": [channels["slack"].pk, channels["telegram"].pk]},
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"]]
    # Test messages are queued (issue 11): the notice says so, the outcome is the delivery log's.
    assert len(shown) == 2 and all("test message queued" in m for m in shown)
    from monitoring.models import Delivery
    from monitoring.services import alerts as alert_services

    queued = list(Delivery.objects.filter(channel__in=[channels["slack"], channels["telegram"]]).values_list("pk", flat=True))
    assert len(queued) == 2
    for delivery_id in queued:  # what the deliveries worker runs
        alert_services.deliver_notification(delivery_id=delivery_id)
    errors = list(Delivery.objects.filter(pk__in=queued).values_list("error", flat=True))
    assert all(e.startswith("HTTP 403") and "rejected http" in e for e in errors), errors  # the echo came back, hidden
    assert not any("SECRET" in e or "T000/B000/XXXX" in e for e in errors)
    page = superuser_client.get(reverse("monitoring:alerts"))
    for body in (response.content, page.content):
        assert b"SECRET" not in body and b"T000/B000/XXXX" not in body


# --- retries and disabling ---------------------------------------------------------------------------


def test_a_500_is_retried_with_backoff_and_then_sent(server, channels):
    only_rule(RuleKind.SYNC_STALLED).channels.set([channels["slack"]])
    server.statuses = [500, 502]
    fire_and_deliver(0)

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.next_retry_at) == (
        DeliveryStatus.RETRYING, 1, T0 + timedelta(minutes=1)
    )
    assert delivery.error.startswith("TransientError: HTTP 500")
    assert deliver_at(0.5) == {}  # not due yet
    assert deliver_at(1) == {DeliveryStatus.RETRYING: 1}  # second failure: wait 2 minutes
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.next_retry_at) == (2, T0 + timedelta(minutes=3))
    assert deliver_at(3) == {DeliveryStatus.SENT: 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.completed_at) == (
        DeliveryStatus.SENT, 3, T0 + timedelta(minutes=3)
    )
    assert len(server.requests) == 3
    assert Channel.objects.get(pk=channels["slack"].pk).enabled


def test_transient_failures_give_up_after_six_attempts_without_disabling(server, channels):
    only_rule(RuleKind.SYNC_STALLED).channels.set([channels["slack"]])
    server.statuses = [500] * 10
    fire_and_deliver(0)
    for minutes in (1, 3, 7, 15, 31):
        deliver_at(minutes)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 6)
    assert delivery.error.startswith("gave up after 6 attempts; last: TransientError: HTTP 500")
    assert deliver_at(120) == {}
    assert len(server.requests) == 6
    assert Channel.objects.get(pk=channels["slack"].pk).enabled


def test_a_404_disables_the_channel_and_later_messages_are_logged_as_skipped(server, channels):
    stall = only_rule(RuleKind.SYNC_STALLED)
    stall.channels.set([channels["slack"], channels["email"]])
    server.statuses = [404]
    fire_and_deliver(0)

    slack = Channel.objects.get(pk=channels["slack"].pk)
    assert slack.enabled is False
    assert slack.disabled_reason.startswith("Slack refused: HTTP 404")
    assert slack.disabled_at == T0
    failed = Delivery.objects.get(channel=slack)
    assert (failed.status, failed.attempts) == (DeliveryStatus.FAILED, 1)
    # The failing channel did not stop the other one.
    assert Delivery.objects.get(channel=channels["email"]).status == DeliveryStatus.SENT
    assert len(mail.outbox) == 1

    from tests.alert_helpers import add_attempts, db_now

    add_attempts(1, finished=db_now())
    fire_and_deliver(5)  # recovery: logged for Slack as skipped, sent by e-mail
    recovery = Delivery.objects.get(channel=slack, kind="recovery")
    assert (recovery.status, recovery.error) == (DeliveryStatus.SKIPPED, f"channel disabled: {slack.disabled_reason}")
    assert len(server.requests) == 1 and len(mail.outbox) == 2


def test_permanent_smtp_failure_disables_email_channel(channels, settings):
    settings.EMAIL_BACKEND = "tests.alert_helpers.RefusingEmailBackend"
    only_rule(RuleKind.SYNC_STALLED).channels.set([channels["email"]])
    fire_and_deliver(0)
    email = Channel.objects.get(pk=channels["email"].pk)
    assert not email.enabled and "Username and Password not accepted" in email.disabled_reason


def test_smtp_server_down_is_retried(channels, settings):
    settings.EMAIL_BACKEND = "tests.alert_helpers.DownEmailBackend"
    only_rule(RuleKind.SYNC_STALLED).channels.set([channels["email"]])
    fire_and_deliver(0)
    assert Delivery.objects.get().status == DeliveryStatus.RETRYING
    assert Channel.objects.get(pk=channels["email"].pk).enabled


def test_a_row_claimed_by_a_dead_worker_is_taken_over_just_after_the_delivery_hard_limit(server, channels, settings):
    # The delivery task's hard limit (90 s) kills a live claimant; 30 s later the claim is surely dead.
    assert settings.TASK_TIME_LIMITS["deliveries"][1] == 90
    only_rule(RuleKind.SYNC_STALLED).channels.set([channels["slack"]])
    with time_machine.travel(T0, tick=False):
        alert_services.evaluate_alerts()
    Delivery.objects.update(status=DeliveryStatus.SENDING, claimed_at=T0, attempts=1)  # worker died mid-send
    assert deliver_at(1.9) == {}
    assert deliver_at(2.1) == {DeliveryStatus.SENT: 1}
    assert len(server.requests) == 1


def test_sending_a_delivery_twice_sends_once(server, channels):
    only_rule(RuleKind.SYNC_STALLED).channels.set([channels["slack"]])
    with time_machine.travel(T0, tick=False):
        alert_services.evaluate_alerts()
        delivery = Delivery.objects.get()
        assert alert_services.deliver_notification(delivery_id=delivery.pk) == DeliveryStatus.SENT
        assert alert_services.deliver_notification(delivery_id=delivery.pk) is None
    assert len(server.requests) == 1


def _take_slot(session, channel: Channel) -> bool:
    # Never the blocking pg_advisory_lock: a slot left held would hang the test (and a mutation run) for good.
    return session.execute(
        "SELECT pg_try_advisory_lock(%s, %s)", [alert_services.CHANNEL_SLOT_LOCK, channel.pk]).fetchone()[0]


def test_a_channel_busy_sending_defers_its_next_message_without_touching_it(server, channels):
    """One channel, one slot: while another worker sends to the channel (its advisory lock held
    from another session), a second message is neither claimed nor counted as an attempt."""
    only_rule(RuleKind.SYNC_STALLED).channels.set([channels["slack"]])
    with time_machine.travel(T0, tick=False):
        alert_services.evaluate_alerts()
        delivery = Delivery.objects.get()
        with second_connection() as other:
            assert _take_slot(other, channels["slack"])
            assert alert_services.deliver_notification(delivery_id=delivery.pk) == alert_services.CHANNEL_BUSY
            assert alert_services.deliver_due_notifications() == {alert_services.CHANNEL_BUSY: 1}
            delivery.refresh_from_db()
            assert (delivery.status, delivery.attempts, delivery.claimed_at) == (DeliveryStatus.PENDING, 0, None)
            assert server.requests == []
            # The other worker finished: it gives the slot back. (Closing its session frees the
            # lock too, but only once the server process has exited, a moment after the close:
            # a full-suite run on a loaded machine found the slot still held.)
            other.execute("SELECT pg_advisory_unlock(%s, %s)", [alert_services.CHANNEL_SLOT_LOCK, channels["slack"].pk])
        assert alert_services.deliver_notification(delivery_id=delivery.pk) == DeliveryStatus.SENT
        # A message already sent is "not ours" even while its channel is busy.
        with second_connection() as other:
            assert _take_slot(other, channels["slack"])  # the send gave the slot back
            assert alert_services.deliver_notification(delivery_id=delivery.pk) is None
    assert len(server.requests) == 1


# --- channel configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        (ChannelKind.SLACK, {}, "Slack needs: webhook_url."),
        (ChannelKind.SLACK, {"webhook_url": "ftp://example.com/x"}, "webhook_url must be an http(s) URL."),
        (ChannelKind.TELEGRAM, {"bot_token": "1:A"}, "Telegram needs: chat_id."),
        (ChannelKind.EMAIL, {"to": ["not-an-address"]}, "Not an e-mail address: 'not-an-address'."),
    ],
)
def test_channel_config_is_validated(kind, config, message):
    with pytest.raises(ValidationError) as caught:
        Channel(name="x", kind=kind, config=config).full_clean()
    assert caught.value.message_dict["config"] == [message]


def test_incident_count_is_unchanged_by_delivery_failures(server, channels):
    only_rule(RuleKind.SYNC_STALLED)
    server.statuses = [500, 500]
    fire_and_deliver(0)
    assert Incident.objects.count() == 1
