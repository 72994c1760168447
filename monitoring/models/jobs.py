"""Runs of our own scheduled tasks, so the portal can watch its own jobs."""
from __future__ import annotations

from django.db import models

from monitoring.choices import JobOutcome


class JobRun(models.Model):
    """One run of one scheduled task: when, how it ended, how many rows it touched."""

    task_name = models.CharField(max_length=100, db_index=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=JobOutcome.choices, default=JobOutcome.RUNNING)
    rows_touched = models.BigIntegerField(default=0)
    detail = models.JSONField(default=dict, blank=True, help_text="What each step did or why it skipped.")
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "monitoring_job_run"
        ordering = ["-started_at"]
        indexes = [
            # selectors.jobs.latest_job_runs(): the newest run per task (Jobs page, /metrics); last_completed_run().
            models.Index(fields=["task_name", "-started_at"], name="job_run_task_started"),
        ]

    def __str__(self) -> str:
        return f"{self.task_name} {self.outcome} @ {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
