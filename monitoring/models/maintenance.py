"""What the maintenance jobs keep: archived history, the archive files' manifest, stale-lead checks."""
from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

from monitoring.choices import ArchiveExportStatus, HistoryDirection, HistoryStatus, SyncType


class LeadSyncHistoryArchive(models.Model):
    """A sync attempt moved out of lead_sync_history by the weekly clean-up (same columns + archived_at).

    The table is created by SQL in migration 0061 (frozen columns, its own index); the clean-up
    writes it with one INSERT ... SELECT per batch, never through this model. There is no foreign
    key to leads: an archived attempt outlives its lead (it is audit data).
    """

    id = models.BigIntegerField(primary_key=True, help_text="The id the row had in lead_sync_history.")
    lead_id = models.UUIDField(help_text="The lead's id; the lead itself may since have been deleted.")
    sync_type = models.CharField(max_length=30, choices=SyncType.choices)
    sync_direction = models.CharField("direction", max_length=30, choices=HistoryDirection.choices)
    sync_status = models.CharField("status", max_length=20, choices=HistoryStatus.choices)
    fields_changed = models.JSONField(null=True, blank=True)
    error_message = models.TextField(blank=True, null=True)
    created_at = models.DateTimeField("started")
    synced_at = models.DateTimeField("finished")
    archived_at = models.DateTimeField(db_default=Now(), help_text="When the clean-up moved the row here.")

    class Meta:
        db_table = "lead_sync_history_archive"
        ordering = ["id"]
        verbose_name = "archived sync attempt"
        verbose_name_plural = "archived sync history"

    def __str__(self) -> str:
        return f"archived #{self.id} {self.sync_status} @ {self.synced_at:%Y-%m-%d %H:%M}"


class ArchiveExport(models.Model):
    """The manifest of one calendar month (UTC) of archived history written to a gzip JSON-lines file."""

    month = models.DateField(unique=True, help_text="First day of the UTC calendar month.")
    file_name = models.CharField(max_length=200, help_text="File name inside ARCHIVE_DIR.")
    row_count = models.BigIntegerField(help_text="Rows written to the file.")
    id_sum = models.DecimalField(
        max_digits=30, decimal_places=0,
        help_text="Sum of the rows' ids: with the count, proves the rows deleted are the rows written.",
    )
    sha256 = models.CharField("SHA-256", max_length=64, help_text="Checksum of the compressed file.")
    size_bytes = models.BigIntegerField()
    exported_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True, help_text="Last time the file was read back and matched.")
    status = models.CharField(max_length=10, choices=ArchiveExportStatus.choices, default=ArchiveExportStatus.WRITTEN)
    rows_deleted = models.BigIntegerField(default=0, help_text="Archive rows deleted after the file was verified.")
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "monitoring_archive_export"
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.row_count} rows in {self.file_name}"


class StaleLeadCheck(models.Model):
    """One run of check_stale_leads(): pending leads older than an hour, and the oldest of them."""

    checked_at = models.DateTimeField(db_index=True)
    stale_count = models.IntegerField()
    oldest_pending = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "monitoring_stale_lead_check"
        ordering = ["-checked_at"]

    def __str__(self) -> str:
        return f"{self.stale_count} stale @ {self.checked_at:%Y-%m-%d %H:%M}"
