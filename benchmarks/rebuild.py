"""The rollup rebuild while the sync writes: the first one (one snapshot) against the batched one.

    REDIS_URL=redis://127.0.0.1:6379/6 SECRET_KEY=bench .venv/bin/python benchmarks/rebuild.py \
        [--databases leadsync_bench_small leadsync_bench_big_rate] [--rate 200] [--verify]

For each database (seeded as for benchmarks/pages.py) it makes a copy (CREATE DATABASE ...
TEMPLATE) and on the copy runs each rebuild in turn:
- "one snapshot": the first rebuild_rollups() (migration 0231 as first shipped, loaded from git at
  FIRST_REBUILD): every rollup recomputed in one REPEATABLE READ transaction under the
  compactor's lock;
- "batched": monitoring.services.rollups.rebuild_rollups() as it is now: one UTC day per
  transaction, each folding the deltas its snapshot sees.
Meanwhile a writer does what n8n does at --rate writes a second (single-row attempt inserts and
lead status updates, autocommit, lock_timeout 1 s), the compactor runs every 5 s on its own
connection as in production (it skips when the lock is taken), and a sampler reads every 100 ms
the rebuild's open transaction age and the deltas not yet folded, which every page adds up.
Prints one line per database and rebuild: seconds, batches, longest transaction, most unfolded
deltas, compactor runs that could fold, the writer's p99 and failures (and with --verify whether
the rollups agree with the tables afterwards; minutes at 1M/10M).
"""
from __future__ import annotations

import argparse
import functools
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadsync_portal.settings_test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ["DATABASE_POOL"] = "0"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402

from monitoring.services import rollups as rollup_services  # noqa: E402

FIRST_REBUILD = "e4c567e"  # the last commit with the one-snapshot rebuild_rollups()
DSN = "host=127.0.0.1 port=5432 user=postgres dbname={db}"
LOCK = "hashtext('monitoring.compact_rollups')"


@dataclass
class Run:
    seconds: float = 0.0
    batches: int = 1
    longest_transaction: float = 0.0
    most_deltas: int = 0
    compactions: int = 0
    compactions_folded: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    agree: bool | None = None


