"""The repair services on the hand-built dataset: exact rows changed, repair and log rows, untouched leads."""
from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.choices import HistoryDirection, LeadSyncDirection, LeadSyncStatus, RepairAction
from monitoring.models import Lead, LeadRepair, LeadSyncHistory
from monitoring.services.leads import (
    BatchTooLarge,
    clear_error_counts,
    reset_stuck_leads,
    resolve_conflicts,
    retry_leads,
)

FIELDS = ("sync_status", "sync_direction", "sync_error_count", "sync_error_message", "updated_at", "sync_started_at")


def _snapshot() -> dict:
    return {lead.pk: tuple(getattr(lead, f) for f in FIELDS) for lead in Lead.objects.all()}


def _repairs() -> list[LeadRepair]:
    return list(LeadRepair.objects.order_by("lead__first_name"))


def test_retry_sets_pending_clears_message_keeps_count_and_skips_quarantined_and_syncing(sync_dataset, operator):
    d = sync_dataset
    before = _snapshot()
    leads = Lead.objects.filter(pk__in=[d.alan.pk, d.katherine.pk, d.edsger.pk, d.donald.pk])

    result = retry_leads(leads=leads, user=operator, reason="Twenty outage over")

    assert (result.selected, result.updated, result.skipped) == (4, 2, 2)  # alan quarantined (7), edsger syncing
    assert result.only_lead_id is None  # two leads changed
    katherine = Lead.objects.get(pk=d.katherine.pk)
    assert (katherine.sync_status, katherine.sync_error_message, katherine.sync_error_count) == ("pending", None, 2)
    assert Lead.objects.get(pk=d.donald.pk).sync_status == LeadSyncStatus.PENDING
    after = _snapshot()
    for untouched in (d.ada, d.grace, d.alan, d.linus, d.barbara, d.edsger):
        assert after[untouched.pk] == before[untouched.pk]
    repairs = _repairs()
    assert [r.lead_id for r in repairs] == [d.donald.pk, d.katherine.pk]
    katherine_repair = repairs[1]
    assert (katherine_repair.action, katherine_repair.reason, katherine_repair.username, katherine_repair.user_id) == (
        RepairAction.RETRY, "Twenty outage over", "operator", operator.pk
    )
    assert katherine_repair.options == {"include_quarantined": False}
    assert katherine_repair.old_values == {"sync_status": "error", "sync_error_message": "Twenty API 500: internal error"}
    assert katherine_repair.new_values == {"sync_status": "pending", "sync_error_message": None}
    assert repairs[0].old_values == {"sync_status": "conflict"}  # donald had no message: nothing else changed
    assert LeadSyncHistory.objects.count() == 8  # the hand-built attempts only: a repair is not an attempt
    # One admin LogEntry per changed lead, so each lead's History shows its repair.
    logs = {log.object_id: log for log in LogEntry.objects.all()}
    assert set(logs) == {str(d.donald.pk), str(d.katherine.pk)}
    log = logs[str(d.katherine.pk)]
    assert (log.object_repr, log.user_id, log.action_flag) == ("Katherine", operator.pk, CHANGE)
    assert log.get_change_message() == (
        "Retry sync: Twenty outage over (status: error → pending; last error: Twenty API 500: internal error → —)"
    )


def test_retry_includes_quarantined_only_when_asked(sync_dataset, operator):
    result = retry_leads(
        leads=Lead.objects.filter(pk=sync_dataset.alan.pk), user=operator, reason="API key rotated",
        include_quarantined=True,
    )
    assert result.updated == 1
    alan = Lead.objects.get(pk=sync_dataset.alan.pk)
    assert (alan.sync_status, alan.sync_error_count, alan.sync_error_message) == ("pending", 7, None)
    assert _repairs()[0].options == {"include_quarantined": True}


def test_reset_stuck_only_touches_syncing_leads_stuck_over_ten_minutes(sync_dataset, superuser):
    d = sync_dataset
    fresh = Lead.objects.create(first_name="Fresh", sync_status=LeadSyncStatus.SYNCING)  # started just now
    before = _snapshot()

    result = reset_stuck_leads(leads=Lead.objects.all(), user=superuser, reason="n8n worker crashed")

    assert (result.selected, result.updated, result.skipped) == (9, 1, 8)
    edsger = Lead.objects.get(pk=d.edsger.pk)
    assert edsger.sync_status == LeadSyncStatus.PENDING
    assert edsger.sync_started_at is None  # the trigger clears it on leaving 'syncing'
    after = _snapshot()
    assert all(after[pk] == before[pk] for pk in before if pk != d.edsger.pk)
    assert Lead.objects.get(pk=fresh.pk).sync_status == LeadSyncStatus.SYNCING
    (repair,) = _repairs()
    assert repair.lead_id == d.edsger.pk
    assert (repair.old_values, repair.new_values) == ({"sync_status": "syncing"}, {"sync_status": "pending"})
    assert repair.reason == "n8n worker crashed"
    log = LogEntry.objects.get()
    assert (log.object_id, log.object_repr) == (str(d.edsger.pk), "Edsger Dijkstra")
    assert log.change_message == "Reset stuck: n8n worker crashed (status: syncing → pending)"


