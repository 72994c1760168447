"""The daily summary page: rows of the lead_sync_daily_summary materialized view."""
from __future__ import annotations

from typing import Any

from monitoring import selectors
from monitoring.filters import DailySummaryFilterSet
from monitoring.models import LeadSyncDailySummary
from monitoring.tables.portal import DailySummaryTable

from .lists import ObjectListView


class DailySummaryView(ObjectListView):
    """lead_sync_daily_summary by UTC day, with when it was last refreshed."""

    queryset = LeadSyncDailySummary.objects.order_by("-sync_date", "sync_direction", "sync_status")
    filterset_class = DailySummaryFilterSet
    table_class = DailySummaryTable
    template_name = "monitoring/daily_summary.html"
    export_name = "daily-summary"
    title = "Daily summary"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(refreshed_at=selectors.daily_summary_refreshed_at(), **kwargs)
