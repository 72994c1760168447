"""Notification transports: one class per channel kind, each with one notify().

A transport raises TransientError (timeouts, 5xx, 429: retried with backoff) or PermanentError
(bad token, unknown webhook, 4xx: the channel is disabled and the reason shown on the Alerts page).
Every outbound HTTP call goes through `post_json()`, the single point tests aim at a local server.
Adding a channel kind = one class here + one line in TRANSPORTS.
"""
from __future__ import annotations

import json
import smtplib
import socket
import urllib.error
import urllib.parse
import urllib.request
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
    return float(getattr(settings, "ALERTS_HTTP_TIMEOUT", 10))


def post_json(url: str, payload: dict[str, Any], *, redact: str = "") -> HttpResponse:
    """POST `payload` as JSON and classify the answer; the one way transports reach the network.

    2xx returns the response; 429 and 5xx, timeouts and refused connections raise TransientError;
    other 4xx raise PermanentError. `redact` (a secret inside the URL, e.g. a bot token) never
    appears in an error message, because errors are stored and shown on the Alerts page.
    """
    if not url.startswith(("http://", "https://")):
        # urllib would also open file:// and ftp:// URLs; a channel only ever talks HTTP.
        raise PermanentError("only http(s) URLs are allowed")
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "LeadSync-Portal-Alerts"},
        method="POST",
    )

    def clean(text: str) -> str:
        return text.replace(redact, "***") if redact else text

    try:
        with urllib.request.urlopen(request, timeout=_timeout()) as response:  # noqa: S310 (scheme checked on save)
            return HttpResponse(response.status, response.read().decode(errors="replace"))
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")[:300]
        detail = clean(f"HTTP {exc.code}: {body}".strip())
        if exc.code == 429 or exc.code >= 500:
            raise TransientError(detail) from None
        raise PermanentError(detail) from None
    except (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TransientError(clean(f"connection failed: {reason}")) from None


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
