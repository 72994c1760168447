"""Every status, direction and type the sync writes: the only place these strings are spelled."""
from __future__ import annotations

from django.db import models


class LeadSyncStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SYNCING = "syncing", "Syncing"
    SYNCED = "synced", "Synced"
    ERROR = "error", "Error"
    CONFLICT = "conflict", "Conflict"


class LeadSyncDirection(models.TextChoices):
    TWENTY_TO_SUPABASE = "twenty_to_supabase", "Twenty → Supabase"
    SUPABASE_TO_TWENTY = "supabase_to_twenty", "Supabase → Twenty"
    BIDIRECTIONAL = "bidirectional", "Bidirectional"


class HistoryDirection(models.TextChoices):
    TWENTY_TO_SUPABASE = "twenty_to_supabase", "Twenty → Supabase"
    SUPABASE_TO_TWENTY = "supabase_to_twenty", "Supabase → Twenty"


class HistoryStatus(models.TextChoices):
    SYNCED = "synced", "Synced"
    ERROR = "error", "Error"
    CONFLICT = "conflict", "Conflict"


class SyncType(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    WEBHOOK_UPDATE = "webhook_update", "Webhook update"
    MANUAL = "manual", "Manual"
    RETRY = "retry", "Retry"
    INITIAL_IMPORT = "initial_import", "Initial import"


class OverallHealth(models.TextChoices):
    HEALTHY = "healthy", "Healthy"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"
    UNKNOWN = "unknown", "Unknown"


# The order of sync_monitoring rows is part of the n8n contract: metrics[2] is "error".
SYNC_MONITORING_ORDER: tuple[str, ...] = (
    LeadSyncStatus.SYNCED,
    LeadSyncStatus.PENDING,
    LeadSyncStatus.ERROR,
    LeadSyncStatus.SYNCING,
    LeadSyncStatus.CONFLICT,
)
