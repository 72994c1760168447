"""Reads behind the operator admin (issue 4)."""
from __future__ import annotations

from monitoring.selectors._sql import fetch_all, fetch_one


def lead_sources() -> list[str]:
    """Distinct non-null leads.lead_source values, sorted.

    A loose index scan on idx_leads_lead_source: one index probe per distinct value, so the admin's
    source filter stays cheap at 1M leads where SELECT DISTINCT would read the whole table.
    """
    rows = fetch_all(
        """
        WITH RECURSIVE sources AS (
            (SELECT lead_source FROM leads WHERE lead_source IS NOT NULL ORDER BY lead_source LIMIT 1)
            UNION ALL
            SELECT (SELECT l.lead_source FROM leads l
                    WHERE l.lead_source > s.lead_source ORDER BY l.lead_source LIMIT 1)
            FROM sources s
            WHERE s.lead_source IS NOT NULL
        )
        SELECT lead_source FROM sources WHERE lead_source IS NOT NULL
        """
    )
    return [row["lead_source"] for row in rows]


def table_row_estimate(table: str) -> int:
    """The planner's row count for a table (pg_class.reltuples, kept by autovacuum/ANALYZE); -1 if never analysed.

    Lets the admin page an unfiltered 1M-lead / 10M-history list without a COUNT(*) over every row.
    """
    row = fetch_one("SELECT reltuples::bigint AS estimate FROM pg_class WHERE oid = %s::regclass", [table])
    return int(row["estimate"]) if row else -1
