"""Reads behind the operator admin (issue 4) and the lead timeline."""
from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.db import models
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Cast

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


# -- one lead's timeline: sync attempts and operator repairs, interleaved by time ----------------

TIMELINE_ATTEMPT = "attempt"
TIMELINE_REPAIR = "repair"


def lead_timeline(
    *, lead_id: Any, attempts: QuerySet[Any] | None = None, repairs: QuerySet[Any] | None = None
) -> QuerySet[Any]:
    """A lead's sync attempts and repairs as one list of dicts, newest first (UNION ALL, sortable, pageable).

    Every row has: entry ('attempt' or 'repair'), entry_id, at (attempt finished / repair done),
    started, kind (sync_type or repair action), direction, status, changes (an attempt's
    fields_changed), old_values and new_values (a repair's), error, who (the repair's user).
    `attempts` / `repairs` narrow either side (the timeline filters); pass .none() to leave one out.
    Each side reads its own (lead_id, time DESC) index, idx_sync_history_lead_synced and
    idx_lead_repairs_lead_created, so a page of the newest rows is a merge of two short index walks.
    """
    from monitoring.models import LeadRepair, LeadSyncHistory

    text, stamp = models.TextField(), models.DateTimeField()
    attempts = LeadSyncHistory.objects.filter(lead_id=lead_id) if attempts is None else attempts
    repairs = LeadRepair.objects.filter(lead_id=lead_id) if repairs is None else repairs
    # Same names, in the same order, on both sides: the UNION pairs columns by position.
    attempt_rows = attempts.order_by().annotate(
        entry=Value(TIMELINE_ATTEMPT, output_field=text), entry_id=F("id"), at=F("synced_at"),
        started=F("created_at"), kind=Cast("sync_type", text), direction=Cast("sync_direction", text),
        status=Cast("sync_status", text), changes=F("fields_changed"),
        old=Cast(Value(None), models.JSONField()), new=Cast(Value(None), models.JSONField()),
        error=F("error_message"), who=Cast(Value(None), text), why=Cast(Value(None), text),
    )
    repair_rows = repairs.order_by().annotate(
        entry=Value(TIMELINE_REPAIR, output_field=text), entry_id=F("id"), at=F("created_at"),
        started=Cast(Value(None), stamp), kind=Cast("action", text), direction=Cast(Value(None), text),
        status=Cast(Value(None), text), changes=Cast(Value(None), models.JSONField()),
        old=F("old_values"), new=F("new_values"),
        error=Cast(Value(None), text), who=Cast("username", text), why=F("reason"),
    )
    columns = TIMELINE_COLUMNS
    return attempt_rows.values(*columns).union(repair_rows.values(*columns), all=True).order_by("-at", "-entry_id")


TIMELINE_COLUMNS = (
    "entry", "entry_id", "at", "started", "kind", "direction", "status", "changes", "old", "new", "error", "who", "why",
)
