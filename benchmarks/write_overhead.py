"""What the rollup triggers cost the sync: throughput, p99 and lock waits, with and without them.

    .venv/bin/python benchmarks/write_overhead.py --copy-from leadsync_bench_f_small \
        [--copy-to leadsync_bench_f_write] [--seconds 20] [--rounds 2] [--drop-after]

Copies a seeded database (CREATE DATABASE ... TEMPLATE), then alternates phases "triggers on" and
"triggers off" (rounds x 2 phases, so load drift from other work hits both alike). In each phase:
- 8 writer connections, autocommit, each doing what n8n does: single-row INSERTs into
  lead_sync_history and single-row UPDATEs of a lead's status (each writer its own leads);
- one connection doing one 10,000-row UPDATE of leads (a bulk status change);
- with triggers on, the compactor every 5 s on its own connection, as in production;
- a sampler every 20 ms reading pg_locks / pg_stat_activity for any writer waiting on a lock,
  and which backend holds it.
Prints per phase: writes/s, p50/p99 latency (ms), the batch's time, the compactor's total time,
lock-wait samples (writer waiting on a writer); then the overhead of "on" against "off".
The machine is shared: quote the load average it prints.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg

TRIGGERS = [
    ("leads", "leads_rollup_insert"), ("leads", "leads_rollup_update"), ("leads", "leads_rollup_delete"),
    ("lead_sync_history", "history_rollup_insert"), ("lead_sync_history", "history_rollup_update"),
    ("lead_sync_history", "history_rollup_delete"),
]
WRITERS = 8
BATCH_ROWS = 10_000
DSN = "host=127.0.0.1 port=5432 user=postgres dbname={db}"


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    batch_seconds: float = 0.0
    compact_seconds: float = 0.0
    compactions: int = 0
    lock_wait_samples: int = 0
    writer_on_writer: int = 0
    samples: int = 0
    wait_events: Counter = field(default_factory=Counter)
    seconds: float = 0.0


def connect(db: str) -> psycopg.Connection:
    return psycopg.connect(DSN.format(db=db), autocommit=True)


def set_triggers(db: str, enabled: bool) -> None:
    with connect(db) as conn:
        for table, trigger in TRIGGERS:
            conn.execute(f"ALTER TABLE {table} {'ENABLE' if enabled else 'DISABLE'} TRIGGER {trigger}")
        if enabled:  # fold what the last "on" phase left, so each phase starts alike
            conn.execute("SELECT compact_rollups()")


def writer(db: str, lead_ids: list, stop: threading.Event, phase: Phase, pids: list[int], seed: int) -> None:
    rnd = random.Random(seed)
    with connect(db) as conn:
        pids.append(conn.info.backend_pid)
        while not stop.is_set():
            lead = rnd.choice(lead_ids)
            started = time.perf_counter()
            if rnd.random() < 0.5:
                conn.execute(
                    "INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, error_message, created_at) "
                    "VALUES (%s, 'webhook_update', %s, %s, %s, now() - interval '2 seconds')",
                    (lead, rnd.choice(["twenty_to_supabase", "supabase_to_twenty"]),
                     *(("error", "Twenty API 429: rate limit exceeded for lead 7") if rnd.random() < 0.05 else ("synced", None))),
                )
            else:
                conn.execute(
                    "UPDATE leads SET sync_status = %s, last_synced_at = now() WHERE id = %s",
                    (rnd.choice(["synced", "syncing", "error", "pending"]), lead),
                )
            phase.latencies.append((time.perf_counter() - started) * 1000)


def batch(db: str, ids: list, phase: Phase, pids: list[int], delay: float) -> None:
    time.sleep(delay)
    with connect(db) as conn:
        pids.append(conn.info.backend_pid)
        started = time.perf_counter()
        conn.execute("UPDATE leads SET sync_status = 'pending' WHERE id = ANY(%s)", (ids,))
        phase.batch_seconds = time.perf_counter() - started


def compactor(db: str, stop: threading.Event, phase: Phase) -> None:
    with connect(db) as conn:
        while not stop.wait(5):
            started = time.perf_counter()
            conn.execute("SELECT compact_rollups()")
            phase.compact_seconds += time.perf_counter() - started
            phase.compactions += 1


def sampler(db: str, stop: threading.Event, phase: Phase, writer_pids: list[int]) -> None:
    with connect(db) as conn:
        while not stop.wait(0.02):
            phase.samples += 1
            rows = conn.execute(
                """
                SELECT a.pid, pg_blocking_pids(a.pid), a.wait_event,
                       (SELECT string_agg(DISTINCT l.locktype || ' ' || COALESCE(l.relation::regclass::text, ''), ', ')
                          FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted)
                FROM pg_stat_activity a
                WHERE a.pid = ANY(%s) AND a.wait_event_type = 'Lock'
                """,
                (writer_pids,),
            ).fetchall()
            if rows:
                phase.lock_wait_samples += 1
                if any(set(blockers) & set(writer_pids) for _pid, blockers, *_ in rows):
                    phase.writer_on_writer += 1
                for _pid, _blockers, event, what in rows:
                    phase.wait_events[f"{event}: {what}"] += 1


def run_phase(db: str, name: str, seconds: float, lead_ids: list, batch_ids: list, with_compactor: bool) -> Phase:
    phase = Phase(name)
    stop = threading.Event()
    pids: list[int] = []
    per_writer = len(lead_ids) // WRITERS
    threads = [
        threading.Thread(target=writer, args=(db, lead_ids[i * per_writer:(i + 1) * per_writer], stop, phase, pids, i))
        for i in range(WRITERS)
    ]
    threads.append(threading.Thread(target=batch, args=(db, batch_ids, phase, pids, seconds / 3)))
    if with_compactor:
        threads.append(threading.Thread(target=compactor, args=(db, stop, phase)))
    threads.append(threading.Thread(target=sampler, args=(db, stop, phase, pids)))
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    phase.seconds = time.perf_counter() - started
    return phase


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copy-from", default="leadsync_bench_f_small")
    parser.add_argument("--copy-to", default="leadsync_bench_f_write")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--drop-after", action="store_true")
    args = parser.parse_args()

    with psycopg.connect(DSN.format(db="postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.copy_to}"')
        admin.execute(f'CREATE DATABASE "{args.copy_to}" TEMPLATE "{args.copy_from}"')
    db = args.copy_to
    with connect(db) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM leads ORDER BY id LIMIT %s", (BATCH_ROWS + 8000,))]
    batch_ids, lead_ids = ids[:BATCH_ROWS], ids[BATCH_ROWS:]  # the batch and the writers touch different leads

    phases: list[Phase] = []
    for _round in range(args.rounds):
        for enabled in (True, False):
            set_triggers(db, enabled)
            phases.append(run_phase(db, "triggers on" if enabled else "triggers off", args.seconds, lead_ids,
                                    batch_ids, with_compactor=enabled))
    set_triggers(db, True)

    print(f"database {db} (copy of {args.copy_from}); {WRITERS} writers, {args.seconds:.0f} s per phase, "
          f"batch UPDATE of {BATCH_ROWS:,} leads per phase\n")
    header = (f"{'phase':<13} {'writes/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'batch s':>8} {'compactor s':>12} "
              f"{'lock-wait samples':>18} {'writer-on-writer':>17}")
    print(header)
    print("-" * len(header))
    for phase in phases:
        print(f"{phase.name:<13} {len(phase.latencies) / phase.seconds:9.0f} {pct(phase.latencies, 50):7.2f} "
              f"{pct(phase.latencies, 99):7.2f} {phase.batch_seconds:8.2f} "
              f"{phase.compact_seconds:7.2f} ({phase.compactions}) {phase.lock_wait_samples:>9} / {phase.samples:<6} "
              f"{phase.writer_on_writer:>17}")
    for phase in phases:
        if phase.wait_events:
            print(f"  {phase.name}: " + "; ".join(f"{k} x{n}" for k, n in phase.wait_events.most_common(4)))
    on = [p for p in phases if p.name == "triggers on"]
    off = [p for p in phases if p.name == "triggers off"]
    rate = lambda ps: statistics.mean(len(p.latencies) / p.seconds for p in ps)  # noqa: E731
    p99 = lambda ps: statistics.mean(pct(p.latencies, 99) for p in ps)  # noqa: E731
    batch_s = lambda ps: statistics.mean(p.batch_seconds for p in ps)  # noqa: E731
    print(f"\noverhead with triggers: throughput {100 * (1 - rate(on) / rate(off)):+.1f} % fewer writes/s, "
          f"p99 {100 * (p99(on) / p99(off) - 1):+.1f} %, 10k-row batch {100 * (batch_s(on) / batch_s(off) - 1):+.1f} %")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    if args.drop_after:
        with psycopg.connect(DSN.format(db="postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.copy_to}"')


if __name__ == "__main__":
    main()
