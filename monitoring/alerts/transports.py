"""Notification transports: one class per channel kind, each with one notify().

A transport raises TransientError (timeouts, 5xx, 429: retried with backoff) or PermanentError
(bad token, unknown webhook, 4xx: the channel is disabled and the reason shown on the Alerts page).
Every outbound HTTP call goes through `post_json()`, the single point tests aim at a local server;
it holds one deadline for the whole call (ALERTS_HTTP_TIMEOUT), and SMTP has EMAIL_TIMEOUT.
Adding a channel kind = one class here + one line in TRANSPORTS.
"""
from __future__ import annotations

import http.client
import io
import json
import smtplib
import socket
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import EmailValidator, URLValidator

from monitoring.models import Channel, ChannelKind


class TransportError(Exception):
    """The message did not go out."""


class TransientError(TransportError):
    """Worth trying again later: the service was down, slow or rate limiting."""


class PermanentError(TransportError):
    """Trying again will not help (bad token, unknown webhook): disable the channel and say why."""


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: str


def _timeout() -> float:
    """The deadline of one whole outbound call, connect to last byte (setting ALERTS_HTTP_TIMEOUT)."""
    return float(getattr(settings, "ALERTS_HTTP_TIMEOUT", 10))


# What we keep of an answer: the error text shown on the Alerts page needs no more.
_MAX_BODY_BYTES = 64 * 1024


class _DeadlineReader(io.RawIOBase):
    """Socket reads that share one deadline: each read may wait only for what is left of it.

    A socket timeout alone bounds each read, and a server that sends one byte every few seconds
    never trips it (issue 10: a delivery held for 94 s by a 10 s timeout)."""

    def __init__(self, owner: _DeadlineSocket) -> None:
        self.owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.owner.sock.settimeout(_remaining(self.owner.deadline))
        return self.owner.sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self.owner.reader_closed()
        super().close()


class _DeadlineSocket:
    """The connection's socket as http.client sees it: every send and read under one deadline.

    Like socket.makefile(), an open reader keeps the socket open: http.client closes the
    connection before the body is read when the server says "Connection: close"."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self._readers = 0
        self._close_asked = False

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(_remaining(self.deadline))  # sendall's timeout covers the whole call
        self.sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self))

    def reader_closed(self) -> None:
        self._readers -= 1
        if self._close_asked and not self._readers:
            self.sock.close()

    def close(self) -> None:
        self._close_asked = True
        if not self._readers:
            self.sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out: no complete answer within the deadline")
    return left


def _post(url: str, body: bytes, headers: dict[str, str], seconds: float) -> HttpResponse:
    """One POST, connect to last byte of the (capped) answer within `seconds`. Redirects not followed."""
    deadline = time.monotonic() + seconds
    parts = urllib.parse.urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname or "", parts.port, timeout=_remaining(deadline))
    try:
        connection.connect()  # the TCP (and TLS) handshake, bounded by the remaining time
        connection.sock = _DeadlineSocket(connection.sock, deadline)  # type: ignore[assignment]
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        try:
            return HttpResponse(response.status, response.read(_MAX_BODY_BYTES).decode(errors="replace"))
        finally:
            response.close()
    finally:
        connection.close()


def post_json(url: str, payload: dict[str, Any], *, redact: str = "") -> HttpResponse:
    """POST `payload` as JSON and classify the answer; the one way transports reach the network.

    2xx returns the response; 429 and 5xx, timeouts (one deadline for the whole call:
    ALERTS_HTTP_TIMEOUT) and refused connections raise TransientError; other answers (4xx, an
    unfollowed 3xx) raise PermanentError. `redact` (a secret inside the URL, e.g. a bot token)
    never appears in an error message, because errors are stored and shown on the Alerts page.
    """
    if not url.startswith(("http://", "https://")):
        # A channel only ever talks HTTP; nothing else is opened.
        raise PermanentError("only http(s) URLs are allowed")
    headers = {"Content-Type": "application/json", "User-Agent": "LeadSync-Portal-Alerts"}

    def clean(text: str) -> str:
        return text.replace(redact, "***") if redact else text

    try:
        response = _post(url, json.dumps(payload).encode(), headers, _timeout())
    except (TimeoutError, socket.timeout) as exc:
        raise TransientError(clean(f"connection failed: timed out ({exc})")) from None
    except (OSError, http.client.HTTPException) as exc:
        raise TransientError(clean(f"connection failed: {exc}")) from None
    if 200 <= response.status < 300:
        return response
    detail = clean(f"HTTP {response.status}: {response.body[:300]}".strip())
    if response.status == 429 or response.status >= 500:
        raise TransientError(detail)
    raise PermanentError(detail)


class Transport:
    """Sends one message to one channel."""

    kind: ClassVar[str]
    required_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.config: dict[str, Any] = channel.config or {}

    def validate_config(self) -> None:
        """Raise ValidationError naming what is missing or malformed in the channel's config."""
        if not isinstance(self.config, dict):
            raise ValidationError({"config": "Must be a JSON object."})
        missing = [key for key in self.required_keys if not self.config.get(key)]
        if missing:
            raise ValidationError({"config": f"{self.channel.get_kind_display()} needs: {', '.join(missing)}."})

    def notify(self, message: Message) -> None:
        raise NotImplementedError


