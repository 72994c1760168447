"""Models of the monitoring app, one module per area; import from here."""
from .jobs import JobOutcome, JobRun
from .maintenance import ArchiveExport, ArchiveExportStatus, LeadSyncHistoryArchive, StaleLeadCheck
from .sync import CustomerSegment, Lead, LeadSyncHistory
from .views import (
    LeadAnalytics,
    LeadSyncDailySummary,
    LeadSyncHealthDashboard,
    RealTimeSyncActivity,
    SyncMonitoring,
)

__all__ = [
    "JobOutcome",
    "JobRun",
    "ArchiveExport",
    "ArchiveExportStatus",
    "LeadSyncHistoryArchive",
    "StaleLeadCheck",
    "CustomerSegment",
    "Lead",
    "LeadSyncHistory",
    "LeadAnalytics",
    "LeadSyncDailySummary",
    "LeadSyncHealthDashboard",
    "RealTimeSyncActivity",
    "SyncMonitoring",
]
