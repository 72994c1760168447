"""Lead pages: all leads, leads in error (spec §4) and one lead with its timeline."""
from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django_tables2.paginators import LazyPaginator

from monitoring import selectors
from monitoring.choices import LeadSyncStatus
from monitoring.filters import ErrorLeadFilterSet, LeadFilterSet, LeadHistoryFilterSet, rows_read_in_default_order
from monitoring.models import Lead
from monitoring.selectors.leads import lead_timeline
from monitoring.tables.portal import ErrorLeadTable, LeadTable, LeadTimelineTable

from .lists import ObjectListView


class LeadListView(ObjectListView):
    """Every lead, newest first; the error groups page links here with ?error_group=<fingerprint>."""

    queryset = Lead.objects.select_related("segment").order_by("-created_at", "id")
    filterset_class = LeadFilterSet
    table_class = LeadTable
    # Counting a million leads on every page view costs more than the page; next/previous suffice.
    paginator_class = LazyPaginator
    export_name = "leads"
    title = "Leads"


class ErrorListView(ObjectListView):
    """Spec §4: leads in 'error', most errors first, then most recently synced, with the last error."""

    queryset = (
        Lead.objects.select_related("segment")
        .filter(sync_status=LeadSyncStatus.ERROR)
        .order_by("-sync_error_count", F("last_synced_at").desc(nulls_last=True), "id")
    )
    filterset_class = ErrorLeadFilterSet
    table_class = ErrorLeadTable
    template_name = "monitoring/errors.html"
    export_name = "leads-in-error"
    title = "Errors"
    # Counting the leads in error reads one heap page per lead (120 ms at 30 000); the page shows
    # the rollup's count instead (live: the lead rollup plus its unfolded deltas).
    paginator_class = LazyPaginator
    # The spec's error list is the top 20; a page of 25 holds it (the chooser offers up to 250),
    # and halves the page's rendering against 50 rows.
    per_page = 25

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(error_leads=selectors.leads_in_status(LeadSyncStatus.ERROR), **kwargs)

    def get_tables(self) -> dict[str, Any]:
        tables = super().get_tables()
        rows_needed = rows_read_in_default_order(self.request.GET)
        filterset = self.filterset
        text = filterset.form.cleaned_data.get("q") if filterset is not None and filterset.is_valid() else None
        if text and rows_needed is not None:
            # A search in the default order: read the ranking index and stop at the page (see
            # first_matches_in_order); the same filters without q, narrowed to the rows found.
            others = self.request.GET.copy()
            others.pop("q")
            unsearched = self.filterset_class(others, queryset=self.get_queryset(), request=self.request).qs
            pks = selectors.first_matches_in_order(unsearched, text, rows_needed)
            if pks is not None:
                tables["rows"] = self.table_class(unsearched.filter(pk__in=pks))
        return tables

    def prepare_rows(self, name: str, table: ErrorLeadTable, records: list[Lead]) -> None:
        # Only the leads shown (or exported) get their newest failed attempt looked up.
        table.last_errors = selectors.last_error_details([lead.pk for lead in records])


class LeadDetailView(ObjectListView):
    """One lead: every field, and its timeline newest first: sync attempts and operator repairs
    interleaved by time (filterable, exportable)."""

    filterset_class = LeadHistoryFilterSet
    table_class = LeadTimelineTable
    template_name = "monitoring/lead_detail.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.lead = get_object_or_404(Lead.objects.select_related("segment"), pk=kwargs["pk"])
        self.export_name = f"lead-{self.lead.pk}-timeline"
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet:
        return self.lead.history.order_by("-synced_at", "-id")

    def get_tables(self) -> dict[str, Any]:
        # The filters narrow the attempts (a union cannot be filtered afterwards); the repairs
        # join them unless a filter only attempts have is set.
        tables = super().get_tables()
        attempts = tables["rows"].data.data
        filterset = self.filterset
        with_repairs = filterset is None or (not self.input_errors and filterset.shows_repairs())
        repairs = self.lead.repairs.all() if with_repairs else self.lead.repairs.none()
        return {"rows": self.table_class(lead_timeline(lead_id=self.lead.pk, attempts=attempts, repairs=repairs))}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        fields = [
            (
                field.verbose_name,
                getattr(self.lead, f"get_{field.name}_display")() if field.choices else getattr(self.lead, field.name),
            )
            for field in Lead._meta.get_fields()
            if field.concrete
        ]
        return super().get_context_data(lead=self.lead, lead_fields=fields, title=str(self.lead), **kwargs)
