"""Snapshotted forms of dashboard selectors whose live reads are too slow for a page at 1M leads.

check_stale_leads() counts every pending lead older than an hour, the webhook rate reads every
webhook attempt of the last hour and the failure rate every attempt of the last hour: each touches
one heap page per row (benchmarks/pages.py measured 110-320 ms each on the 1M/10M database). A
minute-old answer is fine on a page that says how old it is; alert rules keep reading the live
selectors. The beat task refreshes these with the other snapshots.
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


@snapshotted
def recent_failure_rate() -> dict[str, Any]:
    """failure_rate() over the last hour (what the critical failure-rate alert checks), for the Overview."""
    return dashboard.failure_rate()
