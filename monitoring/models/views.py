"""Read-only models over the SQL views and the materialized view (created by migrations)."""
from __future__ import annotations

from django.db import models

from monitoring.choices import HistoryDirection, HistoryStatus, LeadSyncStatus, OverallHealth, SyncType


class LeadSyncHealthDashboard(models.Model):
    """The one-row health summary of the sync (view lead_sync_health_dashboard)."""

    id = models.IntegerField(primary_key=True)
    total_leads = models.BigIntegerField()
    synced_leads = models.BigIntegerField()
    pending_leads = models.BigIntegerField()
    error_leads = models.BigIntegerField()
    recently_synced = models.BigIntegerField(help_text="Leads synced in the last hour.")
    sync_success_rate = models.DecimalField(max_digits=6, decimal_places=2, null=True)
    median_sync_time_seconds = models.FloatField(null=True)
    leads_with_errors = models.BigIntegerField(help_text="Distinct leads with a failed attempt in 24 h.")
    total_errors = models.BigIntegerField(help_text="Failed attempts in 24 h.")
    last_error_time = models.DateTimeField(null=True)
    overall_health = models.CharField(max_length=10, choices=OverallHealth.choices)
    syncing_leads = models.BigIntegerField()
    conflict_leads = models.BigIntegerField()
    stuck_leads = models.BigIntegerField(help_text="In 'syncing' for more than 10 minutes.")
    stale_pending_leads = models.BigIntegerField(help_text="In 'pending' for more than an hour.")
    never_synced_leads = models.BigIntegerField()
    error_rate = models.DecimalField(max_digits=6, decimal_places=2, null=True, help_text="% of leads in 'error'.")

    class Meta:
        managed = False
        db_table = "lead_sync_health_dashboard"
        verbose_name = "sync health"
        verbose_name_plural = "sync health"


class RealTimeSyncActivity(models.Model):
    """The 100 newest sync attempts of the last hour (view real_time_sync_activity)."""

    id = models.BigIntegerField(primary_key=True)
    synced_at = models.DateTimeField()
    sync_type = models.CharField(max_length=30, choices=SyncType.choices)
    sync_direction = models.CharField(max_length=30, choices=HistoryDirection.choices)
    sync_status = models.CharField(max_length=20, choices=HistoryStatus.choices)
    fields_changed = models.JSONField(null=True)
    lead_name = models.TextField(null=True)
    email = models.CharField(max_length=None, null=True)
    company_name = models.CharField(max_length=None, null=True)
    segment_name = models.CharField(max_length=None, null=True)
    lead_id = models.UUIDField()

    class Meta:
        managed = False
        db_table = "real_time_sync_activity"
        ordering = ["-synced_at", "-id"]
        verbose_name = "real-time sync activity"
        verbose_name_plural = "real-time sync activity"


class SyncMonitoring(models.Model):
    """Leads per sync status in a fixed order: synced, pending, error, syncing, conflict (view sync_monitoring)."""

    sync_status = models.CharField(max_length=20, primary_key=True, choices=LeadSyncStatus.choices)
    position = models.IntegerField()
    count = models.BigIntegerField()
    percentage = models.DecimalField(max_digits=6, decimal_places=2, null=True)
    last_sync_time = models.DateTimeField(null=True)
    avg_errors = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        managed = False
        db_table = "sync_monitoring"
        ordering = ["position"]
        verbose_name = "sync monitoring row"


class LeadAnalytics(models.Model):
    """Leads created per UTC day, newest first (view lead_analytics)."""

    date = models.DateField(primary_key=True)
    total_leads = models.BigIntegerField()
    synced_to_twenty = models.BigIntegerField(help_text="Leads of that day that have a Twenty id.")
    synced_leads = models.BigIntegerField()
    error_leads = models.BigIntegerField()
    pending_leads = models.BigIntegerField()
    avg_score = models.DecimalField(max_digits=6, decimal_places=2, null=True)

    class Meta:
        managed = False
        db_table = "lead_analytics"
        ordering = ["-date"]
        verbose_name = "lead analytics day"
        verbose_name_plural = "lead analytics"


class LeadSyncDailySummary(models.Model):
    """Sync attempts per UTC day, direction and status (materialized view lead_sync_daily_summary).

    The view has no single-column key; sync_date stands in as Django's pk for read-only listing.
    """

    sync_date = models.DateTimeField(primary_key=True, help_text="Day bucket in UTC.")
    sync_direction = models.CharField(max_length=30, choices=HistoryDirection.choices, null=True)
    sync_status = models.CharField(max_length=20, choices=HistoryStatus.choices, null=True)
    sync_count = models.BigIntegerField()
    unique_leads = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "lead_sync_daily_summary"
        ordering = ["-sync_date", "sync_direction", "sync_status"]
        verbose_name = "daily sync summary"
        verbose_name_plural = "daily sync summary"
