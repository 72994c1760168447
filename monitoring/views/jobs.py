"""The Jobs page: the portal watching its own scheduled tasks and the history they keep."""
from __future__ import annotations

from typing import Any

import django_tables2 as tables

from monitoring.selectors import jobs
from monitoring.tables.jobs import ArchivedMonthTable, JobStatusTable

from .lists import PortalTablesView


class JobsView(PortalTablesView):
    """Two tables on the shared base (sortable, exportable: `?_export=csv&_table=months`)."""

    template_name = "monitoring/jobs.html"
    export_name = "jobs"
    per_page = 100  # a few dozen tasks and months at most

    def get_tables(self) -> dict[str, tables.Table]:
        return {
            "jobs": JobStatusTable(jobs.job_overview()),
            "months": ArchivedMonthTable(jobs.archived_months()),
        }

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            dead_man=jobs.dead_man_state(),
            job_table=self.tables["jobs"],
            month_table=self.tables["months"],
            sizes=jobs.history_sizes(),
            stale_check=jobs.latest_stale_lead_check(),
            dead_man_intervals=jobs.DEAD_MAN_INTERVALS,
            **kwargs,
        )
