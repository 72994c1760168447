"""Admin changelists that cannot be tied up or crashed by a query string.

A read-only viewer controls every byte of `?q=` and of the filter parameters. Unchecked, a search
of 900 one-letter words made PostgreSQL plan for over 30 s, a NUL byte or a 31-digit year reached
the database as a 500, and a month of 10**25 broke the estimating paginator (EmptyResultSet).
GuardedChangeListMixin checks the query string before the changelist runs:
  - at most ADMIN_SEARCH_MAX_TERMS words and ADMIN_SEARCH_MAX_LENGTH characters of search;
  - no NUL character in any parameter (PostgreSQL text cannot hold one);
  - date-hierarchy year/month/day are a real calendar date;
and answers a problem with HTTP 400: the changelist without the offending parameters and an error
message saying what was wrong. Anything the checks did not foresee that the database refuses
(DataError, an out-of-range number) is still a 400 with the reason, never a 500.
Unknown or malformed field lookups keep the admin's own answer (redirect to `?e=1`, "invalid filter").
"""
from __future__ import annotations

import calendar
import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import EmptyResultSet
from django.db import DataError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse


def search_max_terms() -> int:
    return int(getattr(settings, "ADMIN_SEARCH_MAX_TERMS", 5))


def search_max_length() -> int:
    return int(getattr(settings, "ADMIN_SEARCH_MAX_LENGTH", 100))


def as_uuid(term: str) -> uuid.UUID | None:
    """The UUID `term` spells (any case, surrounding spaces), or None."""
    try:
        return uuid.UUID(term.strip())
    except ValueError:
        return None


def query_problems(request: HttpRequest, date_field: str | None) -> dict[str, str]:
    """parameter -> what is wrong with it (empty: the query string is fine)."""
    problems: dict[str, str] = {}
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            problems[key] = f"“{key.replace(chr(0), '%00')}” contains a NUL character (%00), which no value can hold."
    search = request.GET.get(SEARCH_VAR, "")
    if SEARCH_VAR not in problems:
        words = search.split()
        if len(search) > search_max_length():
            problems[SEARCH_VAR] = (
                f"Search text can be at most {search_max_length()} characters long; this one has {len(search)}."
            )
        elif len(words) > search_max_terms():
            problems[SEARCH_VAR] = f"Search for at most {search_max_terms()} words at a time; this search has {len(words)}."
    if date_field:
        problems.update(_date_problems(request, date_field))
    return problems


def _date_problems(request: HttpRequest, field: str) -> dict[str, str]:
    parts = {part: request.GET.get(f"{field}__{part}") for part in ("year", "month", "day")}
    bounds = {"year": (1, 9999), "month": (1, 12), "day": (1, 31)}
    numbers: dict[str, int] = {}
    for part, raw in parts.items():
        if raw is None:
            continue
        low, high = bounds[part]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and low <= int(raw) <= high):
            return {f"{field}__{part}": f"The {part} must be a whole number from {low} to {high}, not “{raw[:40]}”."}
        numbers[part] = int(raw)
    if "day" in numbers and "year" in numbers and "month" in numbers:
        last = calendar.monthrange(numbers["year"], numbers["month"])[1]
        if numbers["day"] > last:
            return {f"{field}__day": f"The day must be from 1 to {last} in that month, not {numbers['day']}."}
    return {}


class GuardedChangeListMixin:
    """ModelAdmin mixin: bad query strings get a 400 with the reason (see the module docstring)."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        problems = query_problems(request, getattr(self, "date_hierarchy", None))
        if problems:
            request.GET = request.GET.copy()
            for key in problems:
                request.GET.pop(key, None)
            if any(key.startswith(f"{self.date_hierarchy}__") for key in problems):  # type: ignore[attr-defined]
                for part in ("year", "month", "day"):  # a day without its month means nothing
                    request.GET.pop(f"{self.date_hierarchy}__{part}", None)  # type: ignore[attr-defined]
            for problem in problems.values():
                self.message_user(request, f"Not applied: {problem}", messages.ERROR)  # type: ignore[attr-defined]
        try:
            # A savepoint: a query the database refuses must not poison the rest of the request.
            with transaction.atomic():
                response = super().changelist_view(request, extra_context)  # type: ignore[misc]
                if isinstance(response, TemplateResponse):
                    response.render()  # the date hierarchy queries run while rendering
        except (DataError, EmptyResultSet, OverflowError) as exc:
            return HttpResponseBadRequest(
                f"This list cannot be shown for these filters: {exc}".encode(), content_type="text/plain; charset=utf-8"
            )
        if problems:
            response.status_code = 400
        return response
