"""Hand-built history rows for the maintenance tests (plain SQL, so thousands cost milliseconds)."""
from __future__ import annotations

from datetime import datetime

import psycopg
from django.db import connection

from monitoring.models import Lead


def make_lead(name: str = "Ada") -> Lead:
    return Lead.objects.create(first_name=name, email=f"{name.lower()}@example.com")


def insert_history(lead: Lead, synced_at: datetime, *, count: int = 1, table: str = "lead_sync_history") -> list[int]:
    """Insert `count` attempts of `lead` finished at `synced_at` (one second long); returns their ids."""
    id_column = "" if table == "lead_sync_history" else "id, "
    id_value = "" if table == "lead_sync_history" else "nextval('lead_sync_history_id_seq'), "
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} ({id_column}lead_id, sync_type, sync_direction, sync_status, fields_changed,
                                 error_message, created_at, synced_at)
            SELECT {id_value}%(lead)s, 'scheduled', 'twenty_to_supabase',
                   CASE WHEN n %% 3 = 0 THEN 'error' ELSE 'synced' END,
                   jsonb_build_object('n', n), CASE WHEN n %% 3 = 0 THEN 'Twenty API 429' END,
                   %(at)s - interval '1 second', %(at)s
            FROM generate_series(1, %(count)s) AS n
            RETURNING id
            """,
            {"lead": lead.pk, "at": synced_at, "count": count},
        )
        return [row[0] for row in cursor.fetchall()]


def ids(table: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def rows(table: str, columns: str = "id, lead_id, sync_type, sync_direction, sync_status, fields_changed, "
         "error_message, created_at, synced_at") -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} ORDER BY id")
        return cursor.fetchall()


def second_connection() -> psycopg.Connection:
    """A separate session on the test database: another reader, or another worker."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)
