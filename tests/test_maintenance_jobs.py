"""Watching our own jobs: schedules, the single-instance guard, run records, the Jobs page, the dead-man."""
from __future__ import annotations

from io import StringIO

import logging
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
import time_machine
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from monitoring.models import ArchiveExport, ArchiveExportStatus, JobOutcome, JobRun, StaleLeadCheck
from monitoring.selectors import jobs as job_selectors
from monitoring.services.jobs import _lock_key, record_job
from monitoring.tasks import maintenance as tasks

from .maintenance_helpers import insert_history, make_lead, second_connection

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=dt_timezone.utc)
TASKS = {
    "monitoring.refresh_daily_summary": tasks.refresh_daily_summary,
    "monitoring.archive_history": tasks.archive_history,
    "monitoring.export_archive_months": tasks.export_archive_months,
    "monitoring.record_stale_leads": tasks.record_stale_leads,
    "monitoring.refresh_snapshots": tasks.refresh_snapshots,
}


def test_each_task_has_its_beat_schedule(db):
    schedules = {
        (task.task, str(task.interval) if task.interval else task.crontab.human_readable)
        for task in PeriodicTask.objects.filter(enabled=True).select_related("interval", "crontab")
    }
    assert {
        ("monitoring.compact_rollups", "every 5 seconds"),
        ("monitoring.verify_rollups", "At 05:00 AM, only on Sunday UTC"),
        ("monitoring.record_stale_leads", "every 5 minutes"),
        ("monitoring.refresh_daily_summary", "At 5 minutes past the hour UTC"),
        ("monitoring.refresh_daily_summary", "At 12:15 AM UTC"),
        ("monitoring.archive_history", "At 03:00 AM, only on Sunday UTC"),
        ("monitoring.export_archive_months", "At 04:00 AM, on day 1 of the month UTC"),
    } <= schedules
    # Issue 12: the per-minute snapshot refresh is retired (the numbers are live from the rollups).
    assert not any(task == "monitoring.refresh_snapshots" for task, _when in schedules)


def test_the_jobs_page_schedule_labels_follow_a_changed_crontab(db):
    """The crontab labels are kept per schedule (cron_descriptor rereads its catalogue per call);
    a crontab changed in the admin gets its new label, not the one kept for the old fields."""
    task = PeriodicTask.objects.select_related("crontab").get(task="monitoring.verify_rollups")
    assert job_selectors._schedule_label(task) == task.crontab.human_readable == "At 05:00 AM, only on Sunday UTC"
    task.crontab.hour = "6"
    task.crontab.save()
    task = PeriodicTask.objects.select_related("crontab").get(pk=task.pk)
    assert job_selectors._schedule_label(task) == "At 06:00 AM, only on Sunday UTC"
    labels = {row.task_name: row.schedule for row in job_selectors.job_overview()}
    assert labels["monitoring.verify_rollups"] == "At 06:00 AM, only on Sunday UTC"


@pytest.mark.parametrize("task_name", sorted(TASKS))
def test_a_second_start_of_a_running_task_is_skipped_with_a_log_line(db, task_name, caplog, tmp_path, settings):
    settings.ARCHIVE_DIR = tmp_path
    with second_connection() as running_instance:
        running_instance.execute("SELECT pg_advisory_lock(%s)", [_lock_key(task_name)])
        with caplog.at_level(logging.INFO, logger="monitoring.services.jobs"):
            assert TASKS[task_name]() == {"skipped": "another run holds the lock"}
        # Released explicitly: a closed session's locks go only when its backend has exited.
        running_instance.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(task_name)])

    run = JobRun.objects.get(task_name=task_name)
    assert (run.outcome, run.finished_at is not None) == (JobOutcome.SKIPPED, True)
    assert f"{task_name}: another run is in progress; this one exits" in caplog.messages
    # Once the lock is free, the next start runs.
    TASKS[task_name]()
    assert JobRun.objects.filter(task_name=task_name, outcome=JobOutcome.SUCCEEDED).count() == 1


