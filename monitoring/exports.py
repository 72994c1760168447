"""Spreadsheet-safe cells: the one place every CSV and XLSX export passes its values through.

The sync writes text that comes from outside (a CRM user types a lead's name; an API writes the
error message). Opened in a spreadsheet, such text must stay text:
  - Formula injection (OWASP "CSV Injection"): a cell that starts with `=`, `+`, `-`, `@`, a tab
    or a carriage return is evaluated by Excel, LibreOffice and Google Sheets. We prefix it with a
    single quote, which every one of them shows as the literal text.
  - XLSX: openpyxl turns any string that starts with `=` into a formula cell, and refuses the
    control characters XML 1.0 cannot carry (IllegalCharacterError: the export was a 500). Every
    cell is written as a string, and each forbidden character becomes the visible text `\\xNN`,
    so the reader sees that something was there and what it was.
Numbers, dates and booleans from the database are not text from outside: they are written as
their string form without a prefix (a negative number is a number, not a formula).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django_tables2.export import TableExport
from tablib import Dataset

# OWASP's list of characters that make a spreadsheet evaluate a cell.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# What XML 1.0 (and so XLSX) cannot hold: the C0 controls except tab, LF and CR; openpyxl's own
# ILLEGAL_CHARACTERS_RE is the same set.
_XLSX_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def safe_cell(value: Any) -> str:
    """`value` as inert spreadsheet text (see the module docstring)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return _XLSX_FORBIDDEN.sub(_visible, str(value))
    text = _XLSX_FORBIDDEN.sub(_visible, value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _visible(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def safe_rows(rows: Iterable[Iterable[Any]]) -> list[list[str]]:
    return [[safe_cell(value) for value in row] for row in rows]


class SafeTableExport(TableExport):
    """django-tables2's TableExport with every header and value through safe_cell()."""

    def table_to_dataset(self, table: Any, exclude_columns: Any, dataset_kwargs: dict[str, Any] | None = None) -> Dataset:
        rows = safe_rows(table.as_values(exclude_columns=exclude_columns))
        dataset = Dataset(**{"title": "Export Data", **(dataset_kwargs or {})})
        if rows:
            dataset.headers = rows[0]
            for row in rows[1:]:
                dataset.append(row)
        return dataset
