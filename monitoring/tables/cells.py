"""The cells of a django-tables2 row, as BoundRow.get_cell() renders them, at a fraction of its cost.

django-tables2 works out the same things again for every cell: it builds an Accessor, resolves the
record twice (its penultimate part, then all of it), looks the field up in the model's _meta and
builds the render method's arguments. At 100 rows of 10 columns that was half of a page's time
(benchmarks/pages.py). A CellPlan works out per column, once per table render, what does not depend
on the row, and keeps every per-row step of BoundRow._get_and_render_with() and _call_render(), in
the same order, with the same results. tests/test_table_rows.py renders every page through both
and compares the HTML.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django_tables2 import utils as tables2_utils
from django_tables2.columns.base import Column
from django_tables2.columns.linkcolumn import BaseLinkColumn
from django_tables2.columns.manytomanycolumn import ManyToManyColumn
from django_tables2.utils import Accessor

# The optional arguments a render method may ask for (BoundRow._optional_cell_arguments()).
CELL_ARGUMENTS = ("value", "record", "column", "bound_column", "bound_row", "table")
_NOT_SET = object()


class CellPlan:
    """One column's cells: what BoundRow._get_and_render_with() derives from the column alone."""

    __slots__ = (
        "bound_column", "column", "accessor", "bits", "path", "path_accessor", "remainder",
        "render", "wanted", "takes_all", "link", "empty_values", "many_to_many",
        "link_text", "choices", "returns_value", "picks", "never_called",
    )

    def __init__(self, bound_column: Any) -> None:
        self.bound_column = bound_column
        self.column = bound_column.column
        self.accessor = Accessor(bound_column.accessor)
        self.bits = self.accessor.bits
        path, _, self.remainder = self.accessor.rpartition(self.accessor.SEPARATOR)
        self.path = path
        self.path_accessor = Accessor(path)
        self.render = bound_column.render
        args, keywords = tables2_utils.signature(self.render)
        self.takes_all = bool(keywords)
        self.wanted = args
        # Column.render itself returns the value: most columns; no call needed.
        self.returns_value = getattr(self.render, "__func__", None) is Column.render and tuple(args) == ("value",)
        # call_with_appropriate(): every wanted argument is one of the six, or no call at all.
        self.never_called = not self.takes_all and any(name not in CELL_ARGUMENTS for name in args)
        self.picks = tuple((name, CELL_ARGUMENTS.index(name)) for name in args if name in CELL_ARGUMENTS)
        self.link = bound_column.link
        self.empty_values = self.column.empty_values
        self.many_to_many = isinstance(self.column, ManyToManyColumn)
        self.link_text = isinstance(self.column, BaseLinkColumn) and self.column.text is not None
        # model class -> the accessor's field has choices (None: no such field)
        self.choices: dict[type, bool | None] = {}

    def _penultimate(self, record: Any) -> Any:
        """Accessor.penultimate(record)[0]: the record itself for a one-part accessor."""
        if not self.path and not (isinstance(record, dict) and "" in record):
            return record
        return self.path_accessor.resolve(record, quiet=True)

    def _field_has_choices(self, record: Any) -> bool | None:
        """bool(field.choices) of accessor.get_field(record); None when the lookup raised."""
        model = type(record)
        known = self.choices.get(model, _NOT_SET)
        if known is _NOT_SET:
            try:
                field = self.accessor.get_field(record)
                known = bool(getattr(field, "choices", ()))
            except FieldDoesNotExist:
                known = None
            self.choices[model] = known
        return known  # type: ignore[return-value]

    def cell(self, row: Any) -> Any:
        """row.get_cell(column name), step for step."""
        record = row.record
        value = None
        remainder: str | None = self.remainder
        penultimate = self._penultimate(record)
        if isinstance(penultimate, models.Model):
            has_choices = self._field_has_choices(record)
            if has_choices is not None:
                display_fn = getattr(penultimate, f"get_{remainder}_display", None)
                if has_choices and display_fn:
                    value = display_fn()
                    remainder = None
        if remainder:
            if isinstance(record, dict) and self.accessor in record:
                value = record[self.accessor]
            else:
                try:
                    value = self.accessor.resolve(record)
                except Exception:
                    if self.link_text:  # a link with fixed text: rendered without a value
                        return self._render(row, record, None)
        if value in self.empty_values or (self.many_to_many and not value.exists()):
            return self.bound_column.default  # a property: a callable default is called per cell
        return self._render(row, record, value)

    def _render(self, row: Any, record: Any, value: Any) -> Any:
        """BoundRow._call_render(bound_column, value)."""
        arguments = (value, record, self.column, self.bound_column, row, row._table)  # CELL_ARGUMENTS
        if self.returns_value:
            content = value
        elif self.takes_all:
            content = self.render(**dict(zip(CELL_ARGUMENTS, arguments)))
        elif self.never_called:
            content = None
        else:
            content = self.render(**{name: arguments[i] for name, i in self.picks})
        return self.link(content, **dict(zip(CELL_ARGUMENTS, arguments))) if self.link else content
