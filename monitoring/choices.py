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


class RepairAction(models.TextChoices):
    """The operator repairs (monitoring.services.leads); stored in lead_repairs.action and named in the admin log."""

    RETRY = "retry_sync", "Retry sync"
    RESET_STUCK = "reset_stuck", "Reset stuck"
    CLEAR_ERRORS = "clear_error_count", "Clear error count"
    RESOLVE_CONFLICT = "resolve_conflict", "Resolve conflict"


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


# Alerting


class Severity(models.TextChoices):
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class RuleKind(models.TextChoices):
    FAILURE_RATE = "failure_rate", "Failure rate of recent attempts"
    SYNC_STALLED = "sync_stalled", "No sync attempt for a while"
    DIRECTION_STALLED = "direction_stalled", "One direction quiet while the other runs"
    HIGH_ERROR_LEADS = "high_error_leads", "Leads with many sync errors"
    STALE_LEADS = "stale_leads", "Stale pending leads (check_stale_leads())"
    STUCK_LEADS = "stuck_leads", "Leads stuck in syncing"
    OVERALL_HEALTH = "overall_health", "Overall health not healthy"
    DEADMAN = "deadman", "Alert check itself not completing"


class IncidentState(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack"
    TELEGRAM = "telegram", "Telegram"


class MessageKind(models.TextChoices):
    FIRING = "firing", "Firing"
    REMINDER = "reminder", "Reminder"
    RECOVERY = "recovery", "Recovery"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Waiting to retry"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (channel disabled)"


# Scheduled jobs and maintenance


class JobOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class ArchiveExportStatus(models.TextChoices):
    WRITTEN = "written", "Written, not yet verified"
    VERIFIED = "verified", "Verified"
    CORRUPT = "corrupt", "File does not match manifest"
    MISSING = "missing", "File missing"
