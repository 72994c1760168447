"""Time the lead repair actions on 10,000 selected leads (and the lead changelist on a big table).

Everything runs in one transaction that is rolled back at the end: the database is left as it was.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python benchmarks/admin_actions.py [--leads 10000] [--background 1000000]

--background N adds N other leads first, so the selection is found in a realistically big table and
the changelist timings show what an operator waits for at that size.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The test settings: plain http, no static manifest, throwaway secret; DATABASE_URL/REDIS_URL from the environment.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadsync_portal.settings_test")

import django  # noqa: E402

django.setup()

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from monitoring.models import Lead  # noqa: E402
from monitoring.services.leads import clear_error_counts, reset_stuck_leads, resolve_conflicts, retry_leads  # noqa: E402

SOURCE = "bench-selected"


class Rollback(Exception):
    pass


def _sql(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _count(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - start) * 1000


def _seed(*, leads: int, background: int) -> None:
    if background:
        _sql(
            """
            INSERT INTO leads (first_name, last_name, email, company_name, lead_source, sync_status,
                               sync_error_count, created_at, twenty_id)
            SELECT 'Bg', 'Lead ' || g, 'bg' || g || '@example.com', 'Company ' || (g %% 5000),
                   (ARRAY['website','referral','linkedin','event','ads'])[1 + g %% 5],
                   (ARRAY['synced','synced','synced','synced','pending','error','conflict','syncing'])[1 + g %% 8],
                   g %% 9, now() - (g %% 100000) * interval '5 minutes',
                   CASE WHEN g %% 3 = 0 THEN NULL ELSE 'tw-bg-' || g END
            FROM generate_series(1, %s) g
            """,
            [background],
        )
    _sql(
        """
        INSERT INTO leads (first_name, last_name, email, lead_source, sync_status, sync_error_count,
                           sync_error_message, sync_direction)
        SELECT 'Bench', 'Lead ' || g, 'bench' || g || '@example.com', %s, 'error', 2, 'Twenty API 500',
               (ARRAY['bidirectional','twenty_to_supabase','supabase_to_twenty'])[1 + g %% 3]
        FROM generate_series(1, %s) g
        """,
        [SOURCE, leads],
    )
    _sql("ANALYZE leads; ANALYZE lead_sync_history")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=10_000, help="leads selected by every action")
    parser.add_argument("--background", type=int, default=0, help="other leads in the table")
    args = parser.parse_args()
    setup_test_environment()

    rows: list[tuple[str, str, str, str]] = []
    try:
        with transaction.atomic():
            _, seed_ms = _timed(lambda: _seed(leads=args.leads, background=args.background))
            total = _count("SELECT count(*) FROM leads")
            print(f"seeded {args.leads:,} selected + {args.background:,} other leads ({total:,} in table) in {seed_ms:,.0f} ms")
            user = User.objects.create_superuser("bench-admin", "bench@example.com", None)
            selection = Lead.objects.filter(lead_source=SOURCE)  # "select all matching" a filter
            history_before = _count("SELECT count(*) FROM lead_sync_history")

            def record(label: str, fn: Callable[[], object]) -> None:
                def run() -> object:
                    result = fn()
                    # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: their checks would run at
                    # COMMIT, which this rolled-back run never reaches. Fire them now, inside the timing.
                    _sql("SET CONSTRAINTS ALL IMMEDIATE")
                    _sql("SET CONSTRAINTS ALL DEFERRED")
                    return result

                result, ms = _timed(run)
                rows.append((label, f"{result.selected:,}", f"{result.updated:,}", f"{ms:,.0f}"))

            # The floor on this machine: a bare UPDATE of the same rows plus a bare INSERT ... SELECT of
            # minimal history rows (no locking, no old values, no audit JSON), with their FK checks.
            def baseline() -> None:
                _sql("UPDATE leads SET sync_status = 'pending' WHERE lead_source = %s", [SOURCE])
                _sql(
                    "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status) "
                    "SELECT id, 'manual', 'supabase_to_twenty', 'synced' FROM leads WHERE lead_source = %s",
                    [SOURCE],
                )
                _sql("SET CONSTRAINTS ALL IMMEDIATE")
                _sql("SET CONSTRAINTS ALL DEFERRED")

            sid = transaction.savepoint()
            _, base_ms = _timed(baseline)
            transaction.savepoint_rollback(sid)
            rows.append(("baseline: bare UPDATE + INSERT", f"{args.leads:,}", f"{args.leads:,}", f"{base_ms:,.0f}"))

            record("retry_leads", lambda: retry_leads(leads=selection, user=user, reason="bench"))
            record("clear_error_counts", lambda: clear_error_counts(leads=selection, user=user, reason="bench"))
            _sql("UPDATE leads SET sync_status = 'syncing', sync_started_at = now() - interval '30 minutes' WHERE lead_source = %s", [SOURCE])
            record("reset_stuck_leads", lambda: reset_stuck_leads(leads=selection, user=user, reason="bench"))
            _sql("UPDATE leads SET sync_status = 'conflict' WHERE lead_source = %s", [SOURCE])
            record(
                "resolve_conflicts",
                lambda: resolve_conflicts(leads=selection, user=user, reason="bench", winner="twenty_to_supabase"),
            )
            written = _count("SELECT count(*) FROM lead_sync_history") - history_before
            logged = _count(f"SELECT count(*) FROM django_admin_log WHERE user_id = {user.pk}")  # noqa: S608

            # The whole admin round trip: confirmation page, then the confirmed POST (select across a filter).
            client = Client()
            client.force_login(user)
            url = reverse("admin:monitoring_lead_changelist") + f"?source={SOURCE}"
            _sql("UPDATE leads SET sync_status = 'error' WHERE lead_source = %s", [SOURCE])
            # The changelist posts the ids of the visible page plus select_across=1; one id is enough here.
            data = {
                "action": "retry_sync",
                ACTION_CHECKBOX_NAME: [str(selection.values_list("pk", flat=True)[0])],
                "select_across": "1",
            }
            page, page_ms = _timed(lambda: client.post(url, {**data, "index": 0}))
            assert page.status_code == 200, page.status_code
            rows.append(("admin: confirmation page", f"{args.leads:,}", "-", f"{page_ms:,.0f}"))
            done, done_ms = _timed(lambda: client.post(url, {**data, "confirm": "yes", "reason": "bench"}))
            assert done.status_code == 302, done.status_code
            rows.append(("admin: confirmed retry (POST)", f"{args.leads:,}", f"{args.leads:,}", f"{done_ms:,.0f}"))

            changelist = reverse("admin:monitoring_lead_changelist")
            for label, query in [
                ("changelist: unfiltered", ""),
                ("changelist: status=error", "?sync_status__exact=error"),
                ("changelist: stuck > 10 min", "?stuck=yes"),
                ("changelist: stale pending", "?stale=yes"),
                ("changelist: quarantined", "?errors=quarantined"),
                ("changelist: source=referral", "?source=referral"),
                ("changelist: search e-mail", "?q=bg4242@example.com"),
                ("changelist: search broad (most rows)", "?q=company"),
                ("changelist: search Twenty id", "?q=tw-bg-4242"),
                ("changelist: date hierarchy year", f"?created_at__year={time.gmtime().tm_year}"),
            ]:
                client.get(changelist + query)  # warm caches
                response, ms = _timed(lambda: client.get(changelist + query))
                assert response.status_code == 200, (query, response.status_code)
                rows.append((label, "-", "-", f"{ms:,.0f}"))
            raise Rollback
    except Rollback:
        pass

    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"history rows written by the 4 services: {written:,}; admin log entries: {logged:,}")
    print()
    widths = [max(len(r[i]) for r in rows + [("step", "selected", "changed", "ms")]) for i in range(4)]
    header = ("step", "selected", "changed", "ms")
    print(" | ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    print("\n(rolled back: the database is unchanged)")


if __name__ == "__main__":
    main()
