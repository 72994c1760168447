"""Each alert rule at, just under and just over its threshold, on hand-built rows; empty tables.

Rows sit relative to the database clock (db_now(): fixed for the whole test transaction), so
"exactly 30 minutes ago" is exact. The dead-man rule reads our own JobRun rows, written with
Python time, so its tests freeze Python time.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from monitoring import selectors
from monitoring.alerts.rules import evaluate_rule
from monitoring.choices import HistoryStatus, LeadSyncStatus
from monitoring.models import AlertRule, Incident, IncidentState, JobOutcome, JobRun, RuleKind, Severity
from monitoring.services.alerts import evaluate_alerts
from tests.alert_helpers import S2T, T2S, add_attempts, db_now, make_lead, only_rule, rule

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)


# --- failure rate: > 10 % of the last hour's attempts, at least 20 attempts ------------------------


@pytest.mark.parametrize(("errors", "breached"), [(9, False), (10, False), (11, True)])
def test_failure_rate_under_at_and_over_ten_percent(errors, breached):
    now = db_now()
    add_attempts(100 - errors, finished=now - timedelta(minutes=30))
    add_attempts(errors, finished=now - timedelta(minutes=30), status=HistoryStatus.ERROR)

    result = evaluate_rule(rule(RuleKind.FAILURE_RATE))

    assert result.breached is breached
    assert result.values["rate"] == float(errors)
    assert result.values["attempts"] == 100
    assert result.affected_count == errors
    assert result.summary.startswith(f"Failure rate {errors} % over 100 attempts in the last 60 min ({errors} failed")


def test_failure_rate_reports_the_issue_example_numbers():
    now = db_now()
    # 212 attempts, 30 failed = 14.15 % -> rounds to 14.15 (selector rounds to 2 places)
    add_attempts(182, finished=now - timedelta(minutes=5))
    add_attempts(30, finished=now - timedelta(minutes=5), status=HistoryStatus.ERROR)

    result = evaluate_rule(rule(RuleKind.FAILURE_RATE))

    assert result.breached
    assert "Failure rate 14.15 % over 212 attempts" in result.summary


def test_failure_rate_counts_only_the_window():
    now = db_now()
    add_attempts(20, finished=now - timedelta(hours=1), status=HistoryStatus.ERROR)  # exactly 1 h ago: outside
    add_attempts(20, finished=now - timedelta(hours=1) + SECOND)  # just inside, all fine

    result = evaluate_rule(rule(RuleKind.FAILURE_RATE))

    assert (result.values["attempts"], result.values["errors"], result.breached) == (20, 0, False)


@pytest.mark.parametrize(("attempts", "breached"), [(19, False), (20, True)])
def test_failure_rate_needs_minimum_attempts(attempts, breached):
    add_attempts(attempts, finished=db_now() - timedelta(minutes=1), status=HistoryStatus.ERROR)

    result = evaluate_rule(rule(RuleKind.FAILURE_RATE))

    assert result.breached is breached
    if not breached:
        assert result.summary == "Only 19 attempts in the last 60 min (minimum 20); rate not judged."


def test_failure_rate_with_zero_attempts_does_not_fire():
    result = evaluate_rule(rule(RuleKind.FAILURE_RATE))
    assert result.breached is False
    assert result.values["rate"] is None and result.values["attempts"] == 0


def test_failure_rate_minimum_is_editable():
    failure = rule(RuleKind.FAILURE_RATE)
    failure.min_attempts = 5
    failure.threshold = Decimal("50")
    add_attempts(3, finished=db_now() - timedelta(minutes=1), status=HistoryStatus.ERROR)
    add_attempts(2, finished=db_now() - timedelta(minutes=1))

    assert evaluate_rule(failure).breached  # 60 % of 5 attempts > 50 %


# --- sync stalled: no history row for 30 min; an empty table counts as stalled ----------------------


@pytest.mark.parametrize(
    ("ago", "breached"),
    [(timedelta(minutes=30) - SECOND, False), (timedelta(minutes=30), False), (timedelta(minutes=30) + SECOND, True)],
)
def test_sync_stalled_around_thirty_minutes(ago, breached):
    add_attempts(1, finished=db_now() - ago)
    assert evaluate_rule(rule(RuleKind.SYNC_STALLED)).breached is breached


def test_sync_stalled_on_empty_history():
    result = evaluate_rule(rule(RuleKind.SYNC_STALLED))
    assert result.breached is True
    assert result.summary == "No sync attempt has ever been recorded."


# --- per-direction stall: one direction quiet for 30 min while the other runs ----------------------


def _direction_rule(direction: str) -> AlertRule:
    return AlertRule.objects.get(kind=RuleKind.DIRECTION_STALLED, direction=direction)


@pytest.mark.parametrize(
    ("ago", "breached"),
    [(timedelta(minutes=30) - SECOND, False), (timedelta(minutes=30), False), (timedelta(minutes=30) + SECOND, True)],
)
def test_direction_stalled_around_thirty_minutes(ago, breached):
    now = db_now()
    add_attempts(1, finished=now - ago, direction=T2S)
    add_attempts(1, finished=now - timedelta(minutes=2), direction=S2T)

    result = evaluate_rule(_direction_rule(T2S))

    assert result.breached is breached
    assert evaluate_rule(_direction_rule(S2T)).breached is False
    if breached:
        assert result.summary.startswith("No Twenty → Supabase attempt within 30 min")
        assert result.summary.endswith("while Supabase → Twenty still runs.")


def test_direction_never_seen_while_other_runs_fires():
    add_attempts(1, finished=db_now() - timedelta(minutes=1), direction=T2S)
    result = evaluate_rule(_direction_rule(S2T))
    assert result.breached and result.values["last_sync"] is None


def test_direction_stall_leaves_a_whole_stall_to_the_stall_rule():
    now = db_now()
    add_attempts(1, finished=now - timedelta(minutes=45), direction=T2S)
    add_attempts(1, finished=now - timedelta(minutes=40), direction=S2T)
    assert evaluate_rule(_direction_rule(T2S)).breached is False
    assert evaluate_rule(_direction_rule(S2T)).breached is False
    assert evaluate_rule(rule(RuleKind.SYNC_STALLED)).breached is True


# --- high error leads: sync_error_count > 5 -------------------------------------------------------


@pytest.mark.parametrize(("count", "breached"), [(4, False), (5, False), (6, True)])
def test_high_error_leads_around_five(count, breached):
    make_lead(first_name="Alan", last_name="Turing", sync_status=LeadSyncStatus.ERROR, sync_error_count=count)

    result = evaluate_rule(rule(RuleKind.HIGH_ERROR_LEADS))

    assert result.breached is breached
    assert result.affected_count == (1 if breached else 0)
    if breached:
        assert result.summary == "1 leads with more than 5 sync errors: Alan Turing (6)."


@pytest.mark.parametrize("kind", [RuleKind.HIGH_ERROR_LEADS, RuleKind.STUCK_LEADS])
def test_lead_rules_count_in_the_database_and_fetch_ten_rows_at_most(kind):
    for n in range(12):
        make_lead(sync_status=LeadSyncStatus.SYNCING, sync_started_at=db_now() - timedelta(hours=1), sync_error_count=6 + n)

    with CaptureQueriesContext(connection) as queries:
        result = evaluate_rule(rule(kind))

    assert result.affected_count == 12 and len(result.values["leads"]) == 10
    assert result.summary.endswith("and 2 more.")
    reads = [q["sql"] for q in queries.captured_queries if "FROM leads" in q["sql"]]
    # At 1M leads the condition matches tens of thousands: count them, list only what the message shows.
    assert len(reads) == 2
    assert all("COUNT(*)" in sql or "LIMIT 10" in sql for sql in reads), reads


def test_high_error_leads_lists_ten_and_counts_all():
    for errors in range(6, 18):  # 12 leads over the threshold
        make_lead(first_name=f"L{errors}", sync_status=LeadSyncStatus.ERROR, sync_error_count=errors)
    result = evaluate_rule(rule(RuleKind.HIGH_ERROR_LEADS))
    assert result.affected_count == 12
    assert len(result.values["leads"]) == 10
    assert result.values["leads"][0] == {"id": result.values["leads"][0]["id"], "name": "L17", "sync_error_count": 17}
    assert result.summary.endswith("and 2 more.")


# --- stale pending leads: check_stale_leads() (pending, created more than 1 h ago) -----------------


@pytest.mark.parametrize(
    ("age", "breached"),
    [(timedelta(hours=1) - SECOND, False), (timedelta(hours=1), False), (timedelta(hours=1) + SECOND, True)],
)
def test_stale_leads_around_one_hour(age, breached):
    make_lead(sync_status=LeadSyncStatus.PENDING, created_at=db_now() - age)
    result = evaluate_rule(rule(RuleKind.STALE_LEADS))
    assert result.breached is breached
    assert result.affected_count == int(breached)


def test_stale_leads_threshold_is_a_count():
    stale = rule(RuleKind.STALE_LEADS)
    stale.threshold = Decimal(1)
    for _ in range(2):
        make_lead(sync_status=LeadSyncStatus.PENDING, created_at=db_now() - timedelta(hours=2))
    assert evaluate_rule(stale).breached  # 2 > 1
    stale.threshold = Decimal(2)
    assert not evaluate_rule(stale).breached  # 2 is not > 2


# --- stuck leads: syncing for more than 10 min -----------------------------------------------------


@pytest.mark.parametrize(
    ("ago", "breached"),
    [(timedelta(minutes=10) - SECOND, False), (timedelta(minutes=10), False), (timedelta(minutes=10) + SECOND, True)],
)
def test_stuck_leads_around_ten_minutes(ago, breached):
    make_lead(first_name="Edsger", sync_status=LeadSyncStatus.SYNCING, sync_started_at=db_now() - ago)
    result = evaluate_rule(rule(RuleKind.STUCK_LEADS))
    assert result.breached is breached
    if breached:
        assert result.summary == "1 leads in syncing for more than 10 min: Edsger."


# --- overall health from lead_sync_health_dashboard -----------------------------------------------


def _leads(synced: int, errors: int) -> None:
    ago = db_now() - timedelta(minutes=5)
    for _ in range(synced):
        make_lead(sync_status=LeadSyncStatus.SYNCED, last_synced_at=ago, created_at=ago - timedelta(days=1))
    for _ in range(errors):
        make_lead(sync_status=LeadSyncStatus.ERROR, last_synced_at=ago, created_at=ago - timedelta(days=1))


@pytest.mark.parametrize(("errors", "health", "breached"), [(0, "healthy", False), (1, "healthy", False), (2, "warning", True)])
def test_overall_health_around_the_warning_line(errors, health, breached):
    # 20 leads: 1 error = 5 % error rate and 95 % success, exactly on the view's warning line.
    _leads(20 - errors, errors)
    result = evaluate_rule(rule(RuleKind.OVERALL_HEALTH))
    assert (result.values["overall_health"], result.breached) == (health, breached)


def test_overall_health_critical_on_the_shared_dataset(sync_dataset):
    result = evaluate_rule(rule(RuleKind.OVERALL_HEALTH))
    assert result.breached
    assert result.summary == "Overall health critical: 2 leads in error, success rate 28.57 %."


def test_overall_health_reads_no_duration_histogram_and_agrees_with_the_health_row(sync_dataset):
    """The rule judges lead counts and rates, never a sync time: it skips the histograms (a fifth of
    the alert check at 1M/10M) and its figures are the health row's, which still has the times."""
    with CaptureQueriesContext(connection) as queries:
        result = evaluate_rule(rule(RuleKind.OVERALL_HEALTH))
    assert not [q["sql"] for q in queries.captured_queries if "rollup_durations" in q["sql"]]
    full = selectors.health_summary()
    assert full["median_sync_time_seconds"] is not None  # the page's row does read them
    assert {key: result.values[key] for key in ("overall_health", "error_leads", "stuck_leads", "stale_pending_leads")} \
        == {key: full[key] for key in ("overall_health", "error_leads", "stuck_leads", "stale_pending_leads")}
    assert result.values["error_rate"] == float(full["error_rate"])
    assert result.values["sync_success_rate"] == float(full["sync_success_rate"])
    bare = selectors.health_summary(durations=False)
    assert bare["median_sync_time_seconds"] is bare["p95_sync_time_seconds"] is bare["p99_sync_time_seconds"] is None
    assert {k: v for k, v in bare.items() if "sync_time" not in k} == {k: v for k, v in full.items() if "sync_time" not in k}


