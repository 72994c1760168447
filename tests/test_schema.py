"""The database itself guards the sync's tables: CHECK constraints, defaults and the touch trigger.

The n8n sync writes these tables without Django, so every test here goes through raw SQL.
"""
from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from django.apps import apps
from django.db import DatabaseError, IntegrityError, connection, transaction

HISTORY_COLUMNS = "(lead_id, sync_type, sync_direction, sync_status)"


def one(sql: str, params: Any = None) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def execute(sql: str, params: Any = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def lead_id(db) -> UUID:
    return one("INSERT INTO leads (email) VALUES ('raw@example.com') RETURNING id")[0]


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("sync_status", "'unknown'", "leads_sync_status_valid"),
        ("sync_direction", "'sideways'", "leads_sync_direction_valid"),
        ("sync_error_count", "-1", "leads_sync_error_count_non_negative"),
        ("lead_score", "101", "leads_lead_score_range"),
        ("lead_score", "-1", "leads_lead_score_range"),
        ("segment_confidence", "1.5", "leads_segment_confidence_range"),
        ("segment_confidence", "-0.1", "leads_segment_confidence_range"),
    ],
)
def test_leads_reject_bad_rows_naming_the_constraint(db, column, value, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        execute(f"INSERT INTO leads (email, {column}) VALUES ('bad@example.com', {value})")


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ("'scheduled', 'twenty_to_supabase', 'pending'", "lead_sync_history_sync_status_valid"),
        ("'cron', 'twenty_to_supabase', 'synced'", "lead_sync_history_sync_type_valid"),
        ("'scheduled', 'bidirectional', 'synced'", "lead_sync_history_sync_direction_valid"),
    ],
)
def test_history_rejects_bad_rows_naming_the_constraint(lead_id, values, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        execute(f"INSERT INTO lead_sync_history {HISTORY_COLUMNS} VALUES (%s, {values})", [lead_id])


def test_history_rejects_an_unknown_lead(db):
    # Django makes foreign keys DEFERRABLE INITIALLY DEFERRED: check now, not at commit.
    with pytest.raises(IntegrityError, match="lead_sync_history_lead_id"), transaction.atomic():
        execute("SET CONSTRAINTS ALL IMMEDIATE")
        execute(
            f"INSERT INTO lead_sync_history {HISTORY_COLUMNS} VALUES (gen_random_uuid(), 'manual', "
            "'twenty_to_supabase', 'synced')"
        )


def test_boundary_values_are_accepted(db):
    execute(
        "INSERT INTO leads (email, lead_score, segment_confidence, sync_error_count) VALUES "
        "('low@example.com', 0, 0, 0), ('high@example.com', 100, 1, 99)"
    )
    assert one("SELECT count(*) FROM leads")[0] == 2


def test_twenty_id_is_unique(db):
    execute("INSERT INTO leads (twenty_id) VALUES ('tw-1')")
    with pytest.raises(IntegrityError, match="twenty_id"), transaction.atomic():
        execute("INSERT INTO leads (twenty_id) VALUES ('tw-1')")


def test_rows_from_other_programs_get_database_defaults(db):
    lead = one(
        "INSERT INTO leads (email) VALUES ('n8n@example.com') "
        "RETURNING id, sync_status, sync_direction, sync_error_count, created_at, updated_at, now()"
    )
    lead_id, status, direction, errors, created_at, updated_at, now = lead
    assert isinstance(lead_id, UUID)
    assert (status, direction, errors) == ("pending", "bidirectional", 0)
    # Django's db_default=Now() is statement_timestamp(): the INSERT's own time.
    assert created_at == updated_at
    assert timedelta(0) <= created_at - now < timedelta(minutes=1)
    attempt = one(
        f"INSERT INTO lead_sync_history {HISTORY_COLUMNS} VALUES (%s, 'webhook_update', 'supabase_to_twenty', "
        "'synced') RETURNING id, created_at, synced_at, now()",
        [lead_id],
    )
    assert isinstance(attempt[0], int)
    assert attempt[1] == attempt[2] and attempt[1] >= attempt[3]
    segment = one("INSERT INTO customer_segments (segment_name) VALUES ('Raw') RETURNING id, created_at")
    assert isinstance(segment[0], UUID) and segment[1] is not None


def test_timestamps_are_timestamptz(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_name IN ('leads', 'lead_sync_history', 'customer_segments') AND column_name LIKE '%%_at'"
        )
        types = {(t, c): d for t, c, d in cursor.fetchall()}
    assert types and set(types.values()) == {"timestamp with time zone"}


def test_trigger_bumps_updated_at_on_a_raw_update(lead_id):
    execute("UPDATE leads SET updated_at = now() - interval '1 day' WHERE id = %s", [lead_id])
    assert one("SELECT now() - updated_at FROM leads WHERE id = %s", [lead_id])[0] == timedelta(days=1)
    execute("UPDATE leads SET phone = '+1 555 0100' WHERE id = %s", [lead_id])
    assert one("SELECT updated_at = now() FROM leads WHERE id = %s", [lead_id])[0] is True


def test_trigger_keeps_an_explicit_updated_at(lead_id):
    execute("UPDATE leads SET phone = '1', updated_at = '2020-01-01T00:00:00Z' WHERE id = %s", [lead_id])
    assert one("SELECT updated_at::date::text FROM leads WHERE id = %s", [lead_id])[0] == "2020-01-01"


def test_trigger_sets_sync_started_at_on_entering_syncing(lead_id):
    assert one("SELECT sync_started_at FROM leads WHERE id = %s", [lead_id])[0] is None
    execute("UPDATE leads SET sync_status = 'syncing' WHERE id = %s", [lead_id])
    assert one("SELECT sync_started_at = now() FROM leads WHERE id = %s", [lead_id])[0] is True
    # Another edit while syncing keeps the start (that is what "stuck" is measured from).
    execute("UPDATE leads SET sync_started_at = now() - interval '1 hour' WHERE id = %s", [lead_id])
    execute("UPDATE leads SET phone = '2' WHERE id = %s", [lead_id])
    assert one("SELECT now() - sync_started_at FROM leads WHERE id = %s", [lead_id])[0] == timedelta(hours=1)
    # Leaving 'syncing' clears it.
    execute("UPDATE leads SET sync_status = 'synced' WHERE id = %s", [lead_id])
    assert one("SELECT sync_started_at FROM leads WHERE id = %s", [lead_id])[0] is None


def test_trigger_sets_sync_started_at_when_inserted_syncing(db):
    started = one("INSERT INTO leads (sync_status) VALUES ('syncing') RETURNING sync_started_at = updated_at")[0]
    assert started is True


def test_every_index_exists_with_a_comment_naming_its_reader(db):
    migration = importlib.import_module("monitoring.migrations.0002_triggers_and_indexes")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c WHERE c.relkind = 'i' "
            "AND c.relname = ANY(%s)",
            [[name for name, _definition, _why in migration.INDEXES]],
        )
        comments = dict(cursor.fetchall())
    assert set(comments) == {name for name, _definition, _why in migration.INDEXES}
    assert all(comments.values())


