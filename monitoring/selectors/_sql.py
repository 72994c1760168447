"""Run a read-only query and get rows as dicts: the one way selectors talk raw SQL."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection

# Django registers a text loader for json/jsonb on its connections (JSONField decodes values
# itself), so raw rows would carry JSON as strings; decode those columns here, once for all.
_JSON_TYPE_OIDS = {114, 3802}  # json, jsonb


def fetch_all(sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [col.name for col in cursor.description]
        json_columns = [col.name for col in cursor.description if col.type_code in _JSON_TYPE_OIDS]
        rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
    for row in rows:
        for name in json_columns:
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
    return rows


def fetch_one(sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    rows = fetch_all(sql, params)
    return rows[0] if rows else None
