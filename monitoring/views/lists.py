"""The shared base of every portal page that shows tables (NetBox ObjectListView style).

A list page is declarative: a queryset (or selector rows), a FilterSet, a Table and a template.
The base adds, for every table:
  - sorting (`?sort=col` / `?sort=-col`), validated against the table's orderable columns;
  - pagination (`?page=N`, `?per_page=N` from PER_PAGE_CHOICES), validated;
  - filtering through the FilterSet, its form shown above the table;
  - export of the filtered, sorted rows: `?_export=csv` or `?_export=xlsx` (django-tables2
    TableExport with tablib/openpyxl), at most `export_max_rows` rows, every cell made inert for
    spreadsheets by monitoring.exports (formula prefix, string cells, visible control characters);
  - bad input (unknown filter choice, malformed number/date, unknown sort key, page out of range)
    answers HTTP 400 with the page and the error next to the field, never a 500.

Pages with several tables (dashboards) subclass PortalTablesView and return them from
get_tables(); each table then takes its parameters with its name as prefix (`status-sort`),
and `?_export=csv&_table=<name>` picks the table to export.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import django_tables2 as tables
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils import timezone
from django.views.generic import TemplateView
from django_filters import FilterSet
from django_tables2.export import TableExport
from django_tables2.paginators import LazyPaginator

from monitoring.exports import SafeTableExport

from .base import PortalAccessMixin

EXPORT_PARAM = "_export"
EXPORT_TABLE_PARAM = "_table"
PER_PAGE_CHOICES = (25, 50, 100, 250)
MAX_PAGE = 1_000_000  # beyond this an OFFSET would only burn the database


class PortalTablesView(PortalAccessMixin, TemplateView):
    """A page made of named tables, each sortable, paginated and exportable."""

    per_page = 50
    paginator_class: type[Paginator] = Paginator
    export_formats: tuple[str, ...] = ("csv", "xlsx")
    export_max_rows = 50_000
    export_name = "export"
    # A @snapshotted selector behind the page's numbers: the page says how old its snapshot is.
    snapshot_of: Callable[..., Any] | None = None

    def get_tables(self) -> dict[str, tables.Table]:
        """name -> unconfigured table over its rows; the first is the page's main table (no prefix)."""
        raise NotImplementedError

    def prepare_rows(self, name: str, table: tables.Table, records: list[Any]) -> None:
        """Hook: called with the rows a table will show (one page, or the export) before rendering,
        e.g. to fetch per-row details for those rows only."""

    # --- request handling -------------------------------------------------------------------

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.input_errors: list[str] = []  # every problem with the request: any -> HTTP 400
        self.page_errors: list[str] = []  # those not tied to a table or a filter field
        self.tables = self.get_tables()
        for index, (name, table) in enumerate(self.tables.items()):
            table.prefix = "" if index == 0 else f"{name}-"
            table.portal_name = name
            table.portal_errors = []
            self._configure_sort(table)
        export_format = request.GET.get(EXPORT_PARAM)
        if export_format is not None and not self.input_errors:
            response = self.export(export_format)
            if response is not None:
                return response
        for table in self.tables.values():
            self._configure_pagination(table)
        context = self.get_context_data(**kwargs)
        return self.render_to_response(context, status=400 if self.input_errors else 200)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            tables=self.tables,
            table=next(iter(self.tables.values()), None),
            input_errors=self.input_errors,
            page_errors=self.page_errors,
            export_formats=self.export_formats,
            per_page_choices=PER_PAGE_CHOICES,
            snapshot=snapshot_age(self.snapshot_of.taken_at()) if self.snapshot_of else None,  # type: ignore[attr-defined]
        )
        return context

    def _error(self, message: str, table: tables.Table | None = None) -> None:
        self.input_errors.append(message)
        (table.portal_errors if table is not None else self.page_errors).append(message)

    def _configure_sort(self, table: tables.Table) -> None:
        keys = [k for raw in self.request.GET.getlist(table.prefixed_order_by_field) for k in raw.split(",") if k]
        orderable = [c.name for c in table.columns if c.orderable]
        for key in keys:
            if key.lstrip("-") not in orderable:
                columns = f"sortable columns: {', '.join(orderable)}" if orderable else "this table is not sortable"
                self._error(f"Unknown sort column “{key.lstrip('-')}”; {columns}.", table)
                return
        if keys:
            table.order_by = keys

    def _configure_pagination(self, table: tables.Table) -> None:
        per_page = self.per_page
        raw_per_page = self.request.GET.get(table.prefixed_per_page_field)
        if raw_per_page is not None:
            if raw_per_page.isdigit() and int(raw_per_page) in PER_PAGE_CHOICES:
                per_page = int(raw_per_page)
            else:
                choices = ", ".join(map(str, PER_PAGE_CHOICES))
                self._error(f"Rows per page must be one of {choices}, not “{raw_per_page}”.", table)
        raw_page = self.request.GET.get(table.prefixed_page_field, "1")
        page = 1
        if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
            self._error(f"Page must be a whole number from 1, not “{raw_page}”.", table)
        else:
            page = int(raw_page)
        try:
            table.paginate(paginator_class=self.paginator_class, per_page=per_page, page=page)
        except (EmptyPage, PageNotAnInteger):
            self._error(f"Page {page} is past the last page of results.", table)
            table.paginate(paginator_class=self.paginator_class, per_page=per_page, page=1)
        table.portal_total = None if isinstance(table.paginator, LazyPaginator) else table.paginator.count
        # Evaluate the page once, so the hook and the template share one query.
        table.page.object_list = list(table.page.object_list)
        self.prepare_rows(table.portal_name, table, [row.record for row in table.page.object_list])

    def export(self, export_format: str) -> HttpResponse | None:
        """The export response, or None after recording why the request cannot be exported."""
        if export_format not in self.export_formats or not TableExport.is_valid_format(export_format):
            self._error(f"Unknown export format “{export_format}”; use one of {', '.join(self.export_formats)}.")
            return None
        main = next(iter(self.tables))
        name = self.request.GET.get(EXPORT_TABLE_PARAM) or main
        if name not in self.tables:
            self._error(f"Unknown table “{name}”; this page has {', '.join(self.tables)}.")
            return None
        table = self.tables[name]
        # Rows in the table's current order, capped; a fresh table over them keeps that order.
        records = list(_head(table.data.data, self.export_max_rows))
        export_table = type(table)(records)
        self.prepare_rows(name, export_table, records)
        filename = f"{self.export_name}{'' if name == main else '-' + name}.{export_format}"
        # Every value goes through monitoring.exports.safe_cell(): formula prefix, XLSX-safe text.
        return SafeTableExport(export_format, export_table, dataset_kwargs={"title": name[:31]}).response(filename)


