"""The Jobs page: the portal watching its own scheduled tasks and the history they keep."""
from __future__ import annotations

from typing import Any

from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from monitoring.selectors import jobs
from monitoring.tables.jobs import ArchivedMonthTable, JobStatusTable

from .base import PortalAccessMixin


class JobsView(PortalAccessMixin, TemplateView):
    template_name = "monitoring/jobs.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        config = RequestConfig(self.request, paginate=False)
        job_table = config.configure(JobStatusTable(jobs.job_overview()))
        month_table = config.configure(ArchivedMonthTable(jobs.archived_months()))
        return super().get_context_data(
            dead_man=jobs.dead_man_state(),
            job_table=job_table,
            month_table=month_table,
            sizes=jobs.history_sizes(),
            stale_check=jobs.latest_stale_lead_check(),
            dead_man_intervals=jobs.DEAD_MAN_INTERVALS,
            **kwargs,
        )