def test_a_run_left_running_by_a_dead_worker_is_closed_by_the_next_run(db):
    dead = JobRun.objects.create(task_name="monitoring.record_stale_leads", started_at=NOW - timedelta(hours=1))

    tasks.record_stale_leads()

    dead.refresh_from_db()
    assert dead.outcome == JobOutcome.FAILED
    assert dead.error == "interrupted: the worker or its database connection was lost"


def test_a_failing_run_is_recorded_with_its_error(db):
    with pytest.raises(ZeroDivisionError):
        with record_job("monitoring.example", single_instance=True):
            1 / 0
    run = JobRun.objects.get(task_name="monitoring.example")
    assert (run.outcome, run.error) == (JobOutcome.FAILED, "ZeroDivisionError: division by zero")
    with second_connection() as other:  # the lock was released
        assert other.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key("monitoring.example")]).fetchone() == (True,)


def test_stale_leads_check_records_the_function_result(sync_dataset):
    detail = tasks.record_stale_leads()

    check = StaleLeadCheck.objects.get()
    assert (check.stale_count, check.oldest_pending) == (1, sync_dataset.barbara.created_at)
    assert detail == {"stale_count": 1, "oldest_pending": sync_dataset.barbara.created_at.isoformat()}
    assert JobRun.objects.get(task_name="monitoring.record_stale_leads").rows_touched == 1


def test_snapshot_task_skips_when_snapshots_are_off(db):
    assert tasks.refresh_snapshots() == {"seconds": {}}
    assert JobRun.objects.get(task_name="monitoring.refresh_snapshots").rows_touched == 0


def test_snapshot_task_has_nothing_left_to_warm(sync_dataset, settings):
    # Issue 12: no dashboard selector is snapshotted any more; a queued run does no database work.
    settings.SELECTOR_SNAPSHOT_TTL = 120
    from monitoring.selectors import health_summary

    assert tasks.refresh_snapshots() == {"seconds": {}}
    assert health_summary.taken_at() is None  # live


def test_queued_starts_expire_before_the_next_fire_so_runs_cannot_pile_up(db):
    # With the single-instance lock, this keeps a per-minute task whose worker is busy from
    # queueing a backlog that would then run back to back.
    for task in PeriodicTask.objects.filter(task__in=TASKS).select_related("interval", "crontab"):
        period = job_selectors._period_seconds(task, NOW)
        assert task.expire_seconds and task.expire_seconds < period, task.name
    compactor = PeriodicTask.objects.get(task="monitoring.compact_rollups")
    assert (compactor.interval.every, compactor.interval.period, compactor.expire_seconds) == (5, "seconds", 5)


# ---- dead-man ------------------------------------------------------------------------------------


def _alert_check_every(minutes: int, *, enabled: bool = True) -> PeriodicTask:
    # Replaces the schedule migration 0041 creates, so each test sets its own.
    PeriodicTask.objects.filter(task=job_selectors.ALERT_CHECK_TASK).delete()
    interval = IntervalSchedule.objects.create(every=minutes, period=IntervalSchedule.MINUTES)
    return PeriodicTask.objects.create(
        name="Evaluate alerts", task=job_selectors.ALERT_CHECK_TASK, interval=interval, enabled=enabled
    )


def _alert_check_completed(minutes_ago: float) -> None:
    finished = NOW - timedelta(minutes=minutes_ago)
    JobRun.objects.create(
        task_name=job_selectors.ALERT_CHECK_TASK, started_at=finished - timedelta(seconds=2),
        finished_at=finished, outcome=JobOutcome.SUCCEEDED,
    )


def test_dead_man_is_neutral_without_the_alerts_feature(db):
    PeriodicTask.objects.filter(task=job_selectors.ALERT_CHECK_TASK).delete()
    assert job_selectors.dead_man_state(now=NOW).state == "not_scheduled"


def test_dead_man_stays_ok_within_three_intervals(db):
    _alert_check_every(5)
    _alert_check_completed(14.5)

    state = job_selectors.dead_man_state(now=NOW)

    assert (state.state, state.interval_seconds) == ("ok", 300)