def _at_first_rebuild(path: str) -> str:
    return subprocess.run(["git", "show", f"{FIRST_REBUILD}:{path}"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def first_rebuild_sql() -> tuple[str, str]:
    """The first rebuild_rollups() as a function named rebuild_rollups_first(), and the day rows'
    recount the service ran after it in the same snapshot (its REBUILD_DAYS), both from git."""
    namespace: dict = {}
    source = _at_first_rebuild("monitoring/migrations/0231_rollups_backfill.py")
    exec(compile(source, "0231_first", "exec"), namespace)  # noqa: S102 - our own file from git
    sql = namespace["REBUILD_FUNCTION"].replace("rebuild_rollups()", "rebuild_rollups_first()")
    service = _at_first_rebuild("monitoring/services/rollups.py")
    days = service.split('REBUILD_DAYS = """', 1)[1].split('"""', 1)[0]
    return sql.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"), days


def rebuild_first(db: str, run: Run, pid_box: list[int], *, days_sql: str) -> None:
    with psycopg.connect(DSN.format(db=db), autocommit=True) as conn:
        pid_box.append(conn.info.backend_pid)
        conn.execute(f"SELECT pg_advisory_lock({LOCK})")
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            conn.execute("SELECT rebuild_rollups_first()")
            conn.execute(days_sql)
            conn.execute("COMMIT")
        finally:
            conn.execute(f"SELECT pg_advisory_unlock({LOCK})")


def rebuild_batched(db: str, run: Run, pid_box: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid_box.append(cursor.fetchone()[0])
    run.batches = rollup_services.rebuild_rollups().batches


def writer(db: str, rate: float, stop: threading.Event, run: Run) -> None:
    rnd = random.Random(1)
    with psycopg.connect(DSN.format(db=db), autocommit=True) as conn:
        conn.execute("SET lock_timeout = '1s'")
        leads = [row[0] for row in conn.execute("SELECT id FROM leads ORDER BY created_at DESC LIMIT 500")]
        next_at = time.perf_counter()
        while not stop.is_set():
            lead = rnd.choice(leads)
            started = time.perf_counter()
            try:
                if rnd.random() < 0.5:
                    conn.execute("INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, created_at) "
                                 "VALUES (%s, 'webhook_update', 'twenty_to_supabase', %s, now() - interval '2 seconds')",
                                 (lead, rnd.choice(["synced", "synced", "error"])))
                else:
                    conn.execute("UPDATE leads SET sync_status = %s, last_synced_at = now() WHERE id = %s",
                                 (rnd.choice(["synced", "syncing", "error", "pending"]), lead))
                run.latencies.append((time.perf_counter() - started) * 1000)
            except psycopg.Error:
                run.failures += 1
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.perf_counter()))


def compactor(db: str, stop: threading.Event, run: Run) -> None:
    with psycopg.connect(DSN.format(db=db), autocommit=True) as conn:
        while not stop.wait(5):
            run.compactions += 1
            if conn.execute("SELECT compact_rollups()").fetchone()[0] >= 0:
                run.compactions_folded += 1


def sampler(db: str, stop: threading.Event, run: Run, pid_box: list[int]) -> None:
    with psycopg.connect(DSN.format(db=db), autocommit=True) as conn:
        while not stop.wait(0.1):
            deltas, age = conn.execute(
                "SELECT (SELECT COUNT(*) FROM rollup_lead_deltas) + (SELECT COUNT(*) FROM rollup_history_deltas), "
                "(SELECT EXTRACT(EPOCH FROM clock_timestamp() - xact_start)::float FROM pg_stat_activity "
                " WHERE pid = %s AND state <> 'idle' AND xact_start IS NOT NULL)",
                (pid_box[0] if pid_box else 0,)).fetchone()
            run.most_deltas = max(run.most_deltas, deltas)
            run.longest_transaction = max(run.longest_transaction, age or 0.0)


def timed_rebuild(db: str, rebuild: Callable[[str, Run, list[int]], None], rate: float, verify: bool) -> Run:
    run, stop, pid_box = Run(), threading.Event(), []
    with psycopg.connect(DSN.format(db=db), autocommit=True) as conn:
        conn.execute("SELECT compact_rollups()")  # start from no deltas (the last run's writer left some)
    threads = [threading.Thread(target=writer, args=(db, rate, stop, run)),
               threading.Thread(target=compactor, args=(db, stop, run)),
               threading.Thread(target=sampler, args=(db, stop, run, pid_box))]
    for thread in threads:
        thread.start()
    time.sleep(1)
    started = time.perf_counter()
    rebuild(db, run, pid_box)
    run.seconds = time.perf_counter() - started
    time.sleep(1)
    stop.set()
    for thread in threads:
        thread.join()
    if verify:
        rollup_services.compact_rollups()
        run.agree = rollup_services.verify_rollups().agree
    return run


def use_database(name: str) -> None:
    connections.close_all()
    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", nargs="+", default=["leadsync_bench_small", "leadsync_bench_big_rate"])
    parser.add_argument("--rate", type=float, default=200, help="the writer's writes a second")
    parser.add_argument("--verify", action="store_true", help="verify the rollups after each rebuild (slow at 1M/10M)")
    args = parser.parse_args()
    first_sql, first_days_sql = first_rebuild_sql()
    rebuilds = {"one snapshot": functools.partial(rebuild_first, days_sql=first_days_sql), "batched": rebuild_batched}
    rows = []
    load_before = os.getloadavg()
    for source in args.databases:
        copy = f"{source}_rebuild"[:63]
        use_database("postgres")
        with psycopg.connect(DSN.format(db="postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{copy}"')
            admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{source}"')
        try:
            with psycopg.connect(DSN.format(db=copy), autocommit=True) as conn:
                conn.execute(first_sql)
                history = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'lead_sync_history'").fetchone()[0]
            use_database(copy)
            for name, rebuild in rebuilds.items():
                run = timed_rebuild(copy, rebuild, args.rate, args.verify)
                rows.append((source, history, name, run))
                print(f"{source} {name}: {run.seconds:.1f} s", flush=True)
        finally:
            use_database("postgres")
            with psycopg.connect(DSN.format(db="postgres"), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')

    print(f"\nwriter: {args.rate:.0f} single-row writes/s; compactor every 5 s (skips while the lock is taken); "
          f"sampled every 100 ms\n")
    print("| database | attempts | rebuild | seconds | batches | longest transaction s | most unfolded deltas "
          "| compactor runs that folded | writer p99 ms | writer failures | agree |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for source, history, name, run in rows:
        ordered = sorted(run.latencies) or [float("nan")]
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        agree = "–" if run.agree is None else ("yes" if run.agree else "**no**")
        print(f"| {source} | {history:,} | {name} | {run.seconds:.1f} | {run.batches:,} | {run.longest_transaction:.1f} "
              f"| {run.most_deltas:,} | {run.compactions_folded} of {run.compactions} | {p99:.1f} | {run.failures} | {agree} |")
    print(f"\nload average: {' '.join(f'{x:.1f}' for x in load_before)} at the start, "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
