"""Our own scheduled jobs: last and next runs, history sizes, archived months, the dead-man check.

Every query here is bounded by an index (job_run_task_started, idx_sync_history_monitoring,
idx_sync_history_archive_synced) or by pg_class statistics, so the Jobs page stays fast at 10M
history rows.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from monitoring.models import ArchiveExport, JobOutcome, JobRun, StaleLeadCheck

from ._sql import fetch_all, fetch_one
from .alerts import first_run, last_completed_run  # the same read /readyz uses

# The alert check (issue "Alerts") records its runs under this task name through record_job.
ALERT_CHECK_TASK = "monitoring.evaluate_alerts"
# The alert check counts as dead when it has not completed for this many of its intervals.
DEAD_MAN_INTERVALS = 3
# Below this many rows (by the planner's estimate) a table is counted exactly; above, estimated.
EXACT_COUNT_BELOW = 200_000

Row = dict[str, Any]


def _schedule_label(task: PeriodicTask) -> str:
    if task.interval_id:
        return str(task.interval)
    if task.crontab_id:
        return _crontab_label(task.crontab)
    return str(task.schedule)


_CRONTAB_LABELS: dict[str, str] = {}


def _crontab_label(crontab: Any) -> str:
    """crontab.human_readable, once per process for each schedule: cron_descriptor reads its
    translation catalogue afresh on every call (a tenth of the Jobs page). The key is the crontab's
    str(), which holds every field the label is made of (the five fields and the zone)."""
    key = str(crontab)
    label = _CRONTAB_LABELS.get(key)
    if label is None:
        label = _CRONTAB_LABELS[key] = crontab.human_readable
    return label


def _next_fire_after(task: PeriodicTask, moment: datetime) -> datetime:
    """When the schedule fires next after a run at `moment` (independent of the wall clock)."""
    if task.interval_id:
        return moment + task.schedule.run_every
    # remaining_delta gives (start, delta, now) with the next fire at start + delta; the
    # remaining_estimate shortcut subtracts Celery's own clock, which is not our `now`.
    start, delta, _ = task.schedule.remaining_delta(moment)
    return start + delta


def _period_seconds(task: PeriodicTask, now: datetime) -> float:
    """Seconds between two runs of a schedule (for crontabs: between its next two fire times)."""
    first = _next_fire_after(task, now)
    return (_next_fire_after(task, first) - first).total_seconds()


def _next_run(task: PeriodicTask, now: datetime) -> datetime:
    """The next run as beat sees it: the first fire time after the last run, or now if that is past."""
    return max(now, _next_fire_after(task, task.last_run_at or now))


_LATEST_RUNS_SQL = """
WITH RECURSIVE tasks(task_name) AS (
    SELECT MIN(task_name) FROM monitoring_job_run
    UNION ALL
    SELECT (SELECT MIN(task_name) FROM monitoring_job_run WHERE task_name > t.task_name)
    FROM tasks t WHERE t.task_name IS NOT NULL
)
SELECT run.* FROM tasks t CROSS JOIN LATERAL (
    SELECT * FROM monitoring_job_run r
    WHERE r.task_name = t.task_name {finished}
    ORDER BY r.started_at DESC
    LIMIT 1
) run
"""


def latest_job_runs(*, finished_only: bool = False) -> dict[str, JobRun]:
    """The newest JobRun per task (Jobs page, /metrics).

    A loose index scan over job_run_task_started: one probe per task, however many runs a
    year of per-minute tasks has left (DISTINCT ON would read them all).
    """
    finished = f"AND r.finished_at IS NOT NULL AND r.outcome <> '{JobOutcome.SKIPPED}'" if finished_only else ""
    return {run.task_name: run for run in JobRun.objects.raw(_LATEST_RUNS_SQL.format(finished=finished))}


@dataclass
class JobStatus:
    """One task on the Jobs page: its schedule(s), last run, next run."""

    task_name: str
    schedule: str
    enabled: bool
    last_started_at: datetime | None
    last_outcome: str | None
    last_rows: int | None
    last_error: str
    last_duration_seconds: float | None
    next_run_at: datetime | None


def job_overview(*, now: datetime | None = None) -> list[JobStatus]:
    """Every scheduled monitoring task and every task that has run: schedule, last and next run."""
    now = now or timezone.now()
    schedules: dict[str, list[PeriodicTask]] = {}
    for task in PeriodicTask.objects.filter(task__startswith="monitoring.").select_related("interval", "crontab"):
        schedules.setdefault(task.task, []).append(task)
    latest = latest_job_runs()
    latest_finished = latest_job_runs(finished_only=True)
    rows = []
    for name in sorted(set(schedules) | set(latest)):
        tasks = schedules.get(name, [])
        enabled = [task for task in tasks if task.enabled]
        run = latest.get(name)
        finished = latest_finished.get(name)
        rows.append(
            JobStatus(
                task_name=name,
                schedule="; ".join(_schedule_label(task) + ("" if task.enabled else " (disabled)") for task in tasks)
                or "not scheduled",
                enabled=bool(enabled),
                last_started_at=run.started_at if run else None,
                last_outcome=run.outcome if run else None,
                last_rows=run.rows_touched if run else None,
                last_error=run.error if run else "",
                last_duration_seconds=finished.duration_seconds if finished else None,
                next_run_at=min((_next_run(task, now) for task in enabled), default=None),
            )
        )
    return rows


def _row_count(table: str) -> tuple[int, bool]:
    """(rows, exact): the planner's estimate for a table known to be big, otherwise a bounded count.

    The count stops at EXACT_COUNT_BELOW rows, so stale or missing statistics (a never-analysed
    archive reports -1) never turn a page view into a 10M-row scan.
    """
    estimate = fetch_one("SELECT reltuples::bigint AS n FROM pg_class WHERE oid = %s::regclass", [table])["n"]  # type: ignore[index]
    if estimate >= 2 * EXACT_COUNT_BELOW:
        return estimate, False
    counted = fetch_one(
        f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM {table} LIMIT {EXACT_COUNT_BELOW}) AS bounded"
    )["n"]  # type: ignore[index]
    if counted < EXACT_COUNT_BELOW:
        return counted, True
    return max(estimate, EXACT_COUNT_BELOW), False


@dataclass
class HistorySizes:
    hot_rows: int
    hot_rows_exact: bool
    hot_oldest: datetime | None
    archive_rows: int
    archive_rows_exact: bool
    archive_oldest: datetime | None


def history_sizes() -> HistorySizes:
    """Rows and oldest row of lead_sync_history and lead_sync_history_archive."""
    hot_rows, hot_exact = _row_count("lead_sync_history")
    archive_rows, archive_exact = _row_count("lead_sync_history_archive")
    oldest = fetch_one(
        """
        SELECT (SELECT MIN(synced_at) FROM lead_sync_history) AS hot,
               (SELECT MIN(synced_at) FROM lead_sync_history_archive) AS archive
        """
    )
    return HistorySizes(hot_rows, hot_exact, oldest["hot"], archive_rows, archive_exact, oldest["archive"])  # type: ignore[index]


def archive_months() -> list[date]:
    """UTC calendar months that have rows in the archive table, oldest first.

    A loose index scan: one index probe per month instead of reading millions of rows.
    """
    rows = fetch_all(
        """
        WITH RECURSIVE months(month) AS (
            SELECT DATE_TRUNC('month', MIN(synced_at) AT TIME ZONE 'UTC') FROM lead_sync_history_archive
            UNION ALL
            SELECT (SELECT DATE_TRUNC('month', MIN(a.synced_at) AT TIME ZONE 'UTC')
                    FROM lead_sync_history_archive a
                    WHERE a.synced_at >= (m.month + INTERVAL '1 month') AT TIME ZONE 'UTC')
            FROM months m
            WHERE m.month IS NOT NULL
        )
        SELECT month::date AS month FROM months WHERE month IS NOT NULL ORDER BY month
        """
    )
    return [row["month"] for row in rows]


@dataclass
class ArchivedMonth:
    month: date
    in_archive_table: bool
    export: ArchiveExport | None


def archived_months() -> list[ArchivedMonth]:
    """Each month in the archive table or in the export manifest, newest first, with its file."""
    present = set(archive_months())
    exports = {export.month: export for export in ArchiveExport.objects.all()}
    return [
        ArchivedMonth(month, month in present, exports.get(month))
        for month in sorted(present | set(exports), reverse=True)
    ]


@dataclass(frozen=True)
class AlertCheckLiveness:
    """Is the alert check overdue, counted from when, on which interval: the one answer the Jobs page
    (dead_man_state) and the dead-man alert rule (monitoring.alerts.rules.deadman) both read."""

    scheduled: bool  # ALERT_CHECK_TASK has a beat schedule at all (the alerts feature is installed)
    enabled: bool  # ... and at least one of them is enabled
    interval: timedelta | None  # the shortest enabled schedule's period (interval or crontab), else the fallback
    last_completed_at: datetime | None  # the newest successful run's finish
    since: datetime | None  # what the overdue time counts from: last_completed_at, else the grace start
    allowed: timedelta | None  # intervals x interval
    overdue: bool


def alert_check_liveness(
    *,
    now: datetime,
    intervals: int = DEAD_MAN_INTERVALS,
    fallback_interval: timedelta | None = None,
    grace_since: datetime | Callable[[], datetime | None] | None = None,
) -> AlertCheckLiveness:
    """Whether ALERT_CHECK_TASK has not completed for `intervals` of its beat intervals at `now`.

    The two callers differ on purpose in two knobs only:
    - fallback_interval: the alert rule judges on its own window when the check has no enabled
      schedule (the page instead says "disabled" in red);
    - grace_since: when the check never completed, the alert counts from `grace_since` (when its
      watchdog first ran) so a fresh install does not page before the first check could run; the
      page has no grace and shows "never completed" in red at once, because a person looking at
      it should see that nothing has ever checked the sync.
    """
    tasks = list(PeriodicTask.objects.filter(task=ALERT_CHECK_TASK).select_related("interval", "crontab"))
    enabled = [task for task in tasks if task.enabled]
    interval = (
        timedelta(seconds=min(_period_seconds(task, now) for task in enabled)) if enabled else fallback_interval
    )
    last = last_completed_run(ALERT_CHECK_TASK)
    since = last or (grace_since() if callable(grace_since) else grace_since)
    allowed = interval * intervals if interval is not None else None
    # No interval (nothing will ever run it) or nothing to count from: overdue.
    overdue = allowed is None or since is None or now - since > allowed
    return AlertCheckLiveness(bool(tasks), bool(enabled), interval, last, since, allowed, overdue)


@dataclass
class DeadManState:
    """Whether the alert check is alive: red when it has not completed for DEAD_MAN_INTERVALS intervals."""

    state: str  # "ok", "starting" (first check not completed yet, within the grace), "red" or "not_scheduled"
    message: str
    interval_seconds: float | None = None
    last_completed_at: datetime | None = None

    @property
    def is_red(self) -> bool:
        return self.state == "red"


def alert_check_started_at() -> datetime | None:
    """When the alert check was first due: its first recorded start, else when its schedule was
    last saved (a fresh install before beat sent anything). None: no schedule and no run."""
    first = first_run(ALERT_CHECK_TASK)
    if first is not None:
        return first
    return PeriodicTask.objects.filter(task=ALERT_CHECK_TASK).order_by("date_changed").values_list(
        "date_changed", flat=True
    ).first()


def dead_man_state(*, now: datetime | None = None) -> DeadManState:
    """The Jobs page's dead-man banner, from alert_check_liveness().

    A check that has never completed is "starting" (calm, not red) while it is still within
    DEAD_MAN_INTERVALS intervals of when it was first due (alert_check_started_at()); after that
    it is red: something keeps the check from ever running. `./portal up` runs the first check
    synchronously (manage.py run_alert_check_once), so a fresh demo is "running" at once.
    """
    now = now or timezone.now()
    # Lazily: only a check that never completed needs to know since when it was due (2 queries).
    live = alert_check_liveness(now=now, grace_since=alert_check_started_at)
    last = live.last_completed_at
    if not live.scheduled:
        return DeadManState("not_scheduled", "Alert checks are not scheduled.")
    if live.interval is None:
        return DeadManState("red", "Alert checks are disabled: nobody will be alerted.", None, last)
    interval = live.interval.total_seconds()
    if last is None and not live.overdue:
        return DeadManState(
            "starting",
            f"Starting up: the first alert check has not completed yet (checks run every {interval / 60:g} min).",
            interval,
            None,
        )
    if last is None:
        return DeadManState("red", "Alert checks have never completed.", interval, None)
    if live.overdue:
        return DeadManState(
            "red",
            f"Alert checks have not completed for {DEAD_MAN_INTERVALS} intervals "
            f"(every {interval / 60:g} min; last completed {timezone.localtime(last):%Y-%m-%d %H:%M %Z}).",
            interval,
            last,
        )
    return DeadManState("ok", "Alert checks are running.", interval, last)


def latest_stale_lead_check() -> StaleLeadCheck | None:
    return StaleLeadCheck.objects.order_by("-checked_at").first()
