"""The daily summary page: the live daily summary from the rollups (view lead_sync_daily_rollup)."""
from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

from django.http import QueryDict
from django.utils import timezone

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
    # Without a From day the page shows the last 30 UTC days: what it reads then follows the write
    # rate, not the length of the history (every day ever was 3.6k view rows at 600 days). An
    # empty From (the field cleared) shows every day.
    default_days = 30

    def filter_data(self) -> QueryDict | None:
        if "date_from" in self.request.GET:
            self.default_window: tuple[int, date] | None = None
            return super().filter_data()
        first_day = timezone.now().astimezone(UTC).date() - timedelta(days=self.default_days - 1)
        self.default_window = (self.default_days, first_day)  # what the page says it shows
        data = self.request.GET.copy()
        data["date_from"] = first_day.isoformat()
        return data

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            refreshed_at=selectors.daily_summary_refreshed_at(), default_window=self.default_window, **kwargs
        )
