"""Migration 0211: the repair rows older versions wrote into the history move to lead_repairs, nothing else does."""
from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps
from django.db import connection

from monitoring.choices import HistoryDirection, HistoryStatus, LeadSyncStatus, SyncType
from monitoring.models import Lead, LeadRepair, LeadSyncHistory

migration = importlib.import_module("monitoring.migrations.0211_move_repairs_out_of_history")

pytestmark = pytest.mark.django_db


def _old_repair_row(lead: Lead, *, user_id: int | None, **audit) -> dict:
    """A history row exactly as the old repair statement wrote it (created_at = synced_at = now())."""
    return {
        "lead_id": lead.pk, "sync_type": SyncType.MANUAL, "sync_direction": HistoryDirection.SUPABASE_TO_TWENTY,
        "sync_status": HistoryStatus.SYNCED, "error_message": None,
        "fields_changed": {"action": "retry_sync", "reason": "Twenty back", "user": "operator", "user_id": user_id,
                           "include_quarantined": False,
                           "changes": {"sync_status": ["error", "pending"], "sync_error_message": ["boom", None]},
                           **audit},
    }


def _insert(table: str, row: dict, *, row_id: int | None = None) -> None:
    columns = ["lead_id", "sync_type", "sync_direction", "sync_status", "fields_changed", "error_message"]
    values = [row[c] if c != "fields_changed" else json.dumps(row[c]) for c in columns]
    extra_cols, extra_vals = ("id, ", "%s, ") if row_id is not None else ("", "")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({extra_cols}{', '.join(columns)}, created_at, synced_at) "
            f"VALUES ({extra_vals}{', '.join(['%s'] * len(columns))}, now(), now())",
            ([row_id] if row_id is not None else []) + values,
        )


def test_moves_exactly_the_old_repair_rows_from_history_and_archive(operator, monkeypatch):
    monkeypatch.setattr(migration, "BATCH_IDS", 2)  # several batches on a handful of rows
    lead = Lead.objects.create(first_name="Ada", sync_status=LeadSyncStatus.PENDING)
    _insert("lead_sync_history", _old_repair_row(lead, user_id=operator.pk))
    _insert("lead_sync_history", _old_repair_row(lead, user_id=987654, action="resolve_conflict", winner="twenty_to_supabase",
                                                 changes={"sync_direction": ["bidirectional", "twenty_to_supabase"]}))
    # Real attempts that stay: an n8n 'manual' sync with field changes, a 'manual' one that failed, a scheduled one.
    _insert("lead_sync_history", {**_old_repair_row(lead, user_id=None), "fields_changed": {"first_name": ["Bob", "Ada"]}})
    _insert("lead_sync_history", {**_old_repair_row(lead, user_id=operator.pk), "sync_status": HistoryStatus.ERROR,
                                  "error_message": "429"})
    _insert("lead_sync_history", {**_old_repair_row(lead, user_id=None), "sync_type": SyncType.SCHEDULED})
    _insert("lead_sync_history_archive", _old_repair_row(lead, user_id=operator.pk, reason="archived one"), row_id=10**9)

    migration.forward(apps, None)

    assert sorted(LeadSyncHistory.objects.values_list("sync_type", "sync_status")) == [
        ("manual", "error"), ("manual", "synced"), ("scheduled", "synced")
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lead_sync_history_archive")
        assert cursor.fetchone()[0] == 0
    repairs = list(LeadRepair.objects.order_by("id"))
    assert [(r.action, r.reason, r.user_id, r.username) for r in repairs] == [
        ("retry_sync", "Twenty back", operator.pk, "operator"),
        ("resolve_conflict", "Twenty back", None, "operator"),  # that user is gone: the name stays
        ("retry_sync", "archived one", operator.pk, "operator"),
    ]
    assert (repairs[0].old_values, repairs[0].new_values) == (
        {"sync_status": "error", "sync_error_message": "boom"}, {"sync_status": "pending", "sync_error_message": None}
    )
    assert repairs[0].options == {"include_quarantined": False}
    assert repairs[1].options == {"include_quarantined": False, "winner": "twenty_to_supabase"}
    assert repairs[1].new_values == {"sync_direction": "twenty_to_supabase"}

    # Reverse: back into the history in the old shape (the archived one too, as a live row).
    migration.backward(apps, None)
    assert not LeadRepair.objects.exists()
    manual = LeadSyncHistory.objects.filter(sync_type=SyncType.MANUAL, sync_status=HistoryStatus.SYNCED,
                                            fields_changed__has_key="action")
    assert manual.count() == 3
    assert manual.filter(fields_changed__reason="archived one").get().fields_changed["changes"] == {
        "sync_status": ["error", "pending"], "sync_error_message": ["boom", None]
    }
