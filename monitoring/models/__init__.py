"""Models of the monitoring app, one module per area; import from here."""
from .alerts import (
    AlertRule,
    Channel,
    ChannelKind,
    Delivery,
    DeliveryStatus,
    Incident,
    IncidentState,
    MessageKind,
    RuleKind,
    Severity,
)
from .jobs import JobOutcome, JobRun
from .maintenance import ArchiveExport, ArchiveExportStatus, LeadSyncHistoryArchive, StaleLeadCheck
from .sync import CustomerSegment, Lead, LeadRepair, LeadSyncHistory
from .views import (
    LeadAnalytics,
    LeadSyncDailySummary,
    LeadSyncHealthDashboard,
    RealTimeSyncActivity,
    SyncMonitoring,
)

__all__ = [
    "AlertRule",
    "Channel",
    "ChannelKind",
    "Delivery",
    "DeliveryStatus",
    "Incident",
    "IncidentState",
    "MessageKind",
    "RuleKind",
    "Severity",
    "JobOutcome",
    "JobRun",
    "ArchiveExport",
    "ArchiveExportStatus",
    "LeadSyncHistoryArchive",
    "StaleLeadCheck",
    "CustomerSegment",
    "Lead",
    "LeadSyncHistory",
    "LeadRepair",
    "LeadAnalytics",
    "LeadSyncDailySummary",
    "LeadSyncHealthDashboard",
    "RealTimeSyncActivity",
    "SyncMonitoring",
]
from .api import ApiToken  # noqa: E402

__all__ += ["ApiToken"]