def test_dead_man_turns_red_after_three_intervals_without_a_completed_check(db):
    _alert_check_every(5)
    _alert_check_completed(15.5)
    # A failed or skipped run is not a completed check.
    JobRun.objects.create(task_name=job_selectors.ALERT_CHECK_TASK, started_at=NOW - timedelta(minutes=1),
                          finished_at=NOW, outcome=JobOutcome.FAILED, error="boom")

    state = job_selectors.dead_man_state(now=NOW)

    assert state.is_red
    assert state.message == (
        "Alert checks have not completed for 3 intervals (every 5 min; last completed 2026-11-28 11:44 UTC)."
    )


def test_dead_man_is_red_when_the_check_never_ran_or_is_disabled(db):
    task = _alert_check_every(5)
    PeriodicTask.objects.filter(pk=task.pk).update(date_changed=NOW - timedelta(minutes=16))  # due for 3+ intervals
    assert job_selectors.dead_man_state(now=NOW).message == "Alert checks have never completed."
    task.enabled = False
    task.save()
    assert job_selectors.dead_man_state(now=NOW).message == "Alert checks are disabled: nobody will be alerted."


def test_dead_man_is_starting_up_not_red_before_the_first_check_could_run(db):
    """Issue 13.8: a clean start showed "Alert checks have never completed" in red at once."""
    task = _alert_check_every(5)
    PeriodicTask.objects.filter(pk=task.pk).update(date_changed=NOW - timedelta(minutes=2))
    state = job_selectors.dead_man_state(now=NOW)
    assert (state.state, state.is_red) == ("starting", False)
    assert state.message == "Starting up: the first alert check has not completed yet (checks run every 5 min)."
    # A run that started 14 minutes ago and never finished: still within 3 intervals of being due.
    JobRun.objects.create(task_name=job_selectors.ALERT_CHECK_TASK, started_at=NOW - timedelta(minutes=14))
    assert job_selectors.dead_man_state(now=NOW).state == "starting"
    # 16 minutes after it was first due and still nothing completed: red.
    assert job_selectors.dead_man_state(now=NOW + timedelta(minutes=2)).is_red


def test_run_alert_check_once_completes_a_check_now(db):
    from django.core.management import call_command

    _alert_check_every(5)
    call_command("run_alert_check_once", stdout=StringIO())
    run = JobRun.objects.get(task_name=job_selectors.ALERT_CHECK_TASK)
    assert run.outcome == JobOutcome.SUCCEEDED and run.finished_at is not None
    assert job_selectors.dead_man_state().state == "ok"


def test_alert_check_liveness_is_the_one_decision_with_an_explicit_grace_for_the_alert(db):
    # The page (no grace) and the alert rule (grace from the watchdog's first run) share it.
    _alert_check_every(5)

    page = job_selectors.alert_check_liveness(now=NOW)
    alert = job_selectors.alert_check_liveness(now=NOW, grace_since=NOW - timedelta(minutes=10))

    assert (page.overdue, page.since, page.interval) == (True, None, timedelta(minutes=5))
    assert (alert.overdue, alert.since, alert.allowed) == (False, NOW - timedelta(minutes=10), timedelta(minutes=15))
    assert job_selectors.alert_check_liveness(now=NOW, grace_since=NOW - timedelta(minutes=16)).overdue

    _alert_check_completed(15)
    at_limit = job_selectors.alert_check_liveness(now=NOW)
    assert (at_limit.overdue, at_limit.since) == (False, NOW - timedelta(minutes=15))
    assert job_selectors.alert_check_liveness(now=NOW, intervals=2).overdue  # the rule's threshold


def test_dead_man_page_and_alert_rule_agree_once_the_check_has_run(db):
    from monitoring.alerts.rules import evaluate_rule
    from monitoring.models import AlertRule, RuleKind

    _alert_check_every(5)
    _alert_check_completed(15.5)
    rule = AlertRule.objects.get(kind=RuleKind.DEADMAN)
    with time_machine.travel(NOW, tick=False):
        assert job_selectors.dead_man_state().is_red and evaluate_rule(rule).breached
    with time_machine.travel(NOW - timedelta(minutes=1), tick=False):
        assert not job_selectors.dead_man_state().is_red and not evaluate_rule(rule).breached


