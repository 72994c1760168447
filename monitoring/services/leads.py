"""Operator repairs of leads: put leads back in the sync's queue, with an audit row per lead.

Each repair is ONE SQL statement built from data-modifying CTEs: it locks the selected rows (one
primary-key probe each), keeps the eligible ones, UPDATEs them set-based, INSERT ... SELECTs one
`lead_repairs` row per changed lead (action, reason, user, old and new values) and, in the same
statement, one admin LogEntry per changed lead, so each lead's admin History shows the repair.
The selection is a queryset compiled into the statement as a subquery: "select all matching" never
loads rows into Python.

Why lead_repairs and not lead_sync_history: a repair is not a sync attempt. Every number of the
portal (Performance, the API, /metrics, MCP, every alert rule, the daily summary, Activity) counts
history rows as attempts; a repair row there made a retry of 2 leads look like 2 fresh successful
syncs (and a quiet direction look alive). With a table of its own no reader has to remember to
exclude repairs, and the spec's queries keep running unchanged. The lead timeline merges the two
tables by time (monitoring.selectors.leads.lead_timeline).

A repair changes only the columns it assigns (status, error message, error count, and for a
resolved conflict the lead's direction) plus updated_at (the leads_touch trigger). It never touches
last_synced_at, which is what "last sync" and "recently synced" read.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.admin.models import CHANGE
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from monitoring.choices import HistoryDirection, LeadSyncStatus, RepairAction
from monitoring.models import Lead

STUCK_AFTER_MINUTES = 10


class BatchTooLarge(Exception):
    """The selection holds more leads than ADMIN_ACTION_BATCH_CAP allows in one repair."""

    def __init__(self, *, cap: int) -> None:
        self.cap = cap
        super().__init__(
            f"More than {cap:,} leads are selected; repairs are capped at {cap:,} leads per batch. "
            "Narrow the selection with the filters and run the action again."
        )


@dataclass(frozen=True)
class RepairResult:
    """What one repair changed: leads updated (each got a lead_repairs row) and leads skipped, of those selected."""

    action: str
    selected: int
    updated: int
    skipped: int
    only_lead_id: str | None = None  # the lead, when exactly one was changed


def quarantine_threshold() -> int:
    """Leads with MORE errors than this are quarantined: retry leaves them alone unless told otherwise."""
    return int(getattr(settings, "RETRY_QUARANTINE_ERRORS", 5))


def batch_cap() -> int:
    return int(getattr(settings, "ADMIN_ACTION_BATCH_CAP", 10_000))


def quarantined_q() -> Q:
    return Q(sync_error_count__gt=quarantine_threshold())


def stuck_q(*, now: datetime | None = None) -> Q:
    """In 'syncing' for more than 10 minutes, measured from sync_started_at (set by the leads_touch trigger).

    Rows from before the trigger have no sync_started_at; updated_at stands in, as in selectors.stuck_leads.
    """
    cutoff = (now or timezone.now()) - timedelta(minutes=STUCK_AFTER_MINUTES)
    return Q(sync_status=LeadSyncStatus.SYNCING) & (
        Q(sync_started_at__lt=cutoff) | Q(sync_started_at__isnull=True, updated_at__lt=cutoff)
    )


def stale_pending_q(*, now: datetime | None = None) -> Q:
    """Same rule as check_stale_leads(): pending and created more than an hour ago."""
    return Q(sync_status=LeadSyncStatus.PENDING, created_at__lt=(now or timezone.now()) - timedelta(hours=1))


def check_batch_size(leads: QuerySet[Lead]) -> int:
    """How many leads the selection holds, counting at most cap + 1 rows; raises BatchTooLarge over the cap."""
    cap = batch_cap()
    count = leads.order_by().values("pk")[: cap + 1].count()
    if count > cap:
        raise BatchTooLarge(cap=cap)
    return count


def retry_eligible_q(*, include_quarantined: bool) -> Q:
    q = ~Q(sync_status=LeadSyncStatus.SYNCING)
    return q if include_quarantined else q & ~quarantined_q()


def retry_leads(
    *, leads: QuerySet[Lead], user: AbstractBaseUser, reason: str, include_quarantined: bool = False
) -> RepairResult:
    """Status -> pending and the error message cleared; the error count is kept (it measures the lead's history).

    Skipped: leads in 'syncing' (in flight; reset_stuck_leads is the repair for those) and, unless
    include_quarantined, leads over the quarantine threshold.
    """
    return _repair(
        action=RepairAction.RETRY,
        leads=leads,
        user=user,
        reason=reason,
        eligible=retry_eligible_q(include_quarantined=include_quarantined),
        assignments="sync_status = %(pending)s, sync_error_message = NULL",
        changed_columns=("sync_status", "sync_error_message"),
        extra={"include_quarantined": include_quarantined},
    )


def reset_stuck_leads(*, leads: QuerySet[Lead], user: AbstractBaseUser, reason: str) -> RepairResult:
    """Only leads stuck in 'syncing' for more than 10 minutes go back to 'pending'; the rest are skipped."""
    return _repair(
        action=RepairAction.RESET_STUCK,
        leads=leads,
        user=user,
        reason=reason,
        eligible=stuck_q(),
        assignments="sync_status = %(pending)s",
        changed_columns=("sync_status",),
    )


CLEAR_ERRORS_ELIGIBLE = Q(sync_error_count__gt=0)
RESOLVE_ELIGIBLE = Q(sync_status=LeadSyncStatus.CONFLICT)


def clear_error_counts(*, leads: QuerySet[Lead], user: AbstractBaseUser, reason: str) -> RepairResult:
    """sync_error_count -> 0; leads already at 0 are skipped (nothing to record)."""
    return _repair(
        action=RepairAction.CLEAR_ERRORS,
        leads=leads,
        user=user,
        reason=reason,
        eligible=CLEAR_ERRORS_ELIGIBLE,
        assignments="sync_error_count = 0",
        changed_columns=("sync_error_count",),
    )


def resolve_conflicts(
    *, leads: QuerySet[Lead], user: AbstractBaseUser, reason: str, winner: str
) -> RepairResult:
    """Leads in 'conflict': the winning side becomes the direction, status -> pending. Others are skipped."""
    if winner not in HistoryDirection.values:
        raise ValueError(f"winner must be one of {', '.join(HistoryDirection.values)}, not {winner!r}")
    return _repair(
        action=RepairAction.RESOLVE_CONFLICT,
        leads=leads,
        user=user,
        reason=reason,
        eligible=RESOLVE_ELIGIBLE,
        assignments="sync_status = %(pending)s, sync_direction = %(winner)s",
        changed_columns=("sync_status", "sync_direction"),
        params={"winner": winner},
        extra={"winner": winner},
    )


def _repair(
    *,
    action: str,
    leads: QuerySet[Lead],
    user: AbstractBaseUser,
    reason: str,
    eligible: Q,
    assignments: str,
    changed_columns: tuple[str, ...],
    params: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> RepairResult:
    """One statement; `changed_columns` are the columns `assignments` sets (their old and new values are recorded)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("A reason is required for every repair.")
    selection_sql, selection_params = _selection_sql(leads)
    eligible_sql, eligible_params = _where_sql(eligible)
    label = RepairAction(action).label

    def only_changed(side: str) -> str:
        # Only the columns whose value really changed; a NULL new value is kept (jsonb_strip_nulls would drop it).
        return " || ".join(
            f"CASE WHEN c.{column} IS DISTINCT FROM o.{column} "
            f"THEN jsonb_build_object('{column}', {side}.{column}) ELSE '{{}}'::jsonb END"
            for column in changed_columns
        )

    # "status: error → pending; errors: 7 → 0" for the admin History page, values cut to 200 characters.
    change_text = "concat_ws('; ', " + ", ".join(
        f"CASE WHEN c.{column} IS DISTINCT FROM o.{column} THEN "
        f"'{Lead._meta.get_field(column).verbose_name}: ' || COALESCE(left(o.{column}::text, 200), '—') || ' → ' "
        f"|| COALESCE(left(c.{column}::text, 200), '—') END"
        for column in changed_columns
    ) + ")"
    sql = f"""
    WITH old AS (
        SELECT leads.id, {", ".join(f"leads.{column}" for column in changed_columns)}
        FROM ({selection_sql}) AS selection (id)
        -- One leads_pkey probe and row lock per selected lead (at most the batch cap), whatever the
        -- statistics say: a subquery with FOR UPDATE is never flattened, and OFFSET 0 keeps the
        -- eligibility test out of it, so no partial index (syncing, errors) stands in for the key.
        -- With stale statistics (right after an outage) the planner otherwise hash-joined a scan of
        -- every eligible lead, or walked a whole partial index once per selected lead.
        CROSS JOIN LATERAL (
            SELECT * FROM leads WHERE leads.id = selection.id OFFSET 0 FOR UPDATE
        ) AS leads
        -- Tested on the locked, newest version of each row (READ COMMITTED), so a concurrent sync's
        -- change is seen before the UPDATE. Skipped leads stay locked until the commit.
        WHERE ({eligible_sql})
    ),
    changed AS (
        -- By id = ANY(array): always leads_pkey probes (a join to `old` was hash-joined against a
        -- sequential scan when the estimates were off). Not by ctid: after a concurrent update the
        -- locked version is newer than this statement's snapshot, and only the id finds it.
        UPDATE leads l SET {assignments}
        WHERE l.id = ANY(ARRAY(SELECT id FROM old))
        RETURNING l.id, l.first_name, l.last_name, l.email, {", ".join(f"l.{column}" for column in changed_columns)}
    ),
    repairs AS (
        -- Its own table, not the history: a repair is not a sync attempt (see the module docstring).
        INSERT INTO lead_repairs (lead_id, action, reason, user_id, username, old_values, new_values, options,
                                  created_at)
        SELECT c.id, %(action)s, %(reason)s, %(user_id)s, %(username)s,
               {only_changed("o")}, {only_changed("c")}, %(options)s::jsonb, now()
        FROM changed c JOIN old o ON o.id = c.id
        RETURNING lead_id
    ),
    log AS (
        -- One admin LogEntry per changed lead, set-based in this same statement, so each lead's
        -- admin History shows the repair (django_admin_log's user foreign key is checked at commit).
        INSERT INTO django_admin_log (action_time, user_id, content_type_id, object_id, object_repr, action_flag,
                                      change_message)
        SELECT now(), %(user_id)s, %(content_type_id)s, c.id::text,
               left(COALESCE(NULLIF(concat_ws(' ', c.first_name, c.last_name), ''), c.email, c.id::text), 200),
               %(change_flag)s,
               %(label)s::text || ': ' || %(reason)s::text || ' (' || {change_text} || ')'
        FROM changed c JOIN old o ON o.id = c.id
        RETURNING object_id
    )
    -- The count, and the lead when there is exactly one.
    SELECT count(*), CASE WHEN count(*) = 1 THEN min(lead_id::text) END, (SELECT count(*) FROM log) FROM repairs
    """
    named = {
        "action": action,
        "reason": reason,
        "user_id": user.pk,
        "username": user.get_username(),
        "options": json.dumps(extra or {}),
        "content_type_id": ContentType.objects.get_for_model(Lead).pk,
        "change_flag": CHANGE,
        "label": label,
        "pending": LeadSyncStatus.PENDING.value,
        **(params or {}),
    }
    named.update(selection_params)
    named.update(eligible_params)
    with transaction.atomic():
        # Also enforced here, not only on the admin's confirmation page: the cap protects the database.
        selected = check_batch_size(leads)
        with connection.cursor() as cursor:
            # The planner's cost for 10,000 probes crosses jit_above_cost; compiling costs more
            # (~70 ms) than this statement's expressions ever save.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(sql, named)
            updated, only_lead_id, _logged = cursor.fetchone()
    return RepairResult(
        action=action, selected=selected, updated=updated, skipped=max(selected - updated, 0),
        only_lead_id=only_lead_id,
    )


def _where_sql(condition: Q) -> tuple[str, dict[str, Any]]:
    """A Q on Lead compiled to a bare SQL condition on the unaliased table `leads`, params named %(eligible_N)s."""
    query = Lead.objects.filter(condition).query
    compiler = query.get_compiler(using="default")
    sql, params = compiler.compile(query.where)
    return _named(sql, params, prefix="eligible")


def _named(sql: str, params: Any, *, prefix: str) -> tuple[str, dict[str, Any]]:
    """Django compiles positional %s; the repair statement uses named params and the styles can't mix."""
    names = iter(range(len(params)))

    def rename(match: re.Match[str]) -> str:
        return "%%" if match.group() == "%%" else f"%({prefix}_{next(names)})s"

    return re.sub(r"%%|%s", rename, sql), {f"{prefix}_{i}": value for i, value in enumerate(params)}


def _selection_sql(leads: QuerySet[Lead]) -> tuple[str, dict[str, Any]]:
    """The selection as `SELECT id FROM leads WHERE ...`; ordering dropped (it only feeds an IN list)."""
    query = leads.order_by().values("pk").query
    sql, params = query.get_compiler(using=leads.db).as_sql()
    return _named(sql, params, prefix="selection")
