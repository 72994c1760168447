"""Every page, the API and the alert check at two sizes, side by side: spec SQL, old live path, rollups.

    REDIS_URL=redis://127.0.0.1:6379/6 SECRET_KEY=bench .venv/bin/python benchmarks/pages.py \
        [--databases leadsync_bench_small leadsync_bench_big_rate] [--seed] [--runs 30] [--old-runs 3] \
        [--rollups-only] [--no-background]

Each database is a migrated, seeded one (--seed creates and seeds both when neither exists). The growth the issue asks about is the table size's at the
same write rate, so the big one is the small one with nine older copies behind it (the last 60 days
hold exactly the same rows; see docs/performance.md):

    seed_demo --leads 100000 --history 1000000 --days 60 --now 2026-12-01T06:00:00+00:00
    seed_demo --leads 100000 --history 1000000 --days 60 --now 2026-12-01T06:00:00+00:00 --older-copies 9

then VACUUM ANALYZE on both. (`--leads 1000000 --history 10000000 --days 60` grows the write rate
ten times with the table instead.) Per item it times:
- "spec SQL": the spec's own queries for what the item shows, straight on the tables;
- "old live": the selectors as they were before the rollups (loaded from git at BEFORE_ROLLUPS,
  snapshots off), i.e. what a page cost live when its snapshot was missing; for the range pages
  (Performance, Lead flow, Error groups at a preset), the ranges.py readers at
  BEFORE_RANGE_ROLLUPS, which read the rows of the range;
- "rollups": the item as it is now: a GET through Django's whole request handler and middleware,
  logged in by a session cookie (the API by a bearer token), for a page, the API or /metrics; or
  every enabled alert rule evaluated.
The rollup path is timed interleaved: each of the --runs rounds times every database once, in
turn, each on a connection of its own kept open (as a worker's pooled connection: plans and
prepared statements carry over) after one untimed warm-up call, so load that comes and goes
during the run hits both sizes alike. It prints p50/p95 in ms and the backend CPU ms of one run (CPU time of the PostgreSQL backend,
steadier than wall time on a shared machine), the growth ratio small -> big of the rollup path,
and the background database CPU per minute: old = one snapshot refresh (every minute) + 1/60
of the daily-summary rebuild (hourly); new = 12 compactions at rest + 1/60 of the (now cheap)
daily-summary refresh. Sessions are read-only except for the background measurements, which
run on a copy made with CREATE DATABASE ... TEMPLATE, and for the login the page requests carry:
make_credentials() writes a user "bench", a session and an API token into each database first.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadsync_portal.settings_test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadsync_bench_f")
os.environ["DATABASE_POOL"] = "0"  # switching databases must really close connections

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import reverse  # noqa: E402

from prometheus_client import generate_latest  # noqa: E402

from monitoring.prometheus import registry as prometheus_registry  # noqa: E402
from monitoring.selectors import metrics as metric_payload  # noqa: E402

READ_ONLY = {"on": True}


def _read_only(sender, connection, **kwargs):  # noqa: ANN001
    if READ_ONLY["on"]:
        with connection.cursor() as cursor:
            cursor.execute("SET default_transaction_read_only = on")


connection_created.connect(_read_only)


# The last commits before the rollups: the whole-table selectors (ee5f708 made them read the rollups)
# and the range pages' readers of raw rows (8f5c43f moved them onto the rollups).
BEFORE_ROLLUPS = "ee5f708^"
BEFORE_RANGE_ROLLUPS = "8f5c43f^"


def legacy(module: str, commit: str = BEFORE_ROLLUPS) -> types.ModuleType:
    """monitoring/selectors/<module>.py as it was at `commit`, importable beside today's code."""
    source = subprocess.run(
        ["git", "show", f"{commit}:monitoring/selectors/{module}.py"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout
    mod = types.ModuleType(f"monitoring.selectors.legacy_{module}")
    mod.__package__ = "monitoring.selectors"
    sys.modules[mod.__name__] = mod
    exec(compile(source, f"{commit}:monitoring/selectors/{module}.py", "exec"), mod.__dict__)
    return mod


OLD = legacy("dashboard")
OLD_METRICS = legacy("metrics")
OLD_RANGES = legacy("ranges", BEFORE_RANGE_ROLLUPS)  # the range pages' readers before they read the rollups (raw rows of the range)


def old_range(reader: str, key: str) -> Callable[[], Any]:
    """What a range page's reader cost before the rollups, for the preset `key`."""
    return lambda: getattr(OLD_RANGES, reader)(OLD_RANGES.parse_range({"range": key}, default="24h"))


def spec_range(sql: str, key: str) -> str:
    """The spec's query for a range page over the preset `key` (the spec's own windows are 24 h / 7 d)."""
    span = {"1h": "1 hour", "6h": "6 hours", "24h": "24 hours", "7d": "7 days", "30d": "30 days"}[key]
    return sql.replace("INTERVAL '24 hours'", f"INTERVAL '{span}'").replace("INTERVAL '7 days'", f"INTERVAL '{span}'")

SPEC_HEALTH = "SELECT * FROM lead_sync_health_dashboard"
SPEC_STATUS = """SELECT sync_status, COUNT(*) as lead_count, ROUND(COUNT(*) * 100.0 / SUM(COUNT(*)) OVER (), 2) as percentage,
    MAX(last_synced_at) as last_sync_time, ROUND(AVG(sync_error_count), 2) as avg_errors
    FROM leads GROUP BY sync_status ORDER BY lead_count DESC"""
SPEC_HOURLY = """SELECT DATE_TRUNC('hour', synced_at) as sync_hour, COUNT(*) as syncs_completed,
    COUNT(*) FILTER (WHERE sync_status = 'error') as sync_errors,
    ROUND(AVG(EXTRACT(EPOCH FROM (synced_at - created_at))), 2) as avg_sync_time_seconds
    FROM lead_sync_history WHERE synced_at > NOW() - INTERVAL '24 hours' GROUP BY sync_hour ORDER BY sync_hour DESC"""
SPEC_FLOW = """SELECT DATE(created_at) as date, lead_source, sync_direction, COUNT(*) as lead_count,
    ROUND(AVG(lead_score), 2) as avg_score FROM leads WHERE created_at > NOW() - INTERVAL '7 days'
    GROUP BY DATE(created_at), lead_source, sync_direction ORDER BY date DESC, lead_count DESC"""
SPEC_ERRORS = """SELECT l.id, l.first_name || ' ' || l.last_name as lead_name, l.email, l.sync_error_message,
    l.sync_error_count, l.last_synced_at, lsh.error_message as last_error_detail FROM leads l
    LEFT JOIN LATERAL (SELECT error_message FROM lead_sync_history WHERE lead_id = l.id AND sync_status = 'error'
    ORDER BY synced_at DESC LIMIT 1) lsh ON true WHERE l.sync_status = 'error'
    ORDER BY l.sync_error_count DESC, l.last_synced_at DESC LIMIT 20"""
SPEC_SEGMENTS = """SELECT cs.segment_name, COUNT(l.id) as total_leads, COUNT(*) FILTER (WHERE l.sync_status = 'synced') as synced_leads,
    COUNT(*) FILTER (WHERE l.twenty_id IS NOT NULL) as in_twenty, ROUND(AVG(l.lead_score), 2) as avg_lead_score,
    ROUND(AVG(l.segment_confidence), 3) as avg_confidence FROM leads l
    LEFT JOIN customer_segments cs ON l.segment_id = cs.id GROUP BY cs.segment_name ORDER BY total_leads DESC"""
SPEC_DAILY = """SELECT DATE_TRUNC('day', synced_at) as sync_date, sync_direction, sync_status, COUNT(*) as sync_count,
    COUNT(DISTINCT lead_id) as unique_leads FROM lead_sync_history GROUP BY sync_date, sync_direction, sync_status"""
SPEC_STALE = "SELECT * FROM check_stale_leads()"
SPEC_WEBHOOKS = """SELECT DATE_TRUNC('minute', synced_at) as minute, COUNT(*) as webhook_count FROM lead_sync_history
    WHERE sync_type = 'webhook_update' AND synced_at > NOW() - INTERVAL '1 hour' GROUP BY minute ORDER BY minute DESC"""
SPEC_API = ["SELECT * FROM sync_monitoring", "SELECT * FROM lead_analytics LIMIT 7", SPEC_HEALTH,
            "SELECT * FROM lead_sync_history ORDER BY synced_at DESC LIMIT 10"]
SPEC_ALERTS = [
    # NULLIF: the spec's query divides by zero on a quiet hour (its defect 1); the bench data may be quiet.
    """SELECT COUNT(*) FILTER (WHERE sync_status = 'error') * 100.0 / NULLIF(COUNT(*), 0) as error_rate FROM lead_sync_history
       WHERE synced_at > NOW() - INTERVAL '1 hour'""",
    "SELECT MAX(synced_at) < NOW() - INTERVAL '30 minutes' as sync_stalled FROM lead_sync_history",
    "SELECT id, first_name, last_name, sync_error_count FROM leads WHERE sync_error_count > 5",
    SPEC_STALE,
]


def old_alert_check() -> None:
    from datetime import timedelta

    OLD.failure_rate(window=timedelta(hours=1))
    OLD.sync_stalled(quiet_for=timedelta(minutes=30))
    for _ in range(3):
        OLD.last_sync_times()
    OLD.high_error_lead_count(threshold=5)
    OLD.high_error_leads(threshold=5, limit=10)
    OLD.stale_leads()
    OLD.stuck_lead_count()
    OLD.stuck_leads(limit=10)
    OLD.health_summary()


def new_alert_check() -> None:
    from monitoring.alerts.rules import evaluate_rule
    from monitoring.models import AlertRule, RuleKind

    for rule in AlertRule.objects.filter(enabled=True).exclude(kind=RuleKind.DEADMAN):
        evaluate_rule(rule)


def no_old_path() -> None:
    """The page had no snapshot-backed reader before the rollups (its old live cost is not comparable)."""


# item -> (spec SQL statements, old live callables, what the rollup path runs: a URL or a callable)
ITEMS: list[tuple[str, list[str], Callable[[], Any], str | Callable[[], Any]]] = [
    ("Overview", [SPEC_HEALTH, SPEC_STATUS],
     lambda: (OLD.health_summary(), OLD.sync_status_overview(), OLD.failure_rate()), "monitoring:overview"),
    ("Performance", [SPEC_HOURLY], old_range("attempts_per_bucket", "24h"), "monitoring:performance"),
    ("Performance 1 h", [spec_range(SPEC_HOURLY, "1h")], old_range("attempts_per_bucket", "1h"),
     "monitoring:performance?range=1h"),
    ("Performance 7 d", [spec_range(SPEC_HOURLY, "7d")], old_range("attempts_per_bucket", "7d"),
     "monitoring:performance?range=7d"),
    ("Performance 30 d", [spec_range(SPEC_HOURLY, "30d")], old_range("attempts_per_bucket", "30d"),
     "monitoring:performance?range=30d"),
    ("Lead flow", [SPEC_FLOW], old_range("leads_created_per_bucket", "7d"), "monitoring:lead-flow"),
    ("Lead flow 30 d", [spec_range(SPEC_FLOW, "30d")], old_range("leads_created_per_bucket", "30d"),
     "monitoring:lead-flow?range=30d"),
    ("Errors", [SPEC_ERRORS], lambda: (OLD.health_summary(), OLD.recent_errors(limit=25)), "monitoring:errors"),
    ("Error groups", [], old_range("error_groups_in_range", "7d"), "monitoring:error-groups"),
    ("Error groups 24 h", [], old_range("error_groups_in_range", "24h"), "monitoring:error-groups?range=24h"),
    ("Error groups 30 d", [], old_range("error_groups_in_range", "30d"), "monitoring:error-groups?range=30d"),
    ("Segments", [SPEC_SEGMENTS], lambda: OLD.segment_distribution(), "monitoring:segments"),
    ("Daily summary", [SPEC_DAILY], lambda: OLD.daily_summary(), "monitoring:daily-summary"),
    ("Debug", [SPEC_STALE, SPEC_WEBHOOKS],
     lambda: (OLD.stale_leads(), OLD.webhook_updates_per_minute(), OLD.stuck_leads(limit=100)), "monitoring:debug"),
    ("Activity", [], lambda: OLD.real_time_activity(), "monitoring:activity"),
    ("Leads", [], no_old_path, "monitoring:leads"),
    ("Alerts page", [], no_old_path, "monitoring:alerts"),
    ("Jobs page", [], no_old_path, "monitoring:jobs"),
    ("API /api/sync-metrics/", SPEC_API,
     lambda: (OLD.sync_monitoring(), OLD.recent_history(limit=10), OLD.lead_analytics(limit=7), OLD.health_summary()),
     lambda: json.dumps(metric_payload.json_ready(metric_payload.sync_metrics_payload()))),
    ("/metrics", [],
     lambda: (OLD.sync_monitoring(), OLD_METRICS.attempts_by_direction(), OLD.health_summary(), OLD.last_sync_times()),
     lambda: generate_latest(prometheus_registry)),
    ("alert check (all rules)", SPEC_ALERTS, old_alert_check, new_alert_check),
]


def backend_cpu_ms() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], float]:
    """Wall ms per run and the median backend CPU ms per run."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu = backend_cpu_ms()
        started = time.perf_counter()
        fn()
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append(backend_cpu_ms() - cpu)
    return walls, statistics.median(cpus)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_sql(statements: list[str]) -> Callable[[], None]:
    def run() -> None:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
                cursor.fetchall()
    return run


# Database name -> (session key, API token secret) of the bench's superuser in that database.
_CREDENTIALS: dict[str, tuple[str, str]] = {}


def make_credentials(name: str) -> None:
    """A superuser "bench", a login session and an API token in database `name` (the only rows the
    bench writes to it; reused on the next run). The token's last use is set ahead, so the conditional
    once-a-minute update of it never fires on the bench's read-only connections."""
    from datetime import timedelta

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from monitoring.models import ApiToken
    from monitoring.services.api_tokens import create_api_token

    READ_ONLY["on"] = False
    try:
        use_database(name)
        user, _ = User.objects.update_or_create(
            username="bench", defaults={"is_staff": True, "is_superuser": True, "is_active": True})
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.set_expiry(7 * 24 * 3600)
        session.save()
        ApiToken.objects.filter(user=user, name="benchmarks/pages.py").delete()
        token, secret = create_api_token(user=user, name="benchmarks/pages.py", lifetime=None)
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() + timedelta(days=3650))
        _CREDENTIALS[name] = (session.session_key, secret)
    finally:
        READ_ONLY["on"] = True
        connections.close_all()


