"""One slow endpoint cannot hold a delivery past its deadline (issue 10, finding 2, transport part).

Before: ALERTS_HTTP_TIMEOUT bounded each socket read, so a webhook sending a byte a second kept a
delivery busy for as long as it liked; EMAIL_TIMEOUT was unset, so an SMTP server that accepted
and never answered held it forever. Then EMAIL_TIMEOUT still bounded each SMTP read only (a mail
server trickling its replies held a delivery until the task's soft limit), and the name lookup
and the TLS handshake of an HTTPS call ran outside the deadline. Each call runs in a thread joined
with a limit, so the old code fails these tests instead of hanging the suite.
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.mail.utils import DNS_NAME
from django.db import connections

from monitoring.alerts.transports import EmailTransport, Message, TransientError, post_json
from monitoring.models import Channel, ChannelKind, Delivery, DeliveryStatus, RuleKind
from monitoring.services import alerts as alert_services
from tests.alert_helpers import only_rule

from .hostile_servers import (
    RecordingServer,
    RecordingSMTPServer,
    SlowLorisSMTPServer,
    SlowLorisTLSServer,
    TLSFiles,
    silent_server,
    slow_loris_http_server,
    slow_name_lookup,
    tls_certificates,
)

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
        finally:
            connections.close_all()  # this thread's own, or the test database cannot be dropped
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


# --- SMTP: one deadline for the whole send ---------------------------------------------------------


def smtp_to(
    settings, port: int, *, timeout: float, host: str = "127.0.0.1", use_ssl: bool = False, use_tls: bool = False
) -> Channel:
    """Django's own SMTP backend aimed at 127.0.0.1:`port`; an e-mail channel (unsaved) to send with."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = host, port, timeout
    settings.EMAIL_USE_SSL, settings.EMAIL_USE_TLS = use_ssl, use_tls
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    return Channel(name="mail", kind=ChannelKind.EMAIL, config={"to": ["ops@example.com"]})


def test_an_smtp_server_that_trickles_its_replies_fails_transient_within_email_timeout(settings):
    # A byte every 0.5 s: each read gets one well within EMAIL_TIMEOUT, the greeting alone takes 20 s.
    with SlowLorisSMTPServer(trickle=0.5) as server:
        channel = smtp_to(settings, server.port, timeout=2)
        error, seconds = run_with_limit(lambda: EmailTransport(channel).notify(MESSAGE), 4 * settings.EMAIL_TIMEOUT)
    assert isinstance(error, TransientError)
    assert str(error).startswith("SMTP failed:") and "timed out" in str(error)
    assert 0.95 * settings.EMAIL_TIMEOUT <= seconds < 1.25 * settings.EMAIL_TIMEOUT
    assert (server.connections, server.messages) == (1, [])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_delivery_to_a_trickling_smtp_server_is_retried_not_stuck(settings):
    with SlowLorisSMTPServer(trickle=0.3) as server:
        mail = smtp_to(settings, server.port, timeout=1)
        mail.save()
        only_rule(RuleKind.SYNC_STALLED).channels.set([mail])
        alert_services.evaluate_alerts()
        error, seconds = run_with_limit(alert_services.deliver_due_notifications, 4 * settings.EMAIL_TIMEOUT)
    assert error is None
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.RETRYING, 1)
    assert delivery.error.startswith("TransientError: SMTP failed:") and "timed out" in delivery.error
    assert seconds < 2 * settings.EMAIL_TIMEOUT


def test_the_deadline_smtp_backend_still_delivers_to_a_healthy_server(settings):
    with RecordingSMTPServer() as server:
        channel = smtp_to(settings, server.port, timeout=2)
        error, seconds = run_with_limit(lambda: EmailTransport(channel).notify(MESSAGE), 10)
    assert error is None and seconds < 2
    [sent] = server.messages
    assert (sent["rcpt_to"], sent["message"]["Subject"]) == (["ops@example.com"], MESSAGE.subject)


def test_the_machines_own_name_is_looked_up_within_email_timeout(settings, monkeypatch):
    # Django names this machine in EHLO with socket.getfqdn(), a DNS query without a timeout, once
    # per process. A stand-in for a DNS server that does not answer: a getfqdn() that waits.
    released, real_getfqdn = threading.Event(), socket.getfqdn
    monkeypatch.delattr(DNS_NAME, "_fqdn", raising=False)  # not looked up yet in this process
    monkeypatch.setattr(socket, "getfqdn", lambda name="": released.wait(60) and real_getfqdn(name))
    try:
        with RecordingSMTPServer() as server:
            channel = smtp_to(settings, server.port, timeout=1)
            error, seconds = run_with_limit(lambda: EmailTransport(channel).notify(MESSAGE), 4)
    finally:
        released.set()
    assert isinstance(error, TransientError)
    assert str(error) == "SMTP failed: timed out: looking up this machine's name took longer than the deadline"
    assert 0.95 <= seconds < 1.25
    assert (server.connections, server.messages) == (0, [])


