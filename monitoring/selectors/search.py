"""Free-text search over leads: the lists' `q` filter.

One expression over name, email, company and last error, matched with ILIKE so a trigram GIN
index (migration 0021, idx_leads_search_trgm) serves it at a million leads. The portal's `q`
filter and the lead admin's search both go through lead_text_contains(). The expression is
frozen in that migration and must stay identical to LEAD_SEARCH_TEXT (a test checks).
"""
from __future__ import annotations

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