# ---- the Jobs page -------------------------------------------------------------------------------


@pytest.fixture
def jobs_page_data(db):
    """One archive run 2.5 s long that moved 5 rows; 3 hot rows (oldest 27 Nov 08:00), 2 archived
    (oldest 1 Sep 2026), September exported; a stale-leads check that found 2."""
    JobRun.objects.create(
        task_name="monitoring.archive_history", started_at=NOW - timedelta(hours=2),
        finished_at=NOW - timedelta(hours=2) + timedelta(seconds=2.5), outcome=JobOutcome.SUCCEEDED, rows_touched=5,
    )
    lead = make_lead()
    insert_history(lead, datetime(2026, 11, 27, 8, 0, tzinfo=dt_timezone.utc), count=3)
    insert_history(lead, datetime(2026, 9, 1, 6, 0, tzinfo=dt_timezone.utc), table="lead_sync_history_archive")
    insert_history(lead, datetime(2026, 10, 3, 6, 0, tzinfo=dt_timezone.utc), table="lead_sync_history_archive")
    ArchiveExport.objects.create(
        month=date(2026, 9, 1), file_name="lead_sync_history_2026-09.jsonl.gz", row_count=1, id_sum=1,
        sha256="ab" * 32, size_bytes=100, exported_at=NOW, verified_at=NOW, status=ArchiveExportStatus.VERIFIED,
    )
    StaleLeadCheck.objects.create(checked_at=NOW - timedelta(minutes=3), stale_count=2, oldest_pending=None)


def test_jobs_page_shows_schedules_runs_sizes_and_months(viewer_client, jobs_page_data, django_assert_max_num_queries):
    with time_machine.travel(NOW, tick=False), django_assert_max_num_queries(19):
        response = viewer_client.get(reverse("monitoring:jobs"))

    assert response.status_code == 200
    page = response.content.decode()
    archive_row = page[page.index("monitoring.archive_history"):]
    archive_row = archive_row[: archive_row.index("</tr>")]
    for expected in ("At 03:00 AM, only on Sunday UTC", "2026-11-28 10:00:00 UTC", "succeeded", "2.50", ">5<",
                     "2026-11-29 03:00:00 UTC"):
        assert expected in archive_row, expected
    assert "At 5 minutes past the hour UTC; At 12:15 AM UTC" in page
    sizes = page[page.index('id="history-sizes"'):page.index('id="archived-months"')]
    assert "<td>lead_sync_history (hot)</td>\n          <td>3</td>\n          <td>2026-11-27 08:00 UTC</td>" in sizes
    assert "<td>lead_sync_history_archive</td>\n          <td>2</td>\n          <td>2026-09-01 06:00 UTC</td>" in sizes
    assert "Last stale-leads check 2026-11-28 11:57 UTC:\n     2 pending leads older than an hour." in sizes
    months = page[page.index('id="archived-months"'):]
    assert "2026-10" in months and "2026-09" in months
    september = months[months.index("2026-09"):]
    september = september[: september.index("</tr>")]
    for expected in ("lead_sync_history_2026-09.jsonl.gz", "abababababab…", "Verified", "2026-11-28 12:00 UTC"):
        assert expected in september, expected
    # Scheduled by migration 0041 (just now, by the clock of this test run), never run: starting up, not red.
    assert 'class="dead-man dead-man-starting" role="status"' in page
    assert "Starting up: the first alert check has not completed yet" in page


def test_jobs_page_turns_red_when_alert_checks_stop(viewer_client, db):
    _alert_check_every(5)
    _alert_check_completed(20)

    with time_machine.travel(NOW, tick=False):
        page = viewer_client.get(reverse("monitoring:jobs")).content.decode()

    assert 'class="dead-man dead-man-red" role="alert"' in page
    assert "Alert checks have not completed for 3 intervals (every 5 min; last completed 2026-11-28 11:40 UTC)." in page