def test_overall_health_carries_critical_severity_to_the_incident(sync_dataset):
    # The default rule says warning (its floor); the view says critical, so the page and the message say critical.
    only_rule(RuleKind.OVERALL_HEALTH)
    assert evaluate_rule(rule(RuleKind.OVERALL_HEALTH)).severity == Severity.CRITICAL

    evaluate_alerts()

    incident = Incident.objects.get()
    assert (incident.rule.severity, incident.severity) == (Severity.WARNING, Severity.CRITICAL)


def test_overall_health_warning_keeps_the_rules_severity():
    _leads(18, 2)  # 10 % errors, 90 % success: warning, not critical
    only_rule(RuleKind.OVERALL_HEALTH, severity=Severity.CRITICAL)
    assert evaluate_rule(rule(RuleKind.OVERALL_HEALTH)).severity is None

    evaluate_alerts()

    assert Incident.objects.get().severity == Severity.CRITICAL  # the rule's own severity is the floor


def test_overall_health_turning_critical_raises_the_open_incident():
    _leads(18, 2)
    only_rule(RuleKind.OVERALL_HEALTH)
    evaluate_alerts()
    assert Incident.objects.get().severity == Severity.WARNING
    _leads(0, 1)  # 3 of 21 in error: 14 % > 10 %, critical

    evaluate_alerts()

    incident = Incident.objects.get()
    assert (incident.state, incident.severity) == (IncidentState.FIRING, Severity.CRITICAL)


