"""Operator repairs of leads: put leads back in the sync's queue, with an audit row per lead.

Each repair is ONE SQL statement built from data-modifying CTEs: it locks the selected rows (one
primary-key probe each), keeps the eligible ones, UPDATEs them set-based and INSERT ... SELECTs one
`lead_sync_history` row per changed lead (sync_type 'manual'; action, reason, user and the old/new values in fields_changed). One
summarising admin LogEntry (user, reason, counts) follows in the same transaction. The selection is
a queryset compiled into the statement as a subquery: "select all matching" never loads rows into
Python.

History direction rule: a manual repair is recorded in the direction the lead will sync next. Leads
whose direction is one-way keep it; bidirectional leads are recorded as supabase_to_twenty, because
the repair happened on the Supabase side and reaches Twenty from there. Resolving a conflict records
the winning side. The history status is 'synced' (the repair itself succeeded; the CHECK constraint
allows only synced/error/conflict).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from monitoring.choices import HistoryDirection, HistoryStatus, LeadSyncDirection, LeadSyncStatus, SyncType
from monitoring.models import Lead

STUCK_AFTER_MINUTES = 10


class RepairAction:
    """The four repairs; the value is what history rows and log entries call them."""

    RETRY = "retry_sync"
    RESET_STUCK = "reset_stuck"
    CLEAR_ERRORS = "clear_error_count"
    RESOLVE_CONFLICT = "resolve_conflict"

    LABELS = {
        RETRY: "Retry sync",
        RESET_STUCK: "Reset stuck",
        CLEAR_ERRORS: "Clear error count",
        RESOLVE_CONFLICT: "Resolve conflict",
    }


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
    """What one repair changed: leads updated (each got a history row) and leads skipped, of those selected."""

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
    """One statement; `changed_columns` are the columns `assignments` sets (old and new values go to the history)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("A reason is required for every repair.")
    selection_sql, selection_params = _selection_sql(leads)
    eligible_sql, eligible_params = _where_sql(eligible)
    label = RepairAction.LABELS[action]
    audit = {"action": action, "reason": reason, "user": user.get_username(), "user_id": user.pk, **(extra or {})}
    changes = ",\n".join(
        f"'{column}', CASE WHEN c.{column} IS DISTINCT FROM o.{column} "
        f"THEN jsonb_build_array(o.{column}, c.{column}) END"
        for column in changed_columns
    )
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
        RETURNING l.id, l.sync_direction AS next_direction, {", ".join(f"l.{column}" for column in changed_columns)}
    ),
    history AS (
        INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, fields_changed,
                                       created_at, synced_at)
        SELECT c.id, %(manual)s,
               CASE WHEN c.next_direction = %(bidirectional)s THEN %(supabase_to_twenty)s ELSE c.next_direction END,
               %(synced)s,
               -- Only the columns this repair assigns can change; unchanged ones are left out.
               %(audit)s::jsonb || jsonb_build_object('changes', jsonb_strip_nulls(jsonb_build_object(
                   {changes}
               ))),
               now(), now()
        FROM changed c JOIN old o ON o.id = c.id
        RETURNING lead_id
    )
    -- The count, and the lead when there is exactly one (its admin History gets the log entry).
    SELECT count(*), CASE WHEN count(*) = 1 THEN min(lead_id::text) END FROM history
    """
    named = {
        "manual": SyncType.MANUAL.value,
        "bidirectional": LeadSyncDirection.BIDIRECTIONAL.value,
        "supabase_to_twenty": HistoryDirection.SUPABASE_TO_TWENTY.value,
        "synced": HistoryStatus.SYNCED.value,
        "pending": LeadSyncStatus.PENDING.value,
        "audit": json.dumps(audit),
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
            updated, only_lead_id = cursor.fetchone()
        result = RepairResult(
            action=action, selected=selected, updated=updated, skipped=max(selected - updated, 0),
            only_lead_id=only_lead_id,
        )
        _log_summary(user=user, result=result, label=label, reason=reason)
    return result


def _log_summary(*, user: AbstractBaseUser, result: RepairResult, label: str, reason: str) -> None:
    """One admin LogEntry per repair (per-lead detail is in lead_sync_history, which carries user and reason).

    A LogEntry per lead would cost ~0.4 s per 10,000 leads (two foreign-key checks per row).
    A repair of exactly one lead is logged on that lead, so it shows in the lead's admin History.
    """
    LogEntry.objects.create(
        user_id=user.pk,
        content_type=ContentType.objects.get_for_model(Lead),
        object_id=result.only_lead_id,
        object_repr=f"{result.updated} lead{'s' if result.updated != 1 else ''}",
        action_flag=CHANGE,
        change_message=(
            f"{label}: {reason} ({result.updated} changed, {result.skipped} skipped of {result.selected} selected)"
        ),
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
