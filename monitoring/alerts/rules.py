"""Alert rules: one evaluator per rule kind, each reading the shared selectors (one place per number).

An evaluator answers "is the condition breached now, with which numbers?" and nothing else: the
firing/reminder/recovery lifecycle lives in monitoring.services.alerts.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from monitoring import selectors
from monitoring.choices import HistoryDirection, OverallHealth
from monitoring.models import AlertRule, RuleKind, Severity
from monitoring.selectors import alerts as alert_selectors
# The dead-man rule watches this task's JobRun rows (one name, defined with the Jobs page's check).
from monitoring.selectors.jobs import ALERT_CHECK_TASK, alert_check_liveness

DEADMAN_TASK = "monitoring.check_deadman"
# How many leads a message lists; the count is always complete.
LISTED_LEADS = 10


@dataclass(frozen=True)
class Evaluation:
    breached: bool
    summary: str
    values: dict[str, Any] = field(default_factory=dict)
    affected_count: int | None = None
    # Set when the condition itself grades the alert (health 'critical'); the rule's severity is the floor.
    severity: str | None = None


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:g} min"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _listing(names: list[str], count: int) -> str:
    """': a, b and 3 more.' for a message that lists some of `count` leads; '.' when none is listed."""
    if not names:
        return "."
    more = f" and {count - len(names)} more" if count > len(names) else ""
    return f": {', '.join(names)}{more}."


def _number(value: Decimal | float | int) -> str:
    return f"{Decimal(value).normalize():f}"


def failure_rate(rule: AlertRule) -> Evaluation:
    row = selectors.failure_rate(window=rule.window)
    attempts, errors, rate = int(row["attempts"]), int(row["errors"]), row["rate"]
    values = {
        "rate": float(rate) if rate is not None else None,
        "attempts": attempts,
        "errors": errors,
        "window_minutes": rule.window.total_seconds() / 60,
        "threshold": float(rule.threshold),
    }
    span = f"in the last {_minutes(rule.window)}"
    if attempts < rule.min_attempts:
        # Too few attempts to judge a rate: 2 errors out of 3 is not an outage (the stall rules cover silence).
        return Evaluation(False, f"Only {attempts} attempts {span} (minimum {rule.min_attempts}); rate not judged.", values, errors)
    breached = rate is not None and rate > rule.threshold
    return Evaluation(
        breached,
        f"Failure rate {_number(rate)} % over {attempts} attempts {span} ({errors} failed; threshold {_number(rule.threshold)} %).",
        values,
        errors,
    )


def sync_stalled(rule: AlertRule) -> Evaluation:
    stalled = selectors.sync_stalled(quiet_for=rule.window)
    last = selectors.last_sync_times()["last_sync"]
    values = {"last_sync": _iso(last), "quiet_minutes": rule.window.total_seconds() / 60}
    if last is None:
        return Evaluation(stalled, "No sync attempt has ever been recorded.", values)
    state = "No" if stalled else "Latest"
    return Evaluation(stalled, f"{state} sync attempt within {_minutes(rule.window)}: last one finished {last:%Y-%m-%d %H:%M:%S %Z}.", values)


def direction_stalled(rule: AlertRule) -> Evaluation:
    direction = HistoryDirection(rule.direction)
    other = next(d for d in HistoryDirection if d != direction)
    times = selectors.last_sync_times()
    since = alert_selectors.database_now() - rule.window
    mine, theirs = times[direction.value], times[other.value]
    mine_quiet = mine is None or mine < since
    theirs_running = theirs is not None and theirs >= since
    values = {
        "direction": direction.value,
        "last_sync": _iso(mine),
        "other_direction_last_sync": _iso(theirs),
        "quiet_minutes": rule.window.total_seconds() / 60,
    }
    # Both directions quiet is the whole-sync stall rule's alert, not this one's.
    breached = mine_quiet and theirs_running
    last = f"last {mine:%Y-%m-%d %H:%M:%S %Z}" if mine else "never"
    summary = (
        f"No {direction.label} attempt within {_minutes(rule.window)} ({last}) "
        f"while {other.label} still runs."
        if breached
        else f"{direction.label}: {last}; {other.label}: {'running' if theirs_running else 'quiet too'}."
    )
    return Evaluation(breached, summary, values)


def high_error_leads(rule: AlertRule) -> Evaluation:
    threshold = int(rule.threshold)
    # A COUNT on the partial index and a short list: at 1M leads the full list is tens of thousands of rows.
    count = selectors.high_error_lead_count(threshold=threshold)
    leads = selectors.high_error_leads(threshold=threshold, limit=LISTED_LEADS) if count else []
    listed = [
        {"id": str(lead["id"]), "name": lead["lead_name"], "sync_error_count": lead["sync_error_count"]}
        for lead in leads
    ]
    values = {"count": count, "threshold": threshold, "leads": listed}
    names = [f"{lead['name'] or lead['id']} ({lead['sync_error_count']})" for lead in listed]
    summary = (
        f"{count} leads with more than {threshold} sync errors{_listing(names, count)}"
        if count
        else f"No lead has more than {threshold} sync errors."
    )
    return Evaluation(bool(count), summary, values, count)


def stale_leads(rule: AlertRule) -> Evaluation:
    row = selectors.stale_leads()
    count = int(row["stale_count"])
    values = {"count": count, "oldest_pending": _iso(row["oldest_pending"]), "threshold": float(rule.threshold)}
    oldest = f"; oldest created {row['oldest_pending']:%Y-%m-%d %H:%M %Z}" if row["oldest_pending"] else ""
    return Evaluation(count > rule.threshold, f"{count} pending leads older than 1 h{oldest}.", values, count)


def stuck_leads(rule: AlertRule) -> Evaluation:
    count = selectors.stuck_lead_count(older_than=rule.window)
    leads = selectors.stuck_leads(older_than=rule.window, limit=LISTED_LEADS) if count else []
    listed = [{"id": str(lead["id"]), "name": lead["lead_name"], "since": _iso(lead["sync_started_at"])} for lead in leads]
    values = {"count": count, "older_than_minutes": rule.window.total_seconds() / 60, "leads": listed}
    names = [lead["name"] or lead["id"] for lead in listed]
    summary = f"{count} leads in syncing for more than {_minutes(rule.window)}{_listing(names, count)}"
    return Evaluation(count > rule.threshold, summary, values, count)


def overall_health(rule: AlertRule) -> Evaluation:
    # The rollup-backed health row the dashboard shows (live, a few ms at 1M/10M): the alert and the
    # page agree. as_of stays for the message format; None means "live".
    row = selectors.health_summary(durations=False)  # the rule reads no sync time
    taken_at = selectors.health_summary.taken_at()  # type: ignore[attr-defined]
    health = row["overall_health"]
    values = {
        "overall_health": health,
        "error_leads": row["error_leads"],
        "error_rate": float(row["error_rate"]) if row["error_rate"] is not None else None,
        "sync_success_rate": float(row["sync_success_rate"]) if row["sync_success_rate"] is not None else None,
        "stuck_leads": row["stuck_leads"],
        "stale_pending_leads": row["stale_pending_leads"],
        "as_of": _iso(taken_at),
    }
    # 'unknown' (no leads, or none due yet) has nothing to judge; an empty sync is the stall rule's alert.
    breached = health in (OverallHealth.WARNING, OverallHealth.CRITICAL)
    rate = f"{values['sync_success_rate']:.2f} %" if values["sync_success_rate"] is not None else "n/a"
    summary = f"Overall health {health}: {row['error_leads']} leads in error, success rate {rate}."
    # Critical health pages as critical whatever the rule's (floor) severity says.
    severity = Severity.CRITICAL if health == OverallHealth.CRITICAL else None
    return Evaluation(breached, summary, values, row["error_leads"], severity)


def deadman(rule: AlertRule) -> Evaluation:
    # Same decision as the Jobs page (selectors.jobs.alert_check_liveness), with the rule's own
    # threshold and two documented differences: the rule's window stands in when the check has no
    # enabled schedule, and a check that never completed counts from the watchdog's first run, so
    # a fresh install does not page before the first check had a chance.
    now = timezone.now()
    live = alert_check_liveness(
        now=now,
        intervals=int(rule.threshold),
        fallback_interval=rule.window,
        grace_since=alert_selectors.first_run(DEADMAN_TASK) or now,
    )
    assert live.interval is not None and live.since is not None and live.allowed is not None  # fallback and grace given
    last = live.last_completed_at
    values = {
        "last_completed": _iso(last),
        "interval_minutes": live.interval.total_seconds() / 60,
        "missed_intervals_allowed": int(rule.threshold),
        "minutes_since": round((now - live.since).total_seconds() / 60, 1),
    }
    when = f"last completed {last:%Y-%m-%d %H:%M:%S %Z}" if last else "never completed"
    summary = f"The alert check ({ALERT_CHECK_TASK}) {when}; allowed {_minutes(live.allowed)} ({int(rule.threshold)} intervals)."
    return Evaluation(live.overdue, summary, values)


VERIFY_ROLLUPS_TASK = "monitoring.verify_rollups"


def rollups_disagree(rule: AlertRule) -> Evaluation:
    # The weekly verify (monitoring.verify_rollups) compares every rollup with the tables; its newest
    # finished run decides. One JobRun read: the rule costs nothing at each check.
    from monitoring.models import JobOutcome, JobRun

    run = (
        JobRun.objects.filter(task_name=VERIFY_ROLLUPS_TASK)
        .exclude(outcome__in=[JobOutcome.RUNNING, JobOutcome.SKIPPED])
        .order_by("-started_at")
        .first()
    )
    if run is None:
        return Evaluation(False, "The rollups have not been verified yet.", {"last_verified": None})
    mismatches = (run.detail or {}).get("mismatches", {})
    values = {"last_verified": _iso(run.started_at), "outcome": run.outcome, "mismatches": mismatches}
    if run.outcome == JobOutcome.FAILED:
        what = ", ".join(f"{name} ({count} keys)" for name, count in mismatches.items()) or run.error
        return Evaluation(
            True,
            f"The dashboard rollups disagree with the tables ({what}), checked {run.started_at:%Y-%m-%d %H:%M %Z}; "
            "dashboard numbers may be wrong until `manage.py rebuild_rollups` runs.",
            values,
            sum(mismatches.values()) or None,
        )
    return Evaluation(False, f"The rollups agreed with the tables on {run.started_at:%Y-%m-%d %H:%M %Z}.", values)


# One evaluator per rule kind.
EVALUATORS: dict[str, Callable[[AlertRule], Evaluation]] = {
    RuleKind.FAILURE_RATE: failure_rate,
    RuleKind.SYNC_STALLED: sync_stalled,
    RuleKind.DIRECTION_STALLED: direction_stalled,
    RuleKind.HIGH_ERROR_LEADS: high_error_leads,
    RuleKind.STALE_LEADS: stale_leads,
    RuleKind.STUCK_LEADS: stuck_leads,
    RuleKind.OVERALL_HEALTH: overall_health,
    RuleKind.DEADMAN: deadman,
    RuleKind.ROLLUPS_DISAGREE: rollups_disagree,
}


def evaluate_rule(rule: AlertRule) -> Evaluation:
    return EVALUATORS[rule.kind](rule)


def graver(*severities: str | None) -> str:
    """The gravest of `severities` (None ignored): critical over warning."""
    order = list(Severity.values)  # least grave first
    return max((s for s in severities if s), key=order.index)