def test_an_incident_raised_to_critical_is_never_lowered_while_it_fires():
    _leads(18, 2)
    only_rule(RuleKind.OVERALL_HEALTH)
    evaluate_alerts()
    _leads(0, 1)  # 3 of 21 in error: critical
    evaluate_alerts()
    _leads(12, 0)  # 3 of 33 in error, 9 %: back to warning, still breached
    now = evaluate_rule(rule(RuleKind.OVERALL_HEALTH))
    assert now.values["overall_health"] == "warning"
    before = timezone.now()

    report = evaluate_alerts()

    incident = Incident.objects.get()
    assert report.fired == [] and incident.state == IncidentState.FIRING  # the same incident, still firing
    # It saw the warning (this check's figures are stored)...
    assert (incident.last_values, incident.affected_count) == (now.values, now.affected_count)
    assert incident.last_checked_at >= before
    assert incident.severity == Severity.CRITICAL  # ...and stays critical


def test_overall_health_reads_the_live_rollups(settings, sync_dataset, django_assert_max_num_queries):
    settings.SELECTOR_SNAPSHOT_TTL = 60
    health = rule(RuleKind.OVERALL_HEALTH)

    # The rollup-backed health row: the database clock, the duration histogram, the row itself.
    with django_assert_max_num_queries(3):
        result = evaluate_rule(health)

    assert result.values["overall_health"] == "critical"
    assert result.values["as_of"] is None  # live, not a snapshot


