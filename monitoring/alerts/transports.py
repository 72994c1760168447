"""Notification transports: one class per channel kind, each with one notify().

A transport raises TransientError (timeouts, 5xx, 429: retried with backoff) or PermanentError
(bad token, unknown webhook, 4xx: the channel is disabled and the reason shown on the Alerts page).
Every outbound HTTP call goes through `post_json()`, the single point tests aim at a local server;
it holds one deadline for the whole call, name lookup to last byte (ALERTS_HTTP_TIMEOUT). E-mail
goes through Django's backend, whose SMTP sends get one such deadline too (EMAIL_TIMEOUT); both
use deadlines.py.
Adding a channel kind = one class here + one line in TRANSPORTS.
"""
from __future__ import annotations

import http.client
import json
import smtplib
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPEmailBackend
from django.core.validators import EmailValidator, URLValidator
from django.utils.module_loading import import_string

from monitoring.models import Channel, ChannelKind

from . import deadlines
from .escaping import header_text, slack_text


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


def _post(url: str, body: bytes, headers: dict[str, str], seconds: float) -> HttpResponse:
    """One POST, name lookup to last byte of the (capped) answer within `seconds`. Redirects not followed."""
    deadline = time.monotonic() + seconds
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        # A new default context per call: the system's CAs (or SSL_CERT_FILE) as they are now.
        context = ssl.create_default_context()
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(host, parts.port, context=context)
        sock = deadlines.connect(host, parts.port or 443, deadline, tls=context)
    else:
        connection = http.client.HTTPConnection(host, parts.port)
        sock = deadlines.connect(host, parts.port or 80, deadline)
    # Our socket, already connected: http.client never calls its own connect(), whose lookup and
    # TLS handshake would each get a fresh timeout instead of what is left.
    connection.sock = sock  # type: ignore[assignment]
    try:
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
        email = EmailMessage(
            header_text(message.subject), message.body, settings.DEFAULT_FROM_EMAIL, self.recipients(),
            connection=_email_connection(),
        )
        try:
            email.send(fail_silently=False)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            # The SMTP server refused who we are or whom we write to: no retry will fix that.
            raise PermanentError(f"SMTP refused: {exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"SMTP failed: {exc}") from None


def _email_connection() -> Any:
    """The configured e-mail backend; Django's own SMTP backend becomes the one with a deadline.

    Django's backend gives EMAIL_TIMEOUT to each socket wait; DeadlineEmailBackend (same settings)
    gives it to the whole send, so a mail server trickling its replies cannot hold a delivery
    longer. Other backends (the tests' locmem, console, an API backend) are used as configured."""
    if import_string(settings.EMAIL_BACKEND) is SMTPEmailBackend:
        return deadlines.DeadlineEmailBackend(fail_silently=False)
    return get_connection(fail_silently=False)


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
        return {"text": f"*{slack_text(message.subject)}*\n{slack_text(message.body)}"}

    def notify(self, message: Message) -> None:
        url = self.config["webhook_url"]
        # The webhook URL's path is the secret (/services/T.../B.../token): keep it out of stored
        # errors, also where a proxy or the service quotes the path without the host.
        path = urllib.parse.urlsplit(url).path
        post_json(url, self.payload(message), redact=path if len(path) > 1 else url)


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
