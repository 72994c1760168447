"""The Overview's one headline state: the sync-health view and the alerts firing now, in one rule.

The page, and anything else that wants "how is the sync, in one word", call `headline()`; it is
never milder than an alert that is firing (a critical failure-rate alert makes the headline
critical even when the lead-share thresholds of lead_sync_health_dashboard only say warning).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from monitoring.choices import OverallHealth, Severity

from .alerts import firing_alerts
from .dashboard import health_summary
from .jobs import dead_man_state

# Worse states rank higher; "starting" only ever replaces the calm states.
RANK = {OverallHealth.UNKNOWN: 0, OverallHealth.HEALTHY: 1, OverallHealth.WARNING: 2, OverallHealth.CRITICAL: 3}
STARTING = "starting"
LABELS = {
    STARTING: "starting up",
    OverallHealth.UNKNOWN: "unknown",
    OverallHealth.HEALTHY: "healthy",
    OverallHealth.WARNING: "warning",
    OverallHealth.CRITICAL: "critical",
}


@dataclass(frozen=True)
class Headline:
    state: str  # starting / unknown / healthy / warning / critical
    health_state: str  # what lead_sync_health_dashboard alone says
    firing: list[dict[str, Any]] = field(default_factory=list)  # firing_alerts(), critical first
    alerts_starting: bool = False  # the first alert check has not completed yet

    @property
    def label(self) -> str:
        return LABELS.get(self.state, self.state)


def headline_state(*, health_state: str, firing_severities: list[str], alerts_starting: bool) -> str:
    """The rule: the worst of the health view's state and each firing alert's severity.

    A firing critical alert is critical, a firing warning at least warning. While the first alert
    check has not completed, a calm result (unknown/healthy, nothing firing) reads "starting up":
    nobody has checked the alert rules yet, so "healthy" would claim more than is known.
    """
    state = health_state if health_state in RANK else OverallHealth.UNKNOWN
    for severity in firing_severities:
        alert_state = OverallHealth.CRITICAL if severity == Severity.CRITICAL else OverallHealth.WARNING
        if RANK[alert_state] > RANK[state]:
            state = alert_state
    if alerts_starting and RANK[state] <= RANK[OverallHealth.HEALTHY]:
        return STARTING
    return state


def headline(*, now: datetime | None = None, health: dict[str, Any] | None = None) -> Headline:
    """The Overview headline from health_summary(), firing_alerts() and the alert check's liveness."""
    health = health if health is not None else health_summary()
    firing = firing_alerts()
    severities = [alert["severity"] for alert in firing]
    state = headline_state(health_state=health["overall_health"], firing_severities=severities, alerts_starting=False)
    starting = False
    if RANK.get(state, 0) <= RANK[OverallHealth.HEALTHY]:
        # Only a calm headline can turn into "starting up": skip the liveness reads otherwise.
        starting = dead_man_state(now=now or timezone.now()).state == "starting"
        state = headline_state(health_state=health["overall_health"], firing_severities=severities,
                               alerts_starting=starting)
    return Headline(state=state, health_state=health["overall_health"], firing=firing, alerts_starting=starting)