def test_overall_health_unknown_on_empty_tables_does_not_fire():
    result = evaluate_rule(rule(RuleKind.OVERALL_HEALTH))
    assert (result.values["overall_health"], result.breached) == ("unknown", False)


# --- dead-man: the alert check has not completed for 3 intervals ----------------------------------


def _completed_check(finished):
    JobRun.objects.create(
        task_name="monitoring.evaluate_alerts", started_at=finished - SECOND, finished_at=finished, outcome=JobOutcome.SUCCEEDED
    )


@pytest.mark.parametrize(
    ("since", "breached"),
    [(timedelta(minutes=15) - SECOND, False), (timedelta(minutes=15), False), (timedelta(minutes=15) + SECOND, True)],
)
def test_deadman_around_three_intervals(since, breached):
    finished = timezone.now().replace(microsecond=0)
    _completed_check(finished)
    # A failed later run does not count as completed.
    JobRun.objects.create(task_name="monitoring.evaluate_alerts", started_at=finished + SECOND, outcome=JobOutcome.FAILED)
    with time_machine.travel(finished + since, tick=False):
        result = evaluate_rule(rule(RuleKind.DEADMAN))
    assert result.breached is breached
    assert result.values["interval_minutes"] == 5


def test_deadman_follows_the_beat_interval():
    PeriodicTask.objects.filter(task="monitoring.evaluate_alerts").update(
        interval=IntervalSchedule.objects.create(every=10, period=IntervalSchedule.MINUTES)
    )
    finished = timezone.now().replace(microsecond=0)
    _completed_check(finished)
    with time_machine.travel(finished + timedelta(minutes=20), tick=False):
        assert not evaluate_rule(rule(RuleKind.DEADMAN)).breached  # 20 min < 3 x 10 min
    with time_machine.travel(finished + timedelta(minutes=31), tick=False):
        assert evaluate_rule(rule(RuleKind.DEADMAN)).breached


