"""Every read beyond a trivial filter. Import selectors from here."""
from .dashboard import (
    daily_summary,
    daily_summary_refreshed_at,
    failure_rate,
    health_summary,
    high_error_leads,
    hourly_performance,
    last_error_details,
    last_sync_times,
    lead_analytics,
    lead_flow,
    leads_in_status,
    real_time_activity,
    recent_errors,
    recent_history,
    segment_distribution,
    stale_leads,
    stuck_leads,
    sync_monitoring,
    sync_stalled,
    sync_status_overview,
    webhook_updates_per_minute,
)

__all__ = [
    "daily_summary",
    "daily_summary_refreshed_at",
    "failure_rate",
    "health_summary",
    "high_error_leads",
    "hourly_performance",
    "last_error_details",
    "last_sync_times",
    "lead_analytics",
    "lead_flow",
    "leads_in_status",
    "real_time_activity",
    "recent_errors",
    "recent_history",
    "segment_distribution",
    "stale_leads",
    "stuck_leads",
    "sync_monitoring",
    "sync_stalled",
    "sync_status_overview",
    "webhook_updates_per_minute",
]
from .errors import error_groups, fingerprint, leads_in_error_group  # noqa: E402

__all__ += ["error_groups", "fingerprint", "leads_in_error_group"]
from .search import first_matches_in_order, search_leads  # noqa: E402

__all__ += ["first_matches_in_order", "search_leads"]
from .portal import recent_failure_rate, stale_leads_summary, webhook_rate  # noqa: E402

__all__ += ["recent_failure_rate", "stale_leads_summary", "webhook_rate"]
from .dashboard import high_error_lead_count, stuck_lead_count  # noqa: E402

__all__ += ["high_error_lead_count", "stuck_lead_count"]