def test_the_specs_two_indexes_have_the_specs_columns(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN "
            "('idx_sync_history_monitoring', 'idx_leads_sync_monitoring')"
        )
        definitions = dict(cursor.fetchall())
    assert definitions["idx_sync_history_monitoring"].endswith("(synced_at DESC, sync_status)")
    assert definitions["idx_leads_sync_monitoring"].endswith("(sync_status, last_synced_at)")


def test_unmanaged_models_read_their_views(sync_dataset):
    models = [m for m in apps.get_app_config("monitoring").get_models() if not m._meta.managed]
    assert {m._meta.db_table for m in models} >= {
        "lead_sync_health_dashboard", "real_time_sync_activity", "sync_monitoring", "lead_analytics",
        "lead_sync_daily_summary",
    }
    counts = {m._meta.db_table: m.objects.count() for m in models}
    assert counts["lead_sync_health_dashboard"] == 1
    assert counts["real_time_sync_activity"] == 5
    assert counts["sync_monitoring"] == 5
    assert counts["lead_sync_daily_summary"] == 0  # until refreshed


def test_daily_summary_model_gives_aware_datetimes(sync_dataset):
    # Foundation bug fixed by migration 0010: sync_date was a naive `timestamp` under USE_TZ.
    from monitoring.models import LeadSyncDailySummary

    execute("SELECT refresh_daily_summary()")
    days = list(LeadSyncDailySummary.objects.values_list("sync_date", flat=True))
    assert days and all(day.tzinfo is not None and day.utcoffset().total_seconds() == 0 for day in days)


@pytest.mark.parametrize(
    "table",
    ["lead_sync_health_dashboard", "real_time_sync_activity", "sync_monitoring", "lead_analytics",
     "lead_sync_daily_summary"],
)
def test_models_over_views_are_read_only(sync_dataset, table):
    # The views aggregate or join: PostgreSQL itself refuses a write through any of their models.
    execute("SELECT refresh_daily_summary()")
    model = next(m for m in apps.get_app_config("monitoring").get_models() if m._meta.db_table == table)
    row = model.objects.first()
    refused = f'cannot (update view|delete from view|change materialized view) "{table}"'
    with pytest.raises(DatabaseError, match=refused), transaction.atomic():
        row.save()
    with pytest.raises(DatabaseError, match=refused), transaction.atomic():
        model.objects.all().delete()
    assert model.objects.count() > 0


@pytest.mark.django_db
def test_history_conflicts_have_an_index_in_the_admins_list_order():
    """The history admin's "status: conflict" filter reads a partial index in list order (0300)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_sync_history_conflicts'")
        (definition,) = cursor.fetchone()
    assert "(synced_at DESC, id DESC)" in definition
    assert "WHERE ((sync_status)::text = 'conflict'::text)" in definition
