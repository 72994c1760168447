"""Snapshotted forms of dashboard selectors whose live reads are too slow for a page at 1M leads.

check_stale_leads() counts every pending lead older than an hour and the webhook rate reads every
webhook attempt of the last hour: both touch one heap page per row (benchmarks/pages.py measured
110-150 ms each on the 1M/10M database). A minute-old answer is fine on the Debug page, which
says how old it is. The beat task refreshes these with the other snapshots.
"""
from __future__ import annotations

from typing import Any

from . import dashboard
from .snapshots import snapshotted


@snapshotted
def stale_leads_summary() -> dict[str, Any]:
    """check_stale_leads() (pending leads older than an hour: count, oldest created_at)."""
    return dashboard.stale_leads()


@snapshotted
def webhook_rate() -> list[dict[str, Any]]:
    """Webhook updates per minute over the last hour, newest minute first."""
    return dashboard.webhook_updates_per_minute()