def test_deadman_never_completed_counts_from_the_watchdogs_first_run():
    start = timezone.now().replace(microsecond=0)
    JobRun.objects.create(task_name="monitoring.check_deadman", started_at=start, finished_at=start, outcome=JobOutcome.SUCCEEDED)
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        assert not evaluate_rule(rule(RuleKind.DEADMAN)).breached
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        result = evaluate_rule(rule(RuleKind.DEADMAN))
    assert result.breached and "never completed" in result.summary


def test_deadman_reads_a_crontab_schedule_like_the_jobs_page():
    # The one liveness function serves both: a crontab alert check every 10 min allows 30 min.
    from django_celery_beat.models import CrontabSchedule

    PeriodicTask.objects.filter(task="monitoring.evaluate_alerts").update(
        interval=None, crontab=CrontabSchedule.objects.create(minute="*/10", hour="*", timezone="UTC")
    )
    finished = timezone.now().replace(microsecond=0)
    _completed_check(finished)
    with time_machine.travel(finished + timedelta(minutes=29), tick=False):
        result = evaluate_rule(rule(RuleKind.DEADMAN))
    assert (result.breached, result.values["interval_minutes"]) == (False, 10)
    with time_machine.travel(finished + timedelta(minutes=31), tick=False):
        assert evaluate_rule(rule(RuleKind.DEADMAN)).breached


def test_deadman_falls_back_to_the_rules_window_when_the_check_is_disabled():
    PeriodicTask.objects.filter(task="monitoring.evaluate_alerts").update(enabled=False)
    finished = timezone.now().replace(microsecond=0)
    _completed_check(finished)
    deadman = rule(RuleKind.DEADMAN)
    with time_machine.travel(finished + 3 * deadman.window - SECOND, tick=False):
        assert not evaluate_rule(deadman).breached
    with time_machine.travel(finished + 3 * deadman.window + SECOND, tick=False):
        result = evaluate_rule(deadman)
    assert result.breached and result.values["interval_minutes"] == deadman.window.total_seconds() / 60


# --- the whole check on empty tables ---------------------------------------------------------------


def test_check_on_empty_tables_fires_only_the_stall_rule():
    report = evaluate_alerts()

    assert report.fired == ["Sync stalled: no attempt for 30 min"]
    assert report.failed == {}
    # every rule but the dead-man one, which has its own task (the rollup-verify rule included, quiet)
    assert len(report.evaluated) == 9
    assert AlertRule.objects.get(kind=RuleKind.DEADMAN).last_evaluated_at is None
    assert list(AlertRule.objects.filter(last_breached=True).values_list("kind", flat=True)) == [RuleKind.SYNC_STALLED]
    incident = AlertRule.objects.get(kind=RuleKind.SYNC_STALLED).incidents.get()
    assert incident.state == IncidentState.FIRING
    assert incident.values == {"last_sync": None, "quiet_minutes": 30.0}
