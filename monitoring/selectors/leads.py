"""Reads behind the operator admin (issue 4)."""
from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from monitoring.selectors._sql import fetch_all


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


def row_estimate(queryset: QuerySet[Any]) -> int:
    """The planner's estimate of how many rows the queryset returns (EXPLAIN only: nothing is read).

    Lets the admin page a list matching 1M leads / 10M history rows without a COUNT(*) over each match.
    """
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
