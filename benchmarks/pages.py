"""Time every portal page against a big database: p50/p95 ms cold and warm, and queries per page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadsync_bench REDIS_URL=redis://127.0.0.1:6379/3 \
        .venv/bin/python benchmarks/pages.py [--runs 15] [--ttl 180] [URL ...]

"cold" = the selector snapshots were just dropped (every snapshotted selector recomputes), "warm" =
served as a viewer sees it most of the time (snapshots present, refreshed each minute by beat).
The database is only read: every session is SET to read-only, so a write would fail loudly. That is
also why requests go through RequestFactory with an in-memory staff superuser instead of a logged-in
test Client (logging in writes a session row and last_login); the view, its templates and every
context processor still run, only the session/auth middleware is skipped.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadsync_portal.settings_test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadsync_bench")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402
from django.test import RequestFactory, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import resolve, reverse  # noqa: E402

from monitoring import selectors  # noqa: E402
from monitoring.navigation import NAVIGATION  # noqa: E402
from monitoring.selectors import snapshots  # noqa: E402


def _read_only(sender, connection, **kwargs):  # noqa: ANN001
    with connection.cursor() as cursor:
        cursor.execute("SET default_transaction_read_only = on")


connection_created.connect(_read_only)


def pages() -> list[str]:
    urls = [reverse(name) for name, _label in NAVIGATION]
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM leads WHERE sync_status = 'error' ORDER BY sync_error_count DESC LIMIT 1")
        row = cursor.fetchone()
    if row:
        urls.append(reverse("monitoring:lead-detail", args=[row[0]]))
    urls += [
        reverse("monitoring:errors") + "?q=rate+limit",
        reverse("monitoring:errors") + "?page=3&sort=-last_synced_at",
        reverse("monitoring:leads") + "?sync_status=pending&page=2",
        reverse("monitoring:activity-data"),
    ]
    groups = selectors.error_groups()
    if groups:  # the drill-down from the biggest error group
        urls.append(reverse("monitoring:leads") + "?" + urlencode({"error_group": groups[0]["fingerprint"]}))
    return urls


def request_once(factory: RequestFactory, user: User, url: str) -> tuple[float, int, int]:
    request = factory.get(url)
    request.user = user
    match = resolve(request.path_info)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = match.func(request, *match.args, **match.kwargs)
        if hasattr(response, "render"):
            response.render()
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, len(queries), response.status_code


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--ttl", type=int, default=int(os.environ.get("SELECTOR_SNAPSHOT_TTL", 180)))
    parser.add_argument("urls", nargs="*", help="time only these URLs (default: every page)")
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["*"]  # RequestFactory host; no test instrumentation of templates
    factory = RequestFactory()
    user = User(username="bench", is_staff=True, is_superuser=True, is_active=True)
    with override_settings(SELECTOR_SNAPSHOT_TTL=args.ttl):
        with connection.cursor() as cursor:
            cursor.execute("SELECT (SELECT COUNT(*) FROM leads), (SELECT reltuples::bigint FROM pg_class WHERE relname = 'lead_sync_history')")
            leads, history = cursor.fetchone()
        print(f"database {settings.DATABASES['default']['NAME']}: {leads} leads, ~{history} history rows; "
              f"snapshot TTL {args.ttl} s; {args.runs} runs per page\n")
        header = f"{'page':<48} {'cold p50':>9} {'cold p95':>9} {'warm p50':>9} {'warm p95':>9} {'queries':>8} {'status':>6}"
        print(header)
        print("-" * len(header))
        for url in args.urls or pages():
            cold, warm = [], []
            queries = status = 0
            for _ in range(args.runs):
                cache.delete_many(_snapshot_keys())
                elapsed, _q, status = request_once(factory, user, url)
                cold.append(elapsed)
            for _ in range(args.runs):
                elapsed, queries, status = request_once(factory, user, url)
                warm.append(elapsed)
            print(f"{url[:48]:<48} {percentile(cold, 50):9.1f} {percentile(cold, 95):9.1f} "
                  f"{percentile(warm, 50):9.1f} {percentile(warm, 95):9.1f} {queries:>8} {status:>6}")


def _snapshot_keys() -> list[str]:
    """Every snapshot key the registered selectors use with their default arguments."""
    return [snapshots._key(name, (), {}) for name in snapshots.REGISTRY]


if __name__ == "__main__":
    main()