def test_jobs_page_redirects_anonymous_to_login(anonymous_client):
    response = anonymous_client.get(reverse("monitoring:jobs"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_jobs_page_refuses_non_staff(non_staff_client):
    assert non_staff_client.get(reverse("monitoring:jobs")).status_code == 403


def test_jobs_page_is_in_the_navigation(viewer_client):
    assert f'href="{reverse("monitoring:jobs")}"' in viewer_client.get(reverse("monitoring:overview")).content.decode()


def test_every_scheduled_maintenance_task_exists_in_celery(db):
    from leadsync_portal.celery import app

    app.loader.import_default_modules()
    scheduled = set(PeriodicTask.objects.filter(task__in=TASKS).values_list("task", flat=True))
    assert scheduled == set(TASKS) - {"monitoring.refresh_snapshots"}  # retired by issue 12
    rollups = set(PeriodicTask.objects.filter(task__contains="_rollups").values_list("task", flat=True))
    assert rollups == {"monitoring.compact_rollups", "monitoring.verify_rollups"}
    assert scheduled | rollups <= set(app.tasks)


def test_job_runs_are_read_only_in_the_admin(superuser_client, db):
    JobRun.objects.create(task_name="monitoring.archive_history", started_at=NOW, outcome=JobOutcome.FAILED,
                          error="OperationalError: server closed the connection")

    changelist = superuser_client.get(reverse("admin:monitoring_jobrun_changelist"))

    assert changelist.status_code == 200
    assert "OperationalError: server closed the connection" in changelist.content.decode()
    assert superuser_client.get(reverse("admin:monitoring_jobrun_add")).status_code == 403


def test_dead_man_reads_the_interval_of_a_crontab_schedule(db):
    from django_celery_beat.models import CrontabSchedule

    PeriodicTask.objects.filter(task=job_selectors.ALERT_CHECK_TASK).delete()
    every_ten = CrontabSchedule.objects.create(minute="*/10", hour="*", timezone="UTC")
    PeriodicTask.objects.create(name="Evaluate alerts", task=job_selectors.ALERT_CHECK_TASK, crontab=every_ten)
    _alert_check_completed(29)

    state = job_selectors.dead_man_state(now=NOW)

    assert (state.state, state.interval_seconds) == ("ok", 600)
    assert job_selectors.dead_man_state(now=NOW + timedelta(minutes=2)).is_red


def test_weekly_clean_up_prunes_job_records_older_than_their_retention(db):
    from monitoring.services.maintenance import prune_job_records

    for days in (91, 89):
        JobRun.objects.create(task_name="monitoring.refresh_snapshots", started_at=NOW - timedelta(days=days),
                              outcome=JobOutcome.SUCCEEDED)
        StaleLeadCheck.objects.create(checked_at=NOW - timedelta(days=days), stale_count=0)

    result = prune_job_records(older_than_days=90, now=NOW)

    assert (result.job_runs, result.stale_lead_checks) == (1, 1)
    assert JobRun.objects.get().started_at == NOW - timedelta(days=89)
    assert StaleLeadCheck.objects.get().checked_at == NOW - timedelta(days=89)


def test_history_sizes_switch_to_an_estimate_for_big_tables(db, monkeypatch):
    from django.db import connection

    insert_history(make_lead(), NOW, count=3)
    monkeypatch.setattr(job_selectors, "EXACT_COUNT_BELOW", 2)

    # No statistics yet: the bounded count stops at 2, shown as "at least, approximately".
    assert job_selectors._row_count("lead_sync_history") == (2, False)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE lead_sync_history")
    assert job_selectors._row_count("lead_sync_history") == (3, False)
    monkeypatch.setattr(job_selectors, "EXACT_COUNT_BELOW", 1)  # 3 >= 2 x 1: the estimate, no count
    assert job_selectors._row_count("lead_sync_history") == (3, False)
    monkeypatch.setattr(job_selectors, "EXACT_COUNT_BELOW", 200_000)
    assert job_selectors._row_count("lead_sync_history") == (3, True)