def page(target: str | Callable[[], Any]) -> Callable[[], Any]:
    """A callable that requests the page through Django's whole request handler, as a browser's
    request reaches it behind gunicorn: every middleware (sessions, CSRF, CSP, axes, security
    headers), the login read from the session and user rows, and for the API its bearer token and
    throttle. Only the socket and the WSGI server are left out."""
    if callable(target):
        return target
    client = Client(REMOTE_ADDR="127.0.0.1")  # /metrics: METRICS_ALLOWED_IPS
    name, _, query = target.partition("?")
    url = reverse(name) + (f"?{query}" if query else "")

    def run() -> None:
        session_key, secret = _CREDENTIALS[connections["default"].settings_dict["NAME"]]
        client.cookies[settings.SESSION_COOKIE_NAME] = session_key
        response = client.get(url, headers={"Authorization": f"Bearer {secret}"}, secure=True)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
    return run


def speed_reference() -> float:
    """ms for a fixed pure-Python loop: the same code ran 0.61-0.96 s from one minute to the next on
    this shared VM, so every table prints this next to its times (a slower host shows here too)."""
    started = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    return (time.perf_counter() - started) * 1000


def use_database(name: str) -> None:
    connections.close_all()
    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name


_KEPT: dict[str, Any] = {}


def switch_to(name: str) -> None:
    """Make a kept-open connection to `name` the default one, as a portal worker's pooled
    connection stays open: its plan cache and psycopg's prepared statements carry over."""
    if name not in _KEPT:
        settings_dict = {**connections["default"].settings_dict, "NAME": name}
        _KEPT[name] = connections.create_connection("default")
        _KEPT[name].settings_dict = settings_dict
    connections["default"] = _KEPT[name]