class EmailTransport(Transport):
    kind = ChannelKind.EMAIL
    required_keys = ("to",)

    def recipients(self) -> list[str]:
        to = self.config.get("to") or []
        return [to] if isinstance(to, str) else list(to)

    def validate_config(self) -> None:
        super().validate_config()
        validate = EmailValidator()
        for address in self.recipients():
            try:
                validate(address)
            except ValidationError:
                raise ValidationError({"config": f"Not an e-mail address: {address!r}."}) from None

    def notify(self, message: Message) -> None:
        email = EmailMessage(message.subject, message.body, settings.DEFAULT_FROM_EMAIL, self.recipients())
        try:
            email.send(fail_silently=False)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            # The SMTP server refused who we are or whom we write to: no retry will fix that.
            raise PermanentError(f"SMTP refused: {exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"SMTP failed: {exc}") from None


def _validate_http_url(value: str, field: str) -> None:
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        raise ValidationError({"config": f"{field} must be an http(s) URL."}) from None


class SlackTransport(Transport):
    kind = ChannelKind.SLACK
    required_keys = ("webhook_url",)

    def validate_config(self) -> None:
        super().validate_config()
        _validate_http_url(self.config["webhook_url"], "webhook_url")

    def payload(self, message: Message) -> dict[str, Any]:
        return {"text": f"*{message.subject}*\n{message.body}"}

    def notify(self, message: Message) -> None:
        url = self.config["webhook_url"]
        # The webhook URL is the secret: keep it out of stored errors.
        post_json(url, self.payload(message), redact=url)


class TelegramTransport(Transport):
    kind = ChannelKind.TELEGRAM
    required_keys = ("bot_token", "chat_id")

    @staticmethod
    def api_url() -> str:
        return getattr(settings, "ALERTS_TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/")

    def payload(self, message: Message) -> dict[str, Any]:
        # Plain text (no parse_mode): alert text holds lead names and error messages we must not interpret.
        return {
            "chat_id": self.config["chat_id"],
            "text": f"{message.subject}\n\n{message.body}",
            "disable_web_page_preview": True,
        }

    def notify(self, message: Message) -> None:
        token = str(self.config["bot_token"])
        post_json(f"{self.api_url()}/bot{token}/sendMessage", self.payload(message), redact=token)


# One line per channel kind.
TRANSPORTS: dict[str, type[Transport]] = {
    ChannelKind.EMAIL: EmailTransport,
    ChannelKind.SLACK: SlackTransport,
    ChannelKind.TELEGRAM: TelegramTransport,
}


def transport_for(channel: Channel) -> Transport:
    try:
        return TRANSPORTS[channel.kind](channel)
    except KeyError:
        raise ValidationError({"kind": f"Unknown channel kind {channel.kind!r}."}) from None
