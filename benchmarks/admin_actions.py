"""Time the lead repair actions on 10,000 selected leads (and the lead changelist on a big table).

    DATABASE_URL=... REDIS_URL=... .venv/bin/python benchmarks/admin_actions.py [--leads 10000] [--background 1000000]

Each step runs in its own committed transaction, as in production (a single rolled-back
transaction would time its own dead row versions and never run the deferred foreign-key checks).
The seeded leads (job_title 'benchmark'), their history, the admin log entries and the benchmark
user are deleted at the end, also after a failure.

--background N adds N other leads first, so the selection is found in a realistically big table and
the changelist timings show what an operator waits for at that size.
"""
from __future__ import annotations

import argparse
import os
import statistics
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
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from monitoring.models import Lead  # noqa: E402
from monitoring.services.leads import clear_error_counts, reset_stuck_leads, resolve_conflicts, retry_leads  # noqa: E402

SOURCE = "bench-selected"
MARK = "benchmark"  # job_title of every seeded lead
USERNAME = "benchmark-admin"


def _sql(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _seed(*, leads: int, background: int) -> None:
    if background:
        _sql(
            """
            INSERT INTO leads (first_name, last_name, email, company_name, job_title, lead_source, sync_status,
                               sync_error_count, created_at, twenty_id)
            SELECT 'Bg', 'Lead ' || g, 'bg' || g || '@example.com', 'Company ' || (g %% 5000), %s,
                   (ARRAY['website','referral','linkedin','event','ads'])[1 + g %% 5],
                   (ARRAY['synced','synced','synced','synced','pending','error','conflict','syncing'])[1 + g %% 8],
                   g %% 9, now() - (g %% 100000) * interval '5 minutes',
                   CASE WHEN g %% 3 = 0 THEN NULL ELSE 'tw-bg-' || g END
            FROM generate_series(1, %s) g
            """,
            [MARK, background],
        )
    _sql(
        """
        INSERT INTO leads (first_name, last_name, email, job_title, lead_source, sync_status, sync_error_count,
                           sync_error_message, sync_direction)
        SELECT 'Bench', 'Lead ' || g, 'bench' || g || '@example.com', %s, %s, 'error', 2, 'Twenty API 500',
               (ARRAY['bidirectional','twenty_to_supabase','supabase_to_twenty'])[1 + g %% 3]
        FROM generate_series(1, %s) g
        """,
        [MARK, SOURCE, leads],
    )
    _sql("VACUUM ANALYZE leads")


def _backend_cpu_ms() -> float | None:
    """CPU time the PostgreSQL backend of this connection has used, if the server runs on this machine.

    Unlike the wall clock it hardly moves with the load other work puts on a shared machine.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")  # utime + stime


def _cleanup() -> None:
    _sql("DELETE FROM lead_sync_history WHERE lead_id IN (SELECT id FROM leads WHERE job_title = %s)", [MARK])
    # lead_repairs has no foreign key to leads (the audit outlives a lead): delete them explicitly.
    _sql("DELETE FROM lead_repairs WHERE lead_id IN (SELECT id FROM leads WHERE job_title = %s)", [MARK])
    _sql("DELETE FROM leads WHERE job_title = %s", [MARK])
    _sql("DELETE FROM django_admin_log WHERE user_id IN (SELECT id FROM auth_user WHERE username = %s)", [USERNAME])
    User.objects.filter(username=USERNAME).delete()
    _sql("VACUUM ANALYZE leads")


# State every step starts from (committed before each run, not timed).
INITIAL = "UPDATE leads SET sync_status = 'error', sync_error_count = 2, sync_direction = 'bidirectional' WHERE lead_source = %s"
STUCK = "UPDATE leads SET sync_status = 'syncing', sync_started_at = now() - interval '30 minutes' WHERE lead_source = %s"
CONFLICT = "UPDATE leads SET sync_status = 'conflict' WHERE lead_source = %s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=10_000, help="leads selected by every action")
    parser.add_argument("--background", type=int, default=0, help="other leads in the table")
    parser.add_argument("--repeat", type=int, default=5, help="runs per step (median and best are shown)")
    args = parser.parse_args()
    setup_test_environment()
    connection.set_autocommit(True)

    rows: list[tuple[str, str, str, str, str, str]] = []

    def measure(label: str, setup: str | None, fn: Callable[[], object]) -> None:
        """Median and best of --repeat runs, each from the same committed state."""
        timings, cpu, result = [], [], None
        for _ in range(args.repeat):
            _sql(INITIAL, [SOURCE])
            if setup:
                _sql(setup, [SOURCE])
            cpu_start = _backend_cpu_ms()
            start = time.perf_counter()
            result = fn()  # services commit their own transaction; pages run in autocommit
            timings.append((time.perf_counter() - start) * 1000)
            if cpu_start is not None:
                cpu.append(_backend_cpu_ms() - cpu_start)
        selected = getattr(result, "selected", None)
        changed = getattr(result, "updated", None)
        rows.append((
            label,
            "-" if selected is None else f"{selected:,}",
            "-" if changed is None else f"{changed:,}",
            f"{statistics.median(timings):,.0f}",
            f"{min(timings):,.0f}",
            f"{statistics.median(cpu):,.0f}" if cpu else "-",
        ))

    try:
        start = time.perf_counter()
        _seed(leads=args.leads, background=args.background)
        total = Lead.objects.count()
        print(f"seeded {args.leads:,} selected + {args.background:,} other leads ({total:,} in table) "
              f"in {(time.perf_counter() - start):,.0f} s")
        user = User.objects.create_superuser(USERNAME, "bench@example.com", None)
        selection = Lead.objects.filter(lead_source=SOURCE)  # "select all matching" a filter

        def baseline() -> None:
            # The floor on this machine: a bare UPDATE of the same rows plus a bare INSERT ... SELECT of
            # minimal history rows (no locking, no old values, no audit JSON, no admin log), one commit.
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("UPDATE leads SET sync_status = 'pending' WHERE lead_source = %s", [SOURCE])
                cursor.execute(
                    "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status) "
                    "SELECT id, 'manual', 'supabase_to_twenty', 'synced' FROM leads WHERE lead_source = %s",
                    [SOURCE],
                )
                cursor.execute("COMMIT")

        measure("baseline: bare UPDATE + INSERT", None, baseline)
        measure("retry_leads", None, lambda: retry_leads(leads=selection, user=user, reason="bench"))
        measure("clear_error_counts", None, lambda: clear_error_counts(leads=selection, user=user, reason="bench"))
        measure("reset_stuck_leads", STUCK, lambda: reset_stuck_leads(leads=selection, user=user, reason="bench"))
        measure(
            "resolve_conflicts", CONFLICT,
            lambda: resolve_conflicts(leads=selection, user=user, reason="bench", winner="twenty_to_supabase"),
        )

        # The admin round trip: confirmation page, then the confirmed POST ("select all" across a filter).
        client = Client()
        client.force_login(user)
        url = reverse("admin:monitoring_lead_changelist") + f"?source={SOURCE}"
        # The changelist posts the ids of the visible page plus select_across=1; one id is enough here.
        data = {"action": "retry_sync", ACTION_CHECKBOX_NAME: [str(selection.values_list("pk", flat=True)[0])],
                "select_across": "1"}

        def confirmation_page() -> None:
            assert client.post(url, {**data, "index": 0}).status_code == 200

        def confirmed_retry() -> None:
            assert client.post(url, {**data, "confirm": "yes", "reason": "bench"}).status_code == 302

        measure("admin: confirmation page", None, confirmation_page)
        measure("admin: confirmed retry (POST)", None, confirmed_retry)

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
            def page(q: str = query) -> None:
                assert client.get(changelist + q).status_code == 200

            page()  # warm caches
            measure(label, None, page)
    finally:
        _cleanup()

    print(f"load average after the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.repeat} runs per step")
    print()
    header = ("step", "selected", "changed", "median ms", "best ms", "backend CPU ms")
    widths = [max(len(r[i]) for r in [*rows, header]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    print("\n(seeded rows, their history, log entries and the benchmark user were deleted)")


if __name__ == "__main__":
    main()