def background_cpu_per_minute(name: str) -> tuple[float, float]:
    """(old, new) backend CPU ms per minute of background work, measured on a throw-away copy."""
    from monitoring.selectors import snapshots

    copy = f"{name}_bgcopy"
    READ_ONLY["on"] = False
    use_database("postgres")
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{copy}"')
        cursor.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
    use_database(copy)
    try:
        old_refresh = [fn for key, fn in snapshots.REGISTRY.items() if key.startswith("legacy_")]
        _w, refresh_cpu = timed(lambda: [fn.uncached() for fn in old_refresh], 2)
        _w, rebuild_cpu = timed(run_sql([f"SELECT COUNT(*) FROM ({SPEC_DAILY}) s"]), 1)  # the old matview's body
        # One compaction at rest, and one refresh, are below the clock tick (10 ms): time 600 and
        # 20 and take the totals (a tick is then 0.2 ms a minute, not the 2 of 60 compactions).
        cpu0 = backend_cpu_ms()
        run_sql(["SELECT compact_rollups()"] * 600)()
        compact_cpu = (backend_cpu_ms() - cpu0) / 600
        cpu0 = backend_cpu_ms()
        run_sql(["SELECT refresh_daily_summary()"] * 20)()
        new_refresh_cpu = (backend_cpu_ms() - cpu0) / 20
    finally:
        use_database("postgres")
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{copy}"')
        READ_ONLY["on"] = True
    print(f"  background on {name}: one compaction at rest {compact_cpu:.3f} CPU-ms, one daily-summary "
          f"refresh {new_refresh_cpu:.2f} CPU-ms (old: snapshot refresh {refresh_cpu:,.0f}, matview rebuild "
          f"{rebuild_cpu:,.0f})", flush=True)
    return refresh_cpu + rebuild_cpu / 60, 12 * compact_cpu + new_refresh_cpu / 60


