"""Names the pages used for their snapshotted numbers; now live from the rollups (issue 12).

check_stale_leads(), the webhook rate and the failure rate used to be minute-old Redis snapshots
(110-320 ms each live at 1M/10M). They now read the rollups plus an index range bounded by the
last hour's writes, so the pages and the alert rules see the same, current numbers.
"""
from __future__ import annotations

from typing import Any

from . import rollups


def stale_leads_summary() -> dict[str, Any]:
    """check_stale_leads() (pending leads older than an hour: count, oldest created_at)."""
    return rollups.stale_leads()


def webhook_rate() -> list[dict[str, Any]]:
    """Webhook updates per minute over the last hour, newest minute first."""
    return rollups.webhook_updates_per_minute()


def recent_failure_rate() -> dict[str, Any]:
    """failure_rate() over the last hour (what the critical failure-rate alert checks), for the Overview."""
    return rollups.failure_rate()


for _selector in (stale_leads_summary, webhook_rate, recent_failure_rate):
    _selector.taken_at = lambda *args, **kwargs: None  # type: ignore[attr-defined]  # live: no snapshot age