# --- HTTPS and the name lookup: inside the deadline -------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> TLSFiles:
    return tls_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def trust_test_ca(tls, monkeypatch) -> None:
    """Clients trust the test CA: OpenSSL reads SSL_CERT_FILE whenever a default context is made."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))


def test_an_https_handshake_that_trickles_fails_within_the_deadline(settings, tls, trust_test_ca):
    settings.ALERTS_HTTP_TIMEOUT = 2
    with SlowLorisTLSServer(tls.server_context(), trickle=0.2) as server:
        error, seconds = run_with_limit(lambda: post_json(f"{server.url}/hook", {"text": "x"}), 10)
        assert server.connections == 1
    assert isinstance(error, TransientError) and "timed out" in str(error)
    assert 1.9 <= seconds < 2.5


def test_the_tls_handshake_gets_only_what_the_name_lookup_left(settings, tls, trust_test_ca):
    # Before, the handshake got a fresh ALERTS_HTTP_TIMEOUT after a lookup that counted for nothing: 3 s.
    settings.ALERTS_HTTP_TIMEOUT = 2
    with SlowLorisTLSServer(tls.server_context(), trickle=0.2) as server, slow_name_lookup("localhost", 1):
        error, seconds = run_with_limit(lambda: post_json(f"{server.url}/hook", {"text": "x"}), 10)
        assert server.connections == 1  # the lookup ended and the handshake began
    assert isinstance(error, TransientError) and "timed out" in str(error)
    assert 1.9 <= seconds < 2.5


def test_a_name_lookup_that_never_ends_fails_within_the_deadline(settings):
    settings.ALERTS_HTTP_TIMEOUT = 1
    with slow_name_lookup("hooks.example.test", 60):
        error, seconds = run_with_limit(lambda: post_json("https://hooks.example.test/services/T/B/X", {}), 10)
    assert isinstance(error, TransientError)
    assert str(error) == (
        "connection failed: timed out (timed out: looking up hooks.example.test took longer than the deadline)"
    )
    assert 0.95 <= seconds < 1.5


def test_an_https_webhook_with_a_trusted_certificate_is_delivered(settings, tls, trust_test_ca):
    with RecordingServer(tls=tls.server_context()) as server:
        response = post_json(f"{server.url}/hook", {"text": "over TLS"})
    assert (response.status, response.body) == (200, '{"ok": true}')
    assert [request["json"] for request in server.requests] == [{"text": "over TLS"}]


def test_an_https_webhook_with_an_untrusted_certificate_gets_nothing(settings, tls):
    with RecordingServer(tls=tls.server_context()) as server:
        with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
            post_json(f"{server.url}/hook", {"text": "secret"})
    assert server.requests == []


def _slow_then_good_over_tls(settings, slow, good, **tls: bool) -> None:
    """Over TLS (`use_ssl` or `use_tls`): the trickling server fails the send as transient at
    EMAIL_TIMEOUT, then a healthy one gets the message."""
    channel = smtp_to(settings, slow.port, timeout=2, host="localhost", **tls)
    error, seconds = run_with_limit(lambda: EmailTransport(channel).notify(MESSAGE), 4 * settings.EMAIL_TIMEOUT)
    assert isinstance(error, TransientError) and "timed out" in str(error)
    assert 0.95 * settings.EMAIL_TIMEOUT <= seconds < 1.25 * settings.EMAIL_TIMEOUT

    smtp_to(settings, good.port, timeout=2, host="localhost", **tls)
    error, _ = run_with_limit(lambda: EmailTransport(channel).notify(MESSAGE), 10)
    assert error is None and [m["message"]["Subject"] for m in good.messages] == [MESSAGE.subject]


def test_smtp_over_tls_gets_the_deadline_too(settings, tls, trust_test_ca):
    # EMAIL_USE_SSL: the trickle starts after the TLS handshake, in the greeting.
    slow, good = SlowLorisSMTPServer(trickle=0.5), RecordingSMTPServer()
    slow.tls = good.tls = tls.server_context()
    with slow, good:
        _slow_then_good_over_tls(settings, slow, good, use_ssl=True)


def test_smtp_starttls_keeps_the_deadline(settings, tls, trust_test_ca):
    # EMAIL_USE_TLS: the connection turns to TLS half-way; the replies after it still share the deadline.
    class TricklesAfterStartTLS(SlowLorisSMTPServer):
        async def send_line(self, writer, line: bytes) -> None:
            if writer.get_extra_info("sslcontext") is None:
                await RecordingSMTPServer.send_line(self, writer, line)
            else:
                await super().send_line(writer, line)

    slow, good = TricklesAfterStartTLS(trickle=0.5), RecordingSMTPServer()
    slow.starttls = good.starttls = tls.server_context()
    with slow, good:
        _slow_then_good_over_tls(settings, slow, good, use_tls=True)
