"""One slow endpoint cannot hold a delivery past its deadline (issue 10, finding 2, transport part).

Before: ALERTS_HTTP_TIMEOUT bounded each socket read, so a webhook sending a byte a second kept a
delivery busy for as long as it liked; EMAIL_TIMEOUT was unset, so an SMTP server that accepted
and never answered held it forever. Each call runs in a thread joined with a limit, so the old
code fails these tests instead of hanging the suite.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from monitoring.alerts.transports import EmailTransport, Message, TransientError, post_json
from monitoring.models import Channel, ChannelKind, Delivery, DeliveryStatus, RuleKind
from monitoring.services import alerts as alert_services
from tests.alert_helpers import only_rule

from .hostile_servers import silent_server, slow_loris_http_server

MESSAGE = Message(subject="[CRITICAL] FIRING: Sync stalled", body="No sync attempt.")


def run_with_limit(fn: Callable[[], Any], limit: float) -> tuple[BaseException | None, float]:
    """(the exception fn raised or None, seconds it took); fails the test if it is still running at `limit`."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        started = time.monotonic()
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 (handed back to the test)
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"still waiting after {limit} s: no deadline"
    return outcome.get("error"), outcome["seconds"]


def test_a_slow_loris_webhook_fails_transient_within_the_deadline(settings):
    settings.ALERTS_HTTP_TIMEOUT = 2
    with slow_loris_http_server(interval=0.5) as port:
        error, seconds = run_with_limit(lambda: post_json(f"http://127.0.0.1:{port}/hook", {"text": "x"}), 10)
    assert isinstance(error, TransientError) and "timed out" in str(error)
    assert 1.9 <= seconds < 3.5  # the whole call, not one read (each byte came well within 2 s)


# The delivery runs in a thread, on its own connection; serialized_rollback keeps the default rules.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_delivery_to_a_slow_loris_webhook_is_retried_not_stuck(settings):
    settings.ALERTS_HTTP_TIMEOUT = 1
    with slow_loris_http_server(interval=0.3) as port:
        slack = Channel.objects.create(
            name="slow slack", kind=ChannelKind.SLACK, config={"webhook_url": f"http://127.0.0.1:{port}/hook"}
        )
        only_rule(RuleKind.SYNC_STALLED).channels.set([slack])
        alert_services.evaluate_alerts()
        error, seconds = run_with_limit(alert_services.deliver_due_notifications, 10)
    assert error is None
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.RETRYING, 1)
    assert delivery.error.startswith("TransientError: connection failed: timed out")
    assert seconds < 3


@pytest.mark.django_db
def test_an_smtp_server_that_never_answers_fails_transient_within_email_timeout(settings):
    with silent_server() as port:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 1
        channel = Channel(name="mail", kind=ChannelKind.EMAIL, config={"to": ["ops@example.com"]})
        error, seconds = run_with_limit(lambda: EmailTransport(channel).notify(MESSAGE), 10)
    assert isinstance(error, TransientError) and "SMTP failed" in str(error)
    assert seconds < 3


def test_email_timeout_has_a_default():
    from django.conf import settings

    assert 0 < settings.EMAIL_TIMEOUT <= 30
