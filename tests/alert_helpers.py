"""Builders for the alerting tests: rows placed relative to the database clock.

Inside a pytest-django `db` test everything runs in one transaction, so PostgreSQL's NOW() is the
transaction's start and stays fixed: rows built at exactly "NOW() - 30 min" sit exactly on a
threshold, which lets the tests check at / just under / just over without races.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from monitoring.choices import HistoryDirection, HistoryStatus, LeadSyncStatus, SyncType
from monitoring.models import AlertRule, Lead, LeadSyncHistory
from monitoring.selectors.alerts import database_now
from tests.hostile_servers import RecordingServer  # noqa: F401 (the alert tests import it from here)

T2S = HistoryDirection.TWENTY_TO_SUPABASE
S2T = HistoryDirection.SUPABASE_TO_TWENTY


def db_now() -> datetime:
    return database_now()


def make_lead(**fields) -> Lead:
    updated_at = fields.pop("updated_at", None)
    fields.setdefault("sync_status", LeadSyncStatus.SYNCED)
    lead = Lead.objects.create(**fields)
    if updated_at is not None:
        Lead.objects.filter(pk=lead.pk).update(updated_at=updated_at)
    lead.refresh_from_db()
    return lead


def add_attempts(
    count: int,
    *,
    finished: datetime,
    status: str = HistoryStatus.SYNCED,
    direction: str = T2S,
    lead: Lead | None = None,
) -> None:
    lead = lead or make_lead(email=None)
    LeadSyncHistory.objects.bulk_create(
        LeadSyncHistory(
            lead=lead,
            sync_type=SyncType.SCHEDULED,
            sync_direction=direction,
            sync_status=status,
            created_at=finished - timedelta(seconds=1),
            synced_at=finished,
            error_message="boom" if status == HistoryStatus.ERROR else None,
        )
        for _ in range(count)
    )


def rule(kind: str) -> AlertRule:
    """The migration's default rule of `kind` (the first, for per-direction stalls use rule_named)."""
    return AlertRule.objects.filter(kind=kind).order_by("pk").first()


def only_rule(kind: str, **changes) -> AlertRule:
    """Switch every other rule off, so a test sees only this rule's messages."""
    chosen = rule(kind)
    AlertRule.objects.exclude(pk=chosen.pk).update(enabled=False)
    for name, value in changes.items():
        setattr(chosen, name, value)
    chosen.save()
    return chosen


def make_channels(server_url: str) -> dict:
    """An e-mail, a Slack and a Telegram channel; Slack and Telegram point at the local server."""
    from monitoring.models import Channel, ChannelKind

    return {
        "email": Channel.objects.create(name="ops mail", kind=ChannelKind.EMAIL, config={"to": ["ops@example.com"]}),
        "slack": Channel.objects.create(
            name="ops slack", kind=ChannelKind.SLACK, config={"webhook_url": f"{server_url}/services/T000/B000/XXXX"}
        ),
        "telegram": Channel.objects.create(
            name="ops telegram", kind=ChannelKind.TELEGRAM, config={"bot_token": "123456:SECRET-token", "chat_id": "-100200"}
        ),
    }


class RefusingEmailBackend:
    """An e-mail backend whose SMTP server refuses the login (a permanent failure)."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def send_messages(self, messages) -> int:
        import smtplib

        raise smtplib.SMTPAuthenticationError(535, b"5.7.8 Username and Password not accepted")


class DownEmailBackend:
    """An e-mail backend whose SMTP server does not answer (a transient failure)."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def send_messages(self, messages) -> int:
        raise ConnectionRefusedError(111, "Connection refused")


# Fixtures of the alert tests (import them by name into a test module to use them).


@pytest.fixture
def server(settings):
    """A RecordingServer that Slack channels and the Telegram API URL point at."""
    with RecordingServer() as srv:
        settings.ALERTS_TELEGRAM_API_URL = srv.url
        yield srv


@pytest.fixture
def channels(server):
    """make_channels() on the local server."""
    return make_channels(server.url)
