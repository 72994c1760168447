"""The daily summary page: the live daily summary from the rollups (view lead_sync_daily_rollup)."""
from __future__ import annotations

from typing import Any

from monitoring import selectors
from monitoring.filters import DailySummaryFilterSet
from monitoring.models import LeadSyncDailyRollup
from monitoring.tables.portal import DailySummaryTable

from .lists import ObjectListView


class DailySummaryView(ObjectListView):
    """The daily summary by UTC day (live), with when its materialized copy was last refreshed."""

    queryset = LeadSyncDailyRollup.objects.order_by("-sync_date", "sync_direction", "sync_status")
    filterset_class = DailySummaryFilterSet
    table_class = DailySummaryTable
    template_name = "monitoring/daily_summary.html"
    export_name = "daily-summary"
    title = "Daily summary"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(refreshed_at=selectors.daily_summary_refreshed_at(), **kwargs)
