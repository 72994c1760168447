"""Benchmark the weekly history clean-up on a large database while a sync writer keeps inserting.

Measures the clean-up's throughput (rows moved per second) and the longest time a concurrent
writer (a thread inserting lead_sync_history rows in a loop, like the n8n sync) waited for one
insert during the run, then checks that every row is in exactly one table. Prints a table.

Never run it on a database you care about: it moves rows. Work on a copy:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    .venv/bin/python benchmarks/cleanup.py --copy-from leadsync_bench --copy-to leadsync_bench_copy --drop-after

(the source is a database seeded with `seed_demo --leads 1000000 --history 10000000 --days 60`;
CREATE DATABASE ... TEMPLATE needs no other session connected to the source.)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(url: str, sql: str) -> None:
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql)


class SyncWriter(threading.Thread):
    """Inserts one history row per iteration on its own connection and times each insert."""

    def __init__(self, url: str, lead_ids: list[str], pause: float) -> None:
        super().__init__(daemon=True)
        self.url, self.lead_ids, self.pause = url, lead_ids, pause
        self.stop = threading.Event()
        self.waits: list[float] = []
        self.errors: list[str] = []
        self.ids: list[int] = []

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            i = 0
            while not self.stop.is_set():
                lead = self.lead_ids[i % len(self.lead_ids)]
                started = time.perf_counter()
                try:
                    row = conn.execute(
                        "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status) "
                        "VALUES (%s, 'webhook_update', 'twenty_to_supabase', 'synced') RETURNING id",
                        [lead],
                    ).fetchone()
                    self.ids.append(row[0])
                except psycopg.Error as exc:
                    self.errors.append(str(exc))
                self.waits.append(time.perf_counter() - started)
                i += 1
                if self.pause:
                    time.sleep(self.pause)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copy-from", help="create the work database as a copy of this one (TEMPLATE)")
    parser.add_argument("--copy-to", help="name of the copy (default: <source>_cleanup_bench)")
    parser.add_argument("--drop-after", action="store_true", help="drop the copy at the end")
    parser.add_argument("--migrate", action="store_true", help="apply this branch's migrations to the work database first")
    parser.add_argument("--retention-days", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--pause-ms", type=int, default=0, help="pause between batches")
    parser.add_argument("--writer-pause-ms", type=float, default=5, help="pause between the writer's inserts")
    parser.add_argument("--baseline-seconds", type=float, default=10, help="writer alone before the clean-up starts")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadsync")
    work_db = None
    if args.copy_from:
        work_db = args.copy_to or f"{args.copy_from}_cleanup_bench"
        started = time.perf_counter()
        # TEMPLATE needs the source to have no other session: wait for other readers to leave.
        for attempt in range(240):
            try:
                _admin(url, f'CREATE DATABASE "{work_db}" TEMPLATE "{args.copy_from}"')
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 239:
                    raise
                time.sleep(5)
        print(f"copied {args.copy_from} -> {work_db} in {time.perf_counter() - started:.1f} s")
        url = _with_database(url, work_db)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadsync_portal.settings")
    os.environ["LOG_LEVEL"] = "WARNING"

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from monitoring.services import maintenance

    try:
        if args.migrate:
            started = time.perf_counter()
            call_command("migrate", verbosity=0)
            print(f"migrated in {time.perf_counter() - started:.1f} s")
        with psycopg.connect(url, autocommit=True) as conn:
            hot_before = conn.execute("SELECT COUNT(*) FROM lead_sync_history").fetchone()[0]
            archive_before = conn.execute("SELECT COUNT(*) FROM lead_sync_history_archive").fetchone()[0]
            old = conn.execute(
                "SELECT COUNT(*) FROM lead_sync_history WHERE synced_at < now() - make_interval(days => %s)",
                [args.retention_days],
            ).fetchone()[0]
            lead_ids = [row[0] for row in conn.execute("SELECT id FROM leads LIMIT 1000")]

        batch_seconds: list[float] = []
        real_move = maintenance._move_batch

        def timed_move(**kwargs):
            started = time.perf_counter()
            try:
                return real_move(**kwargs)
            finally:
                batch_seconds.append(time.perf_counter() - started)

        maintenance._move_batch = timed_move
        writer = SyncWriter(url, lead_ids, args.writer_pause_ms / 1000)
        writer.start()
        time.sleep(args.baseline_seconds)  # the writer alone: what its waits look like without us
        baseline = list(writer.waits)
        started = time.perf_counter()
        result = maintenance.archive_history(
            retention_days=args.retention_days, batch_size=args.batch_size, pause_seconds=args.pause_ms / 1000
        )
        elapsed = time.perf_counter() - started
        during = writer.waits[len(baseline):]
        writer.stop.set()
        writer.join()
        connections.close_all()

        with psycopg.connect(url, autocommit=True) as conn:
            hot_after = conn.execute("SELECT COUNT(*) FROM lead_sync_history").fetchone()[0]
            archive_after = conn.execute("SELECT COUNT(*) FROM lead_sync_history_archive").fetchone()[0]
            overlap = conn.execute(
                "SELECT COUNT(*) FROM lead_sync_history h JOIN lead_sync_history_archive a USING (id)"
            ).fetchone()[0]

        def ms(seconds: float) -> str:
            return f"{seconds * 1000:.1f} ms"

        during_sorted = sorted(during) or [0.0]
        table = [
            ("history rows before (hot / archive)", f"{hot_before:,} / {archive_before:,}"),
            (f"rows older than {args.retention_days} days", f"{old:,}"),
            ("rows moved", f"{result.moved:,}"),
            ("batches (size)", f"{result.batches:,} ({args.batch_size:,})"),
            ("moving time (batches)", f"{result.seconds:.1f} s"),
            ("throughput (moving)", f"{result.moved / result.seconds:,.0f} rows/s" if result.seconds else "-"),
            ("then VACUUM (ANALYZE)", f"{result.vacuum_seconds:.1f} s"),
            ("whole run incl. vacuum and check", f"{elapsed:.1f} s"),
            ("longest batch (row locks held)", ms(max(batch_seconds, default=0))),
            ("median batch", ms(statistics.median(batch_seconds) if batch_seconds else 0)),
            ("writer inserts during the run", f"{len(during):,} ({len(writer.errors)} errors)"),
            ("writer longest wait for one insert", ms(max(during_sorted))),
            ("writer p99 / median insert", f"{ms(during_sorted[int(len(during_sorted) * 0.99)])} / "
                                           f"{ms(statistics.median(during_sorted))}"),
            ("writer alone before the run: longest / median", f"{ms(max(baseline))} / {ms(statistics.median(baseline))}"
             if baseline else "-"),
            ("rows after (hot / archive)", f"{hot_after:,} / {archive_after:,}"),
            ("rows in both tables", f"{overlap:,}"),
            ("nothing lost (before + writer = after)",
             str(hot_before + archive_before + len(writer.ids) == hot_after + archive_after)),
        ]
        width = max(len(name) for name, _ in table)
        print(f"\n| {'metric'.ljust(width)} | value |\n| {'-' * width} | ----- |")
        for name, value in table:
            print(f"| {name.ljust(width)} | {value} |")
    finally:
        if work_db and args.drop_after:
            connections.close_all()
            _admin(os.environ["DATABASE_URL"], f'DROP DATABASE IF EXISTS "{work_db}" WITH (FORCE)')
            print(f"\ndropped {work_db}")


if __name__ == "__main__":
    main()
