"""Tables of the Jobs page: our scheduled tasks and the archived months."""
from __future__ import annotations

from typing import Any

import django_tables2 as tables

from monitoring.tables.portal import DateColumn, DateTimeColumn


class JobStatusTable(tables.Table):
    """One row per scheduled task (rows are selectors.jobs.JobStatus)."""

    task_name = tables.Column("Task")
    schedule = tables.Column()
    last_started_at = DateTimeColumn(verbose_name="Last run", format="Y-m-d H:i:s T")
    last_outcome = tables.Column("Outcome")
    last_duration_seconds = tables.Column("Last duration (s)")
    last_rows = tables.Column("Rows")
    next_run_at = DateTimeColumn(verbose_name="Next run", format="Y-m-d H:i:s T")
    last_error = tables.Column("Error")

    class Meta:
        orderable = False
        empty_text = "No scheduled task has been set up or run yet."
        attrs = {"class": "table jobs"}
        row_attrs = {"data-outcome": lambda record: record.last_outcome or "never"}

    def render_last_duration_seconds(self, value: float) -> str:
        return f"{value:.2f}"


class ArchivedMonthTable(tables.Table):
    """One row per month in the archive table or the export manifest (rows are selectors.jobs.ArchivedMonth)."""

    month = DateColumn(format="Y-m")
    in_archive_table = tables.BooleanColumn(verbose_name="Rows in archive table")
    file_name = tables.Column("File", accessor="export__file_name")
    row_count = tables.Column("Rows in file", accessor="export__row_count")
    sha256 = tables.Column("SHA-256", accessor="export__sha256")
    status = tables.Column("File check", accessor="export__status")
    verified_at = DateTimeColumn(verbose_name="Verified", accessor="export__verified_at", format="Y-m-d H:i T")
    rows_deleted = tables.Column("Rows deleted from table", accessor="export__rows_deleted")

    class Meta:
        orderable = False
        empty_text = "Nothing has been archived yet."
        attrs = {"class": "table archive-months"}

    def render_sha256(self, value: str) -> str:
        return f"{value[:12]}…"

    def render_status(self, value: str, record: Any) -> str:
        return record.export.get_status_display()
