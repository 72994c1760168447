"""Free-text search over leads: the lists' `q` filter.

One expression over name, email, company and last error, matched with ILIKE so a trigram GIN
index (migration 0021, idx_leads_search_trgm) serves it at a million leads. The portal's `q`
filter and the lead admin's search both go through lead_text_contains(). The expression is
frozen in that migration and must stay identical to LEAD_SEARCH_TEXT (a test checks).
"""
from __future__ import annotations

from typing import Any

from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

LEAD_SEARCH_TEXT = (
    "(COALESCE(first_name, '') || ' ' || COALESCE(last_name, '') || ' ' || COALESCE(email, '')"
    " || ' ' || COALESCE(company_name, '') || ' ' || COALESCE(sync_error_message, ''))"
)


def _like_pattern(text: str) -> str:
    """'%text%' with the user's own %, _ and backslash taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def lead_text_contains(text: str) -> RawSQL:
    """A condition: the lead's name, email, company or last error message contains `text` (any case)."""
    return RawSQL(f"{LEAD_SEARCH_TEXT} ILIKE %s", [_like_pattern(text)], output_field=BooleanField())


def search_leads(queryset: QuerySet, text: str) -> QuerySet:
    """Leads whose name, email, company or last error message contains `text` (case-insensitive)."""
    text = text.strip()
    if not text:
        return queryset
    return queryset.filter(lead_text_contains(text))


# A common term is settled by reading at most this many times the rows the page needs, in the
# list's order: "rate limit" matches 14 000 of 34 000 leads in error, so 51 rows need ~125 read.
# A term rarer than 1 in SEARCH_PROBE_FACTOR gives up after that read and uses the trigram index.
SEARCH_PROBE_FACTOR = 8
SEARCH_PROBE_MAX_ROWS = 4_000


def first_matches_in_order(queryset: QuerySet, text: str, rows_needed: int) -> list[Any] | None:
    """The pks of the first `rows_needed` rows of the ordered `queryset` that search_leads(text) keeps,
    found by reading the queryset in its own order (its index, stopping early); None when a bounded
    read did not settle it (a rare term: search_leads and its trigram index are then cheaper).

    Why not leave it to the planner: it estimates any '%term%' at a handful of rows, so it always
    fetches every trigram match and sorts them (116 ms for "rate limit" at 1M leads), even when the
    first 125 rows of the order hold the page.
    """
    text = text.strip()
    probe_rows = min(rows_needed * SEARCH_PROBE_FACTOR, SEARCH_PROBE_MAX_ROWS)
    if not text or rows_needed > probe_rows:
        return None
    read = list(queryset.annotate(_matches=lead_text_contains(text)).values_list("pk", "_matches")[:probe_rows])
    matched = [pk for pk, matches in read if matches]
    if len(matched) >= rows_needed or len(read) < probe_rows:  # enough, or the whole queryset was read
        return matched[:rows_needed]
    return None