# The two sizes at one write rate: the big one is the small one with nine older copies behind it.
SEEDS = {
    "small": ["--leads", "100000", "--history", "1000000", "--days", "60"],
    "big": ["--leads", "100000", "--history", "1000000", "--days", "60", "--older-copies", "9"],
}


def database_exists(name: str) -> bool:
    use_database("postgres")
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %s)", [name])
        return bool(cursor.fetchone()[0])


def seed_missing(small: str, big: str, scale: int = 1) -> None:
    """Create, migrate and seed both databases (same anchor), then VACUUM ANALYZE; reuse them if both exist."""
    missing = [name for name in (small, big) if not database_exists(name)]
    if not missing:
        return
    if len(missing) == 1:
        sys.exit(f"{missing[0]} is missing but the other exists: both must be seeded at one anchor "
                 "(drop the other, or pass two existing databases)")
    from django.utils import timezone

    anchor = timezone.now().replace(second=0, microsecond=0).isoformat()
    for name, size in ((small, "small"), (big, "big")):
        print(f"seeding {name}: seed_demo {' '.join(SEEDS[size])} --now {anchor}", flush=True)
        use_database("postgres")
        READ_ONLY["on"] = False
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            READ_ONLY["on"] = True
        env = {**os.environ, "DATABASE_URL": urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))}
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        sizes = [str(int(v) // scale) if v.isdigit() and int(v) >= 1000 else v for v in SEEDS[size]]
        subprocess.run([*manage, "seed_demo", *sizes, "--now", anchor], env=env, check=True)
        subprocess.run([*manage, "dbshell", "--", "-c", "VACUUM ANALYZE"], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", nargs="+", default=["leadsync_bench_small", "leadsync_bench_big_rate"])
    parser.add_argument("--seed", action="store_true",
                        help="create and seed the two databases first when neither exists (about 8 minutes)")
    parser.add_argument("--seed-scale", type=int, default=1, help=argparse.SUPPRESS)  # smaller seeds, to try --seed
    parser.add_argument("--runs", type=int, default=30, help="runs of the rollup path per item and database")
    parser.add_argument("--old-runs", type=int, default=3, help="runs of the spec SQL and old live path per item")
    parser.add_argument("--no-background", action="store_true")
    parser.add_argument("--rollups-only", action="store_true", help="time only the rollup path (quick re-measure)")
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["*"]
    # The throttle still runs (a Redis INCR per API request); 31 requests a minute per database
    # would pass 60 anyway, but both databases' tokens may share a primary key, hence one counter.
    settings.API_THROTTLE_PER_MINUTE = 1_000_000
    if args.seed:
        seed_missing(args.databases[0], args.databases[-1], args.seed_scale)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    background: dict[str, tuple[float, float]] = {}
    load_before = os.getloadavg()
    speed_before = speed_reference()
    with override_settings(SELECTOR_SNAPSHOT_TTL=0):
        for name in args.databases:
            use_database(name)
            with connection.cursor() as cursor:
                cursor.execute("SELECT (SELECT COUNT(*) FROM leads), (SELECT reltuples::bigint FROM pg_class WHERE relname = 'lead_sync_history')")
                leads, history = cursor.fetchone()
            print(f"{name}: {leads:,} leads, ~{history:,} history rows; load {os.getloadavg()[0]:.1f}", flush=True)
            results[name] = {}
            if args.rollups_only:
                continue
            for label, spec_sql, old, _target in ITEMS:
                results[name][label] = {
                    "old": timed(old, args.old_runs),
                    "spec": timed(run_sql(spec_sql), args.old_runs) if spec_sql else None,
                }
        # The rollup path, interleaved: each run times every database once, in turn, so a change
        # in the machine's load during the run hits both sizes alike (the growth ratio compares them).
        for name in args.databases:
            make_credentials(name)
        connections.close_all()  # the connection the spec SQL and old path used: the copies below need none open
        for label, _spec, _old, target in ITEMS:
            new = page(target)
            walls: dict[str, list[float]] = {name: [] for name in args.databases}
            cpus: dict[str, list[float]] = {name: [] for name in args.databases}
            for name in args.databases:
                switch_to(name)
                new()  # warm the connection's plan cache and the pages' imports, untimed
            for _ in range(args.runs):
                for name in args.databases:
                    switch_to(name)
                    (wall,), cpu = timed(new, 1)
                    walls[name].append(wall)
                    cpus[name].append(cpu)
            for name in args.databases:
                row = results[name].setdefault(label, {"old": ([float("nan")], 0.0), "spec": None})
                row["new"] = (walls[name], statistics.median(cpus[name]))
            print(f"  {label:<26} " + "  ".join(
                f"{name.split('_')[-1]} p50 {pct(walls[name], 50):6.1f} p95 {pct(walls[name], 95):6.1f}"
                for name in args.databases) + " ms", flush=True)
        for kept in _KEPT.values():
            kept.close()
        _KEPT.clear()
        use_database(args.databases[0])
        if not args.no_background:
            for name in args.databases:
                background[name] = background_cpu_per_minute(name)

    small, big = args.databases[0], args.databases[-1]
    print(f"\nload average: {' '.join(f'{x:.1f}' for x in load_before)} at the start, "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end ({os.cpu_count()} cores, shared); "
          f"speed reference (5M-step Python loop) {speed_before:.0f} ms at the start, {speed_reference():.0f} ms at the end\n")
    header = (f"| item | size | spec SQL p50 | old live p50 | old live backend CPU | rollups p50 | rollups p95 | "
              f"rollups backend CPU | growth {small.split('_')[-1]}→{big.split('_')[-1]} (p50) |")
    print(header)
    print("|" + "---|" * 9)
    for label, *_rest in ITEMS:
        for name in args.databases:
            row = results[name][label]
            spec = f"{pct(row['spec'][0], 50):,.0f}" if row["spec"] else "–"
            growth = ""
            if name == big and len(args.databases) > 1:
                growth = f"{pct(row['new'][0], 50) / max(pct(results[small][label]['new'][0], 50), 0.1):.2f}×"
            print(f"| {label} | {name} | {spec} | {pct(row['old'][0], 50):,.0f} | {row['old'][1]:,.0f} | "
                  f"{pct(row['new'][0], 50):,.1f} | "
                  f"{pct(row['new'][0], 95):,.1f} | {row['new'][1]:,.0f} | {growth} |")
    for name, (old, new) in background.items():
        print(f"\nbackground database CPU per minute at rest on {name}: old {old / 1000:.2f} CPU-s "
              f"(snapshot refresh + 1/60 daily-summary rebuild), rollups {new / 1000:.4f} CPU-s "
              f"(12 compactions + 1/60 daily-summary refresh)")
    if len(background) > 1:
        print(f"background growth {small} → {big}: old {background[big][0] / background[small][0]:.2f}×, "
              f"rollups {background[big][1] / max(background[small][1], 0.1):.2f}×")
    if len(args.databases) > 1:
        print_side_by_side(results, background, small, big)


def print_side_by_side(results: dict[str, dict[str, dict[str, Any]]], background: dict[str, tuple[float, float]],
                       small: str, big: str) -> None:
    """The README's table: one line per item, both sizes side by side (small / big)."""
    def pair(values: tuple[float, float], digits: int = 0) -> str:
        return " / ".join(f"{value:,.{digits}f}" for value in values)

    print(f"\nside by side, ms ({small} / {big}):\n")
    print("| item | spec SQL p50 | old live p50 | rollups p50 | rollups p95 | growth (p50) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, _spec, old_path, _target in ITEMS:
        rows = results[small][label], results[big][label]
        spec = pair(tuple(pct(row["spec"][0], 50) for row in rows)) if all(row["spec"] for row in rows) else "–"
        old = tuple(pct(row["old"][0], 50) for row in rows)
        # nan: --rollups-only
        old_text = "–" if old_path is no_old_path or any(value != value for value in old) else pair(old)
        p50 = tuple(pct(row["new"][0], 50) for row in rows)
        p95 = tuple(pct(row["new"][0], 95) for row in rows)
        print(f"| {label} | {spec} | {old_text} | {pair(p50, 1)} | {pair(p95, 1)} | "
              f"{p50[1] / max(p50[0], 0.1):.2f}× |")
    if small in background and big in background:
        old_bg = background[small][0] / 1000, background[big][0] / 1000
        new_bg = background[small][1] / 1000, background[big][1] / 1000
        print(f"| background database CPU, s per minute | – | {pair(old_bg, 2)} | {pair(new_bg, 4)} | – | "
              f"{new_bg[1] / max(new_bg[0], 0.0001):.2f}× |")


if __name__ == "__main__":
    main()
