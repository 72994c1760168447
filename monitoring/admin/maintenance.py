"""Read-only admin for what the scheduled jobs record: runs, archive files, stale-lead checks."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from monitoring.admin.guards import GuardedChangeListMixin
from monitoring.models import ArchiveExport, JobRun, StaleLeadCheck


class ReadOnlyAdmin(GuardedChangeListMixin, admin.ModelAdmin):
    """Records written by jobs only: visible to staff with view permission, never edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ("task_name", "started_at", "finished_at", "duration", "outcome", "rows_touched", "error")
    list_filter = ("outcome", "task_name")
    search_fields = ("task_name", "error")
    date_hierarchy = "started_at"
    # A year of per-minute runs is 500k rows: skip the second COUNT(*) of the change list.
    show_full_result_count = False

    @admin.display(description="duration (s)")
    def duration(self, obj: JobRun) -> str:
        seconds = obj.duration_seconds
        return "—" if seconds is None else f"{seconds:.2f}"


@admin.register(ArchiveExport)
class ArchiveExportAdmin(ReadOnlyAdmin):
    list_display = ("month", "file_name", "row_count", "sha256", "status", "verified_at", "rows_deleted", "deleted_at")
    list_filter = ("status",)


@admin.register(StaleLeadCheck)
class StaleLeadCheckAdmin(ReadOnlyAdmin):
    list_display = ("checked_at", "stale_count", "oldest_pending")
    date_hierarchy = "checked_at"
    show_full_result_count = False