def test_clear_error_counts_skips_leads_without_errors(sync_dataset, operator):
    d = sync_dataset
    result = clear_error_counts(leads=Lead.objects.filter(pk__in=[d.alan.pk, d.ada.pk]), user=operator, reason="fixed")
    assert (result.updated, result.skipped) == (1, 1)
    alan = Lead.objects.get(pk=d.alan.pk)
    assert (alan.sync_error_count, alan.sync_status, alan.sync_error_message) == (
        0, LeadSyncStatus.ERROR, "Twenty API 429: rate limit exceeded"
    )
    (repair,) = _repairs()
    assert (repair.old_values, repair.new_values) == ({"sync_error_count": 7}, {"sync_error_count": 0})


@pytest.mark.parametrize("winner", [HistoryDirection.TWENTY_TO_SUPABASE, HistoryDirection.SUPABASE_TO_TWENTY])
def test_resolve_conflicts_sets_winner_direction_and_pending(sync_dataset, operator, winner):
    d = sync_dataset
    result = resolve_conflicts(leads=Lead.objects.all(), user=operator, reason="Twenty is right", winner=winner)
    assert (result.updated, result.skipped) == (1, 7)
    donald = Lead.objects.get(pk=d.donald.pk)
    assert (donald.sync_status, donald.sync_direction) == (LeadSyncStatus.PENDING, winner)
    (repair,) = _repairs()
    assert repair.options == {"winner": winner}
    assert repair.old_values == {"sync_status": "conflict", "sync_direction": LeadSyncDirection.BIDIRECTIONAL}
    assert repair.new_values == {"sync_status": "pending", "sync_direction": winner}


def test_resolve_conflicts_rejects_an_unknown_side(sync_dataset, operator):
    with pytest.raises(ValueError):
        resolve_conflicts(leads=Lead.objects.all(), user=operator, reason="x", winner="bidirectional")


def test_a_reason_is_required(sync_dataset, operator):
    with pytest.raises(ValueError, match="reason"):
        retry_leads(leads=Lead.objects.all(), user=operator, reason="   ")
    assert not _repairs()


def test_batch_cap_refuses_larger_selections_without_changes(sync_dataset, operator, settings):
    settings.ADMIN_ACTION_BATCH_CAP = 7
    with pytest.raises(BatchTooLarge, match="More than 7 leads"):
        retry_leads(leads=Lead.objects.all(), user=operator, reason="all of them")
    assert not _repairs()
    assert Lead.objects.filter(sync_status=LeadSyncStatus.PENDING).count() == 2


def test_repair_is_one_statement_after_the_cap_check_with_its_log_entries_inside(sync_dataset, operator):
    with CaptureQueriesContext(connection) as queries:
        retry_leads(leads=Lead.objects.filter(sync_status=LeadSyncStatus.ERROR), user=operator, reason="r")
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    # bounded count (cap check), no JIT, the repair statement: UPDATE + INSERT of the repairs and of
    # the per-lead LogEntries, set-based (the content type is cached after the first lookup)
    statements = [sql for sql in statements if "django_content_type" not in sql]
    assert len(statements) == 3, statements
    assert "LIMIT 10001" in statements[0]
    assert statements[1] == "SET LOCAL jit = off"
    assert "UPDATE leads" in statements[2] and "INSERT INTO lead_repairs" in statements[2]
    assert "INSERT INTO django_admin_log" in statements[2] and "INTO lead_sync_history" not in statements[2]
    assert LogEntry.objects.count() == 1  # alan is quarantined; katherine's entry


def _repair_plan(repair) -> str:
    """EXPLAIN of the repair statement, planned as if the planner preferred hash and merge joins."""
    plans = []

    def explain(execute, sql, params, many, context):
        if sql.lstrip().startswith("WITH old"):  # the repair statement (not the EXPLAIN below)
            cursor = context["cursor"]
            # Stands in for statistics that make a join look better than probing the primary key.
            cursor.execute("SET LOCAL enable_nestloop = off")
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        repair()
    return plans[0]


@pytest.mark.parametrize("action", ["retry", "reset", "clear", "resolve"])
def test_repair_locks_and_updates_by_primary_key_probes_whatever_the_planner_prefers(action, sync_dataset, operator):
    leads = Lead.objects.filter(sync_status__in=[LeadSyncStatus.ERROR, LeadSyncStatus.CONFLICT, LeadSyncStatus.SYNCING])
    common = {"leads": leads, "user": operator, "reason": "plan"}
    plan = _repair_plan({
        "retry": lambda: retry_leads(**common),
        "reset": lambda: reset_stuck_leads(**common),
        "clear": lambda: clear_error_counts(**common),
        "resolve": lambda: resolve_conflicts(**common, winner=HistoryDirection.TWENTY_TO_SUPABASE),
    }[action])
    lock, update = plan.split("CTE changed")[0], plan.split("CTE changed")[1].split("CTE repairs")[0]
    # One probe per selected lead, then the lock: never a join against a scan of the eligible leads.
    assert "Nested Loop" in lock and "Hash Join" not in lock and "Merge Join" not in lock, plan
    assert "Index Scan using leads_pkey" in lock and lock.index("LockRows") < lock.index("Index Scan using leads_pkey"), plan
    assert "Index Scan on leads_pkey" in update or "Index Scan using leads_pkey" in update, plan
    assert "Index Cond: (id = ANY" in update and "Seq Scan" not in update, plan