def snapshot_age(taken_at: datetime | None) -> dict[str, Any] | None:
    """What the page says about a snapshotted number: when it was computed and how old it is."""
    if taken_at is None:
        return None
    return {"taken_at": taken_at, "age_seconds": int((timezone.now() - taken_at).total_seconds())}


def _head(data: QuerySet | Iterable[Any], limit: int) -> Iterable[Any]:
    return data[:limit] if isinstance(data, QuerySet | list | tuple) else list(data)[:limit]


class ObjectListView(PortalTablesView):
    """One filtered table: declare queryset (or get_queryset), filterset_class, table_class."""

    template_name = "monitoring/object_list.html"
    queryset: QuerySet | None = None
    filterset_class: type[FilterSet] | None = None
    table_class: type[tables.Table]
    title = ""

    def get_queryset(self) -> QuerySet | list[Any]:
        assert self.queryset is not None, f"{type(self).__name__} needs queryset or get_queryset()"
        return self.queryset.all()

    def filter_data(self) -> QueryDict | None:
        """The filter form's data: the query string (None when it is empty: an unbound form)."""
        return self.request.GET or None

    def get_tables(self) -> dict[str, tables.Table]:
        rows = self.get_queryset()
        self.filterset = None
        if self.filterset_class is not None:
            self.filterset = self.filterset_class(self.filter_data(), queryset=rows, request=self.request)
            if self.filterset.is_bound and not self.filterset.is_valid():
                self.input_errors.append("Some filters are invalid; see the messages next to them.")
                rows = rows.none()
            else:
                rows = self.filterset.qs
        return {"rows": self.table_class(rows)}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("title", self.title)
        return super().get_context_data(filterset=self.filterset, **kwargs)
