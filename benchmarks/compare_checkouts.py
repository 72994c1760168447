"""The items of benchmarks/pages.py from two checkouts, interleaved on one database: before and after a change.

    REDIS_URL=redis://127.0.0.1:6379/6 SECRET_KEY=bench .venv/bin/python benchmarks/compare_checkouts.py \
        --base c377f97 [--head WORKTREE] [--database leadsync_bench_big_rate] [--runs 20] [--items Leads "Alerts page"]

This machine's speed moves by half from one minute to the next (the speed reference of
benchmarks/pages.py took 257 ms on one run and 900 ms on another), so two runs of pages.py an hour
apart cannot say whether a change made a page faster. Here one worker process per checkout (the
base commit in a temporary git worktree, and this checkout or --head) runs each item once in
turn, --runs times, on the same database: a slow minute hits both alike. Each worker has its own
kept-open, read-only connection and renders through its own checkout's code (the rollup path of
pages.py: GETs through Django's whole request handler for the pages, the API and /metrics, and the
alert check). A base older than 2026-12-01's pages.py called the views directly, without the
middleware, so compare a checkout from before that only with a head that does the same.

Prints per item the p50 and p95 wall ms of each checkout and the ratio head/base of the p50s.
The database must be migrated to the newer of the two (an older checkout only reads it).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import importlib.util, json, os, sys, time
checkout = sys.argv[1]
os.chdir(checkout)
sys.path.insert(0, checkout)
spec = importlib.util.spec_from_file_location("bench_pages", os.path.join(checkout, "benchmarks", "pages.py"))
argv, sys.argv = sys.argv, ["pages.py"]
pages = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pages)
sys.argv = argv
from django.conf import settings
from django.test import override_settings
settings.ALLOWED_HOSTS = ["*"]
settings.API_THROTTLE_PER_MINUTE = 1_000_000
if hasattr(pages, "make_credentials"):  # pages.py requests through the whole handler (since 2026-12-01)
    pages.make_credentials(os.environ["DATABASE_URL"].rsplit("/", 1)[1])
else:
    print("note: this checkout's pages.py calls the views directly (RequestFactory, no middleware)", file=sys.stderr)
runners = {label: pages.page(target) for label, _spec, _old, target in pages.ITEMS}
print(json.dumps(sorted(runners)), flush=True)
with override_settings(SELECTOR_SNAPSHOT_TTL=0):
    for line in sys.stdin:
        label = json.loads(line)
        started = time.perf_counter()
        runners[label]()
        print(json.dumps((time.perf_counter() - started) * 1000), flush=True)
"""


def pct(values: list[float], p: float) -> float:
    """As benchmarks/pages.py: the nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Worker:
    def __init__(self, checkout: Path, database: str) -> None:
        env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
               "DJANGO_SETTINGS_MODULE": "leadsync_portal.settings_test"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(checkout)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=env, cwd=checkout,
        )
        self.labels = set(json.loads(self._line()))

    def _line(self) -> str:
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise SystemExit(f"worker exited ({self.process.wait()})")
        return line

    def run(self, label: str) -> float:
        self.process.stdin.write(json.dumps(label) + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return float(json.loads(self._line()))

    def close(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait(timeout=30)


def speed_reference() -> float:
    started = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    return (time.perf_counter() - started) * 1000


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")  # so the worktree below is removed


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="commit to compare against")
    parser.add_argument("--head", type=Path, default=ROOT, help="checkout with the change (default: this one)")
    parser.add_argument("--database", default="leadsync_bench_big_rate")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--items", nargs="*", help="item labels (default: every item both checkouts have)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        base_dir = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base_dir), args.base], check=True)
        try:
            base_commit = subprocess.run(["git", "-C", str(base_dir), "rev-parse", "--short", "HEAD"],
                                         capture_output=True, text=True, check=True).stdout.strip()
            head_commit = subprocess.run(["git", "-C", str(args.head), "rev-parse", "--short", "HEAD"],
                                         capture_output=True, text=True, check=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(args.head), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, check=True).stdout.strip()
            workers = {"base": Worker(base_dir, args.database), "head": Worker(args.head, args.database)}
            labels = [label for label in (args.items or sorted(workers["head"].labels)) if label in workers["base"].labels]
            load_before, speed_before = os.getloadavg(), speed_reference()
            times: dict[str, dict[str, list[float]]] = {label: {"base": [], "head": []} for label in labels}
            for label in labels:
                for worker in workers.values():
                    worker.run(label)  # warm: imports, plans, the connection
                for run in range(args.runs):
                    order = ("base", "head") if run % 2 == 0 else ("head", "base")
                    for name in order:
                        times[label][name].append(workers[name].run(label))
            load_after, speed_after = os.getloadavg(), speed_reference()
            for worker in workers.values():
                worker.close()
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_dir)], check=False)
    print(f"database {args.database}; base {base_commit}, head {head_commit}{' + uncommitted changes' if dirty else ''}; "
          f"{args.runs} interleaved runs per item")
    print(f"load average {load_before[0]:.1f} -> {load_after[0]:.1f}; speed reference {speed_before:.0f} -> "
          f"{speed_after:.0f} ms (a fixed 5M-step Python loop)")
    print()
    print("| item | base p50 | base p95 | head p50 | head p95 | head/base (p50) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label in labels:
        base, head = times[label]["base"], times[label]["head"]
        ratio = statistics.median(head) / statistics.median(base)
        print(f"| {label} | {statistics.median(base):.1f} | {pct(base, 95):.1f} | {statistics.median(head):.1f} | "
              f"{pct(head, 95):.1f} | {ratio:.2f}× |")


if __name__ == "__main__":
    main()
