"""Models of the monitoring app, one module per area; import from here."""
from .sync import CustomerSegment, Lead, LeadSyncHistory
from .views import (
    LeadAnalytics,
    LeadSyncDailySummary,
    LeadSyncHealthDashboard,
    RealTimeSyncActivity,
    SyncMonitoring,
)

__all__ = [
    "CustomerSegment",
    "Lead",
    "LeadSyncHistory",
    "LeadAnalytics",
    "LeadSyncDailySummary",
    "LeadSyncHealthDashboard",
    "RealTimeSyncActivity",
    "SyncMonitoring",
]
