"""django-filter FilterSets for the portal's list pages; free text goes through one `q` filter.

A bound FilterSet with an invalid value (unknown choice, malformed number or date) makes the list
base answer 400 with the form's error next to the field.
"""
from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet

from monitoring import selectors
from monitoring.choices import HistoryDirection, HistoryStatus, LeadSyncDirection, LeadSyncStatus, SyncType
from monitoring.models import CustomerSegment, Lead, LeadSyncDailySummary, LeadSyncHistory

MAX_QUERY_LENGTH = 200
# The lists' rows per page when ?per_page= is absent (monitoring.views.lists.PortalTablesView.per_page).
DEFAULT_PER_PAGE = 50


def rows_read_in_default_order(params: Any) -> int | None:
    """How many rows a list page reads in its default order (this page and the ones before it, plus
    the lazy paginator's look-ahead row), or None when it reads them otherwise (sorted by a column,
    exported, no request): plans tuned for the default order must then not be used."""
    if params is None or params.get("sort") or params.get("_export") is not None:
        return None
    page, per_page = params.get("page", "1"), params.get("per_page", str(DEFAULT_PER_PAGE))
    if not (page.isdigit() and per_page.isdigit()):
        return None  # the list answers 400 anyway
    return int(page) * int(per_page) + 1


class IntegerFilter(django_filters.NumberFilter):
    """A whole-number filter: "1.5" is an error, not a silent 1."""

    field_class = forms.IntegerField


class LeadFilterSet(django_filters.FilterSet):
    """Filters of the lead lists (all leads, leads in error)."""

    q = django_filters.CharFilter(
        method="search", label="Search", max_length=MAX_QUERY_LENGTH,
        help_text="Name, email, company or error message.",
    )
    sync_status = django_filters.ChoiceFilter(choices=LeadSyncStatus.choices, label="Status")
    sync_direction = django_filters.ChoiceFilter(choices=LeadSyncDirection.choices, label="Direction")
    lead_source = django_filters.CharFilter(lookup_expr="iexact", label="Source", max_length=50)
    segment = django_filters.ModelChoiceFilter(queryset=CustomerSegment.objects.all(), label="Segment")
    min_errors = IntegerFilter(field_name="sync_error_count", lookup_expr="gte", label="Errors ≥", min_value=0)
    max_errors = IntegerFilter(field_name="sync_error_count", lookup_expr="lte", label="Errors ≤", min_value=0)
    error_group = django_filters.CharFilter(
        method="in_error_group", label="Error group", max_length=300,
        help_text="Leads with a failed attempt of this fingerprint in the last 7 days.",
    )

    class Meta:
        model = Lead
        fields: list[str] = []

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.search_leads(queryset, value)

    def in_error_group(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        return selectors.leads_in_error_group(queryset, value, newest_first_rows=self._newest_first_rows())

    def _newest_first_rows(self) -> int | None:
        return rows_read_in_default_order(getattr(self.request, "GET", None))


class ErrorLeadFilterSet(LeadFilterSet):
    """The Errors page: every lead filter but status (always 'error') and error group."""

    sync_status = None  # type: ignore[assignment]
    error_group = None  # type: ignore[assignment]


class LeadHistoryFilterSet(django_filters.FilterSet):
    """Filters of one lead's timeline. Status, direction and type are attempts' own: setting one
    leaves the repairs out (they have none); `entry` shows only attempts or only repairs."""

    ATTEMPT_ONLY = ("sync_status", "sync_direction", "sync_type")

    entry = django_filters.ChoiceFilter(
        choices=[("attempt", "Sync attempts"), ("repair", "Repairs")], label="Show", method="by_entry"
    )
    sync_status = django_filters.ChoiceFilter(choices=HistoryStatus.choices, label="Status")
    sync_direction = django_filters.ChoiceFilter(choices=HistoryDirection.choices, label="Direction")
    sync_type = django_filters.ChoiceFilter(choices=SyncType.choices, label="Type")

    class Meta:
        model = LeadSyncHistory
        fields: list[str] = []

    def by_entry(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.none() if value == "repair" else queryset

    def shows_repairs(self) -> bool:
        data = self.form.cleaned_data if self.is_bound and self.is_valid() else {}
        return data.get("entry") != "attempt" and not any(data.get(name) for name in self.ATTEMPT_ONLY)


class DateRangeForm(forms.Form):
    """A filter form whose date_to may not come before date_from."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "Must be on or after the start date.")
        return cleaned


class DailySummaryFilterSet(django_filters.FilterSet):
    """Filters of the daily summary; its days are UTC days, so the date bounds are UTC midnights."""

    date_from = django_filters.DateFilter(method="on_or_after", label="From (UTC day)")
    date_to = django_filters.DateFilter(method="on_or_before", label="To (UTC day)")
    sync_direction = django_filters.ChoiceFilter(choices=HistoryDirection.choices, label="Direction")
    sync_status = django_filters.ChoiceFilter(choices=HistoryStatus.choices, label="Status")

    class Meta:
        model = LeadSyncDailySummary
        fields: list[str] = []
        form = DateRangeForm

    @staticmethod
    def _utc_midnight(day: Any) -> datetime:
        return datetime.combine(day, time.min, tzinfo=UTC)

    def on_or_after(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        return queryset.filter(sync_date__gte=self._utc_midnight(value))

    def on_or_before(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        return queryset.filter(sync_date__lte=self._utc_midnight(value))

