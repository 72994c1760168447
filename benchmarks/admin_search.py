"""Time every admin search and filter on the three sync tables against a big seeded database.

    DATABASE_URL=postgres://.../leadsync_bench_d REDIS_URL=... .venv/bin/python benchmarks/admin_search.py \\
        [--runs 3] [--budget-ms 1000]

Run it on a database filled by `manage.py seed_demo --leads 1000000 --history 10000000` (issue 11:
"every admin search and filter answers within a stated budget at 1M leads / 10M history"). Each
changelist request goes through the whole admin (Django test client, a logged-in superuser: the
widest view), once to warm up and then --runs times; the table shows the HTTP status, the median
and slowest whole request, the database time of the slowest run (the sum of its queries' times:
what a search or filter costs, apart from rendering 100 rows, which on a loaded 2-core machine is
most of the rest) and whether that database time is within the budget. Exits 1 if any case is over.
The benchmark user is deleted at the end.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadsync_portal.settings_test")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from monitoring.models import CustomerSegment, Lead  # noqa: E402

USERNAME = "benchmark-admin-search"
LEADS = "/admin/monitoring/lead/"
HISTORY = "/admin/monitoring/leadsynchistory/"
SEGMENTS = "/admin/monitoring/customersegment/"


def cases() -> list[tuple[str, str, dict[str, str]]]:
    """(label, changelist, query) with ids and words taken from the seeded data."""
    lead = Lead.objects.exclude(twenty_id=None).exclude(email=None).order_by("pk").first()
    error_lead = Lead.objects.filter(sync_status="error").order_by("pk").first()
    segment = CustomerSegment.objects.order_by("segment_name").first()
    return [
        ("leads: list", LEADS, {}),
        ("leads: q=<lead id>", LEADS, {"q": str(lead.pk)}),
        ("leads: q=<Twenty id>", LEADS, {"q": lead.twenty_id}),
        ("leads: q=<e-mail>", LEADS, {"q": lead.email}),
        ("leads: q=<last name>", LEADS, {"q": lead.last_name or "smith"}),
        ("leads: q=rate limit", LEADS, {"q": "rate limit"}),
        ("leads: q=zqxj (no match)", LEADS, {"q": "zqxj"}),
        ("leads: q=a (one letter)", LEADS, {"q": "a"}),
        ("leads: q=5 one-letter words", LEADS, {"q": "a e i o u"}),
        ("leads: q='a ' x 200 (over the cap)", LEADS, {"q": "a " * 200}),
        ("leads: status=error", LEADS, {"sync_status__exact": "error"}),
        ("leads: direction", LEADS, {"sync_direction__exact": "twenty_to_supabase"}),
        ("leads: source=website", LEADS, {"source": "website"}),
        ("leads: segment", LEADS, {"segment__id__exact": str(segment.pk)}),
        ("leads: not in Twenty", LEADS, {"in_twenty": "no"}),
        ("leads: quarantined", LEADS, {"errors": "quarantined"}),
        ("leads: errors 1..5", LEADS, {"errors": "low"}),
        ("leads: stuck", LEADS, {"stuck": "yes"}),
        ("leads: stale", LEADS, {"stale": "yes"}),
        ("leads: created year+month", LEADS, {"created_at__year": str(lead.created_at.year),
                                               "created_at__month": str(lead.created_at.month)}),
        ("leads: status=error + q=rate", LEADS, {"sync_status__exact": "error", "q": "rate"}),
        ("leads: sync_status=%00", LEADS, {"sync_status__exact": "\x00"}),
        ("history: list", HISTORY, {}),
        ("history: q=<lead id>", HISTORY, {"q": str(error_lead.pk)}),
        ("history: q=<Twenty id>", HISTORY, {"q": lead.twenty_id}),
        ("history: q=<e-mail>", HISTORY, {"q": lead.email}),
        ("history: q=rate limit", HISTORY, {"q": "rate limit"}),
        ("history: q=timeout", HISTORY, {"q": "timeout"}),
        ("history: q=zqxj (no match)", HISTORY, {"q": "zqxj"}),
        ("history: q=5 one-letter words", HISTORY, {"q": "a e i o u"}),
        ("history: q='a ' x 900 (over the cap)", HISTORY, {"q": "a " * 900}),
        ("history: lead__id__exact", HISTORY, {"lead__id__exact": str(error_lead.pk)}),
        ("history: finished last hour", HISTORY, {"within": "1h"}),
        ("history: finished 24 h", HISTORY, {"within": "24h"}),
        ("history: status=error", HISTORY, {"sync_status__exact": "error"}),
        ("history: status=conflict", HISTORY, {"sync_status__exact": "conflict"}),
        ("history: type=retry", HISTORY, {"sync_type__exact": "retry"}),
        ("history: direction", HISTORY, {"sync_direction__exact": "supabase_to_twenty"}),
        ("history: 1h + error + q=rate", HISTORY, {"within": "1h", "sync_status__exact": "error", "q": "rate"}),
        ("segments: list", SEGMENTS, {}),
        ("segments: q=<name>", SEGMENTS, {"q": segment.segment_name}),
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--budget-ms", type=float, default=500.0, help="database time per request")
    parser.add_argument("--only", default="", help="run only the cases whose label starts with this")
    args = parser.parse_args()
    setup_test_environment()
    User.objects.filter(username=USERNAME).delete()
    User.objects.create_superuser(USERNAME, f"{USERNAME}@example.com", "x")
    client = Client()
    client.force_login(User.objects.get(username=USERNAME))
    over = 0
    try:
        print(f"leads {Lead.objects.count():,}, load average {os.getloadavg()[0]:.2f} at start")
        print(f"| case | status | request median ms | request slowest ms | database ms | database within {args.budget_ms:.0f} ms |")
        print("|---|---|---|---|---|---|")
        for label, url, query in cases():
            if not label.startswith(args.only):
                continue
            target = f"{url}?{urlencode(query)}" if query else url
            client.get(target)  # warm: plans, caches, connection pool
            timings, database = [], []
            for _ in range(args.runs):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    response = client.get(target)
                    timings.append((time.perf_counter() - started) * 1000)
                database.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
            ok = max(database) <= args.budget_ms and response.status_code < 500
            over += not ok
            print(f"| {label} | {response.status_code} | {statistics.median(timings):.0f} | {max(timings):.0f} | "
                  f"{max(database):.0f} | {'yes' if ok else 'NO'} |", flush=True)
        print(f"load average {os.getloadavg()[0]:.2f} at the end; {over} case(s) over the budget")
    finally:
        User.objects.filter(username=USERNAME).delete()
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
