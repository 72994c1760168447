"""Chaos soak: the real portal (gunicorn, one Celery worker per queue, beat) under a writing sync, fault after fault.

While the sync simulator writes history, the soak starts one fault at a time:

  redis_hang      the web side's Redis accepts connections and never answers (cache, throttles, snapshots)
  broker_hang     the whole Redis hangs, for every process: the web side's and the Celery broker of
                  the workers and beat (production's one Redis stopping)
  hostile_channels a slow-loris Slack webhook and an SMTP server that never answers, with alerts to send
  db_terminate    pg_terminate_backend() of every backend the portal and the sync hold, every 3 s
  db_restart      PostgreSQL gone for the fault's length: connections dropped, new ones refused
  kill_archive    SIGKILL of the maintenance worker in the middle of the history archive
  kill_delivery   SIGKILL of the deliveries worker in the middle of a delivery to the healthy channel

and then checks what a user of the portal relies on:

  rows    no history row lost or duplicated, counted across lead_sync_history and its archive
          (an audit trigger records every committed insert; the sync's own count is compared too)
  alerts  every alert state change reaches the healthy channel exactly once, no later than one
          check interval (+5 s to send) after the later of the change and the fault's end
  checks  the scheduled alert checks keep running on time while the fault lasts (no gap between
          two check starts longer than 1.5 intervals + 2 s); when the fault takes the database
          away no check can run, and they must resume within that same gap after it ends
  pages   every request answers within 1 s with a 200 or a 503, never a hang (5 s client timeout)

Nothing touches the shared PostgreSQL cluster: the portal and the sync reach the soak's database
through a local TCP proxy (tests/hostile_servers.py), which is how "restart" is played; pg_terminate_backend
hits only backends whose application_name is leadsync-soak-*. The web server's REDIS_URL points at
another proxy, which is how Redis hangs.

The workers and beat reach the Celery broker through a third proxy. redis_hang hangs only the
web side's Redis, so the checks keep a working broker and must stay on time. broker_hang hangs
both, as production's single Redis would: while the broker hangs no task can be queued or
fetched, by anyone, so no check can run; what the portal promises, and the soak asserts, is that
no process exits, the web side keeps answering (from the database) in under 1 s, and the checks
resume within one allowed gap once Redis answers again, with every alert delivered once.

Schedule: real celery beat (django-celery-beat) with the alert checks set to every
--check-interval seconds; beat ticks at least every 5 s, which is fine for intervals of 5 s and up.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadsync_c REDIS_URL=redis://127.0.0.1:6379/3 \\
    nice -n 10 .venv/bin/python benchmarks/soak.py --fault-seconds 60 --gap-seconds 45

The database must be migrated; the soak adds rows (old history for the archive, its own rules and
channels, JobRuns) and leaves them. Exit status 0 when everything held, 1 otherwise.
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.hostile_servers import FaultProxy, HungServer, RecordingServer, SlowLorisHTTPServer, closed_port  # noqa: E402

ALL_FAULTS = ("redis_hang", "broker_hang", "hostile_channels", "db_terminate", "db_restart", "kill_archive",
              "kill_delivery")
STOPS_CHECKS = {"broker_hang", "db_terminate", "db_restart"}
APP_NAME = "leadsync-soak"  # application_name prefix of every connection the portal and the sync open
CHECK_TASKS = ("monitoring.evaluate_alerts", "monitoring.check_deadman")
PAGES = ("/", "/alerts/", "/api/sync-metrics/", "/readyz")
RULE_PREFIX = "soak "
HEALTHY_CHANNEL = "soak healthy webhook"
GOOD_STATUSES = {200, 503}
DELIVERY_GRACE = 5.0  # seconds to send a message after the check that queued it


@dataclass
class SoakConfig:
    database_url: str
    redis_url: str
    log_dir: Path
    faults: tuple[str, ...] = ALL_FAULTS
    fault_seconds: float = 60.0
    gap_seconds: float = 45.0  # quiet time before the first fault and after each one
    check_interval: int = 15
    rate: float = 20.0  # sync writes per second
    seed: int = 10
    old_rows: int = 200_000  # history older than the retention, for the archive to move
    archive_batch: int = 2000
    archive_pause_ms: int = 20
    page_budget: float = 1.0
    page_timeout: float = 5.0
    restart_after: float = 2.0  # a supervisor (systemd) restarts a killed worker after this long
    web_workers: int = 2
    # A killed worker's task comes back after the broker's visibility timeout (production: just
    # above the longest hard time limit, minutes). The soak shortens both, keeping their order,
    # so the redelivery happens inside the run: visibility > maintenance hard limit > archive run,
    # and visibility > a delivery claim's staleness (delivery hard limit + 30 s), so the killed
    # delivery's redelivered task may take its row over.
    visibility_timeout: int = 120
    maintenance_time_limit: int = 100
    delivery_time_limit: int = 20

    @classmethod
    def short(cls, **fields: Any) -> SoakConfig:
        """The CI version: every fault, each for a few check intervals (about two minutes in all)."""
        defaults: dict[str, Any] = dict(
            fault_seconds=8.0, gap_seconds=6.0, check_interval=5, rate=10.0, old_rows=15_000,
            archive_batch=500, archive_pause_ms=40, visibility_timeout=45, maintenance_time_limit=30,
            delivery_time_limit=12,
        )
        return cls(**{**defaults, **fields})


# --------------------------------------------------------------------------------------- records


@dataclass
class PageSample:
    at: float
    path: str
    status: int | None
    seconds: float
    error: str = ""


@dataclass
class Flip:
    """The soak switched a rule on (it must fire) or off (it must recover) at `at`."""

    rule: str
    kind: str  # "firing" or "resolved"
    at: float
    fault: str


@dataclass
class FaultRun:
    name: str
    started: float
    ended: float = 0.0
    # The fault takes away what every check needs (the database, or the broker): no check can run
    # while it lasts, so they must resume within one allowed gap after it ends.
    stops_checks: bool = False
    notes: list[str] = field(default_factory=list)  # what happened that the table should say
    problems: list[str] = field(default_factory=list)  # what was late or lost
    held: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class RowCount:
    baseline: int = 0  # live + archive before the soak started writing
    written: int = 0  # inserts committed during the soak (audit trigger)
    live: int = 0
    archived: int = 0
    lost: int = 0
    duplicated: int = 0
    sync_reported: int | None = None  # the sync's own count of attempts it wrote
    sync_uncertain: int = 0  # commits whose answer the sync never got (connection lost mid-commit)

    @property
    def unexplained(self) -> int:
        """Rows present beyond (or short of) what the baseline and the audit explain."""
        return self.live + self.archived - self.baseline - self.written


@dataclass
class SoakReport:
    config: SoakConfig
    faults: list[FaultRun]
    rows: RowCount
    load: str
    problems: list[str]  # whole-run problems (rows, processes)
    page_budget: float

    @property
    def ok(self) -> bool:
        return not self.problems and not any(run.problems for run in self.faults)

    def table(self) -> str:
        head = ["Fault", "Duration", "What held", "Late or lost"]
        body = [
            [run.name, f"{run.seconds:.0f} s", "; ".join(run.held + [f"({note})" for note in run.notes]) or "-",
             "; ".join(run.problems) or "nothing"]
            for run in self.faults
        ]
        rows = self.rows
        sync = "n/a" if rows.sync_reported is None else str(rows.sync_reported)
        body.append([
            "whole run", f"{self.config.fault_seconds:.0f} s faults",
            f"history rows: {rows.written} written (sync says {sync}, up to {rows.sync_uncertain} more unanswered), "
            f"{rows.live} live + {rows.archived} archived, "
            f"{rows.lost} lost, {rows.duplicated} in both",
            "; ".join(self.problems) or "nothing",
        ])
        widths = [max(len(line[i]) for line in [head, *body]) for i in range(3)]
        lines = ["| " + " | ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(line)) + " |"
                 for line in [head, *body]]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in [*widths, len(head[3])]) + "|")
        return "\n".join(lines) + (
            f"\n\npage budget {self.page_budget:.1f} s (1 s, or twice the no-fault p95 on a loaded machine); "
            f"check interval {self.config.check_interval} s; load average during the run: {self.load}"
        )


# --------------------------------------------------------------------------------------- plumbing


def _broker_key_prefix() -> str:
    """The broker key prefix this process publishes under ("" when it has none)."""
    from leadsync_portal.celery import app

    return (app.conf.broker_transport_options or {}).get("global_keyprefix", "")


def _with_database(url: str, *, port: int | None = None, name: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if port is not None:
        netloc = f"{netloc.rsplit('@', 1)[0]}@127.0.0.1:{port}" if "@" in netloc else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{name}" if name else parts.path))


def _host_port(url: str, default: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default


class Children:
    """The portal's processes: each in its own process group, so SIGKILL takes a worker with its pool."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.specs: dict[str, tuple[list[str], dict[str, str]]] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.specs[name] = (argv, env)
        log = self.log_dir / f"{name}.log"
        self.logs[name] = log
        with open(log, "ab") as out:
            self.procs[name] = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def restart(self, name: str) -> None:
        self.start(name, *self.specs[name])

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    def log_text(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace") if name in self.logs else ""

    def wait_for_log(self, name: str, marker: str, *, timeout: float, after: int = 0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.log_text(name)[after:]:
                return True
            if self.procs[name].poll() is not None:
                return False
            time.sleep(0.3)
        return False

    def stop_all(self) -> None:
        """SIGTERM every group, then SIGKILL what is left after 5 s; no child outlives the soak."""
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # also pool children left behind by a dead parent
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


class Observer:
    """The harness's own database connection: direct to PostgreSQL, never through the fault proxy."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.url, autocommit=True, application_name="soak-observer")
        return self.conn

    def rows(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self._connect().execute(sql, params).fetchall()

    def one(self, sql: str, params: Any = None) -> Any:
        return self.rows(sql, params)[0][0]

    def execute(self, sql: str, params: Any = None) -> None:
        self._connect().execute(sql, params)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


AUDIT_SQL = """
CREATE TABLE IF NOT EXISTS soak_history_audit (id bigint PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp());
TRUNCATE soak_history_audit;
CREATE OR REPLACE FUNCTION soak_audit_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO soak_history_audit (id) VALUES (NEW.id);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS soak_audit_history ON lead_sync_history;
CREATE TRIGGER soak_audit_history AFTER INSERT ON lead_sync_history FOR EACH ROW EXECUTE FUNCTION soak_audit_history();
"""
DROP_AUDIT_SQL = """
DROP TRIGGER IF EXISTS soak_audit_history ON lead_sync_history;
DROP FUNCTION IF EXISTS soak_audit_history();
DROP TABLE IF EXISTS soak_history_audit;
"""
SEED_SQL = """
WITH l AS (SELECT array_agg(id) AS ids FROM leads WHERE first_name = 'soak-old')
INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, error_message, created_at, synced_at)
SELECT l.ids[1 + g %% cardinality(l.ids)], 'scheduled',
       CASE WHEN g %% 2 = 0 THEN 'twenty_to_supabase' ELSE 'supabase_to_twenty' END,
       CASE WHEN g %% 10 = 0 THEN 'error' ELSE 'synced' END,
       CASE WHEN g %% 10 = 0 THEN 'HTTP 502 from Twenty' END,
       now() - interval '40 days' - g * interval '10 seconds' - interval '1 second',
       now() - interval '40 days' - g * interval '10 seconds'
FROM l, generate_series(1, %(rows)s) AS g
"""


# --------------------------------------------------------------------------------------- the sync


def parse_sync_count(output: str) -> tuple[int | None, int]:
    """The simulator's own count of attempts it wrote (and of commits left unanswered), from its summary lines.

    simulate_sync ends with a line such as "simulate_sync: 60.0 s, ..., 1200 attempts (...); connections
    lost 9 times and re-opened (...), 2 unanswered (...)": it reconnects by itself after a blip and
    counts apart the history inserts whose answer a lost connection swallowed. A simulator that
    exited and was started again (a soak failure of its own) wrote one such line per run; they add up.
    """
    total: int | None = None
    uncertain = 0
    for line in output.splitlines():
        match = re.search(r"(\d+) (?:history rows|attempts)\b", line)
        if match:
            total = (total or 0) + int(match.group(1))
            unanswered = re.search(r"(\d+) (?:uncertain|unanswered)", line)
            uncertain += int(unanswered.group(1)) if unanswered else 0
            # A connection lost mid-statement ("REFUSED statements: {'OperationalError': 2}") may
            # have committed or not: an upper bound on the writes the simulator could not count.
            lost = re.search(r"'OperationalError': (\d+)", line)
            uncertain += int(lost.group(1)) if lost else 0
    return total, uncertain


# --------------------------------------------------------------------------------------- the soak


class Soak:
    def __init__(self, config: SoakConfig) -> None:
        self.config = config
        self.observer = Observer(config.database_url)
        self.children = Children(config.log_dir)
        self.samples: list[PageSample] = []
        self.flips: list[Flip] = []
        self.runs: list[FaultRun] = []
        self.stop_polling = threading.Event()
        self.rule_number = 0
        self.problems: list[str] = []
        self.loads: list[str] = []
        self.worker_of: dict[str, str] = {}

    # -- setup ---------------------------------------------------------------------------------

    def prepare_database(self) -> tuple[str, str]:
        """Soak rules and channels, the check schedule, a user with a session and a token; returns (cookie, token)."""
        from django.contrib.auth.models import User
        from django.test import Client
        from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

        from monitoring.choices import ChannelKind, RuleKind
        from monitoring.models import AlertRule, Channel
        from monitoring.services.api_tokens import create_api_token

        Channel.objects.filter(name__startswith="soak ").delete()
        AlertRule.objects.filter(name__startswith=RULE_PREFIX).delete()
        # Only the soak's own rules and the dead-man rule: every state change is then one the soak caused.
        AlertRule.objects.exclude(kind=RuleKind.DEADMAN).update(enabled=False)
        Channel.objects.create(name=HEALTHY_CHANNEL, kind=ChannelKind.SLACK,
                               config={"webhook_url": f"{self.healthy.url}/services/T0/B0/healthy"})
        Channel.objects.create(name="soak slow-loris webhook", kind=ChannelKind.SLACK,
                               config={"webhook_url": f"{self.slowloris.url}/services/T0/B0/slow"})
        Channel.objects.create(name="soak silent mail", kind=ChannelKind.EMAIL, config={"to": ["ops@example.com"]})

        every = IntervalSchedule.objects.filter(every=self.config.check_interval, period=IntervalSchedule.SECONDS).first()
        every = every or IntervalSchedule.objects.create(every=self.config.check_interval, period=IntervalSchedule.SECONDS)
        checks = PeriodicTask.objects.filter(task__in=CHECK_TASKS)
        if set(checks.values_list("task", flat=True)) != set(CHECK_TASKS):
            raise RuntimeError(f"expected beat schedules for {CHECK_TASKS}; is the database migrated?")
        checks.update(interval=every, crontab=None, enabled=True, expire_seconds=max(1, self.config.check_interval - 1))
        PeriodicTasks.update_changed()

        user = User.objects.filter(username="soak").first() or User.objects.create_superuser("soak", "soak@example.com", None)
        client = Client()
        client.force_login(user)
        _, token = create_api_token(user=user, name=f"soak {time.time():.0f}")

        self.observer.execute(
            "INSERT INTO leads (first_name, sync_status) SELECT 'soak-old', 'synced' FROM generate_series(1, 200) "
            "WHERE NOT EXISTS (SELECT 1 FROM leads WHERE first_name = 'soak-old')"
        )
        self.observer.execute(
            "INSERT INTO leads (first_name, sync_status) SELECT 'soak-live', 'pending' FROM generate_series(1, 500) "
            "WHERE NOT EXISTS (SELECT 1 FROM leads WHERE first_name = 'soak-live')"
        )
        self.observer.execute(SEED_SQL, {"rows": self.config.old_rows})
        self.observer.execute("ANALYZE lead_sync_history")
        self.observer.execute(AUDIT_SQL)
        self.rows = RowCount(baseline=self.observer.one(
            "SELECT (SELECT count(*) FROM lead_sync_history) + (SELECT count(*) FROM lead_sync_history_archive)"
        ))
        return client.cookies["sessionid"].value, token

    def _env(self, role: str, *, redis_url: str | None = None) -> dict[str, str]:
        from django.conf import settings

        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DJANGO_SETTINGS_MODULE"))}
        env.update(
            DJANGO_SETTINGS_MODULE="benchmarks.soak_settings",  # production's, redelivery scanned every 10 s
            SECRET_KEY=settings.SECRET_KEY,
            DEBUG="1",  # static files from the finders, plain http; nothing here depends on it otherwise
            DATABASE_URL=_with_database(self.config.database_url, port=self.pg_proxy.port),
            REDIS_URL=redis_url or self.config.redis_url,
            CACHE_KEY_PREFIX=f"soak{os.getpid()}",
            PGAPPNAME=f"{APP_NAME}-{role}",
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(self.smtp.port),
            HISTORY_ARCHIVE_BATCH_SIZE=str(self.config.archive_batch),
            HISTORY_ARCHIVE_BATCH_PAUSE_MS=str(self.config.archive_pause_ms),
            CELERY_VISIBILITY_TIMEOUT=str(self.config.visibility_timeout),
            MAINTENANCE_TASK_TIME_LIMIT=str(self.config.maintenance_time_limit),
            MAINTENANCE_TASK_SOFT_TIME_LIMIT=str(self.config.maintenance_time_limit - 5),
            DELIVERY_TASK_TIME_LIMIT=str(self.config.delivery_time_limit),
            DELIVERY_TASK_SOFT_TIME_LIMIT=str(self.config.delivery_time_limit - 5),
            PYTHONUNBUFFERED="1",
            # The soak's own app.send_task (the archive) must land where its workers listen.
            SOAK_BROKER_KEY_PREFIX=_broker_key_prefix(),
        )
        return env

    def start_portal(self) -> None:
        from django.conf import settings

        py = sys.executable
        redis_host, redis_port = _host_port(self.config.redis_url, 6379)
        web_redis = urlunsplit(urlsplit(self.config.redis_url)._replace(netloc=f"127.0.0.1:{self.redis_proxy.port}"))
        self.web_port = closed_port()
        broker_redis = urlunsplit(urlsplit(self.config.redis_url)._replace(netloc=f"127.0.0.1:{self.broker_proxy.port}"))
        self.children.start("web", [
            py, "-m", "gunicorn", "leadsync_portal.wsgi:application", "-b", f"127.0.0.1:{self.web_port}",
            "-w", str(self.config.web_workers), "--threads", "4", "--timeout", "30", "--graceful-timeout", "3",
        ], self._env("web", redis_url=web_redis))

        routes = getattr(settings, "CELERY_TASK_ROUTES", None) or {}
        queues = {route.get("queue") for route in routes.values()} if isinstance(routes, dict) else set()
        tag = f"soak{os.getpid()}"
        if {"checks", "deliveries", "maintenance"} <= queues:
            workers = {"checks": 1, "deliveries": 4, "maintenance": 1}  # as ./portal up/serve
            if "rollups" in queues:
                workers["rollups"] = 1  # the compactor's own worker (issue 12)
        else:
            # Before the queues exist every task goes to Celery's default queue: one worker, as `./portal up` runs it.
            self.problems.append("no checks/deliveries/maintenance queues in CELERY_TASK_ROUTES: one worker for all tasks")
            workers = {"celery": 2}
        for queue, concurrency in workers.items():
            self.children.start(f"worker-{queue}", [
                py, "-m", "celery", "-A", "leadsync_portal", "worker", "-Q", queue, "-c", str(concurrency),
                "-n", f"{queue}@{tag}", "--loglevel=INFO", "--without-gossip", "--without-mingle",
            ], self._env(queue, redis_url=broker_redis))
        for role in ("checks", "deliveries", "maintenance"):
            self.worker_of[role] = f"worker-{role}" if f"worker-{role}" in self.children.procs else "worker-celery"
        self.children.start("beat", [
            py, "-m", "celery", "-A", "leadsync_portal", "beat", "--loglevel=INFO",
            "--pidfile", str(self.config.log_dir / "beat.pid"),
            "-s", str(self.config.log_dir / "beat-schedule"),
        ], self._env("beat", redis_url=broker_redis))
        for name in self.children.procs:
            if name.startswith("worker-") and not self.children.wait_for_log(name, " ready.", timeout=90):
                raise RuntimeError(f"{name} did not start; see {self.children.logs[name]}")
        deadline = time.monotonic() + 60
        while self._get("/healthz", {})[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"web did not start; see {self.children.logs['web']}")
            time.sleep(0.5)

    def warm_up(self, cookie: str, token: str) -> None:
        """A few rounds of every page first, so each gunicorn worker has imported and compiled what it serves."""
        for _ in range(2 * self.config.web_workers):
            for path in PAGES:
                self._get(path, self._headers(path, cookie, token))

    def start_sync(self) -> None:
        self.children.start("sync", [
            sys.executable, "manage.py", "simulate_sync", "--rate", str(self.config.rate), "--duration", "0",
            "--seed", str(self.config.seed),
        ], self._env("sync"))

    def stop_sync(self) -> None:
        self.sync_stopping = True
        proc = self.children.procs["sync"]
        proc.send_signal(signal.SIGINT)  # lets it print its own count
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.problems.append("simulate_sync did not stop within 15 s of SIGINT")
        self.rows.sync_reported, self.rows.sync_uncertain = parse_sync_count(self.children.log_text("sync"))

    # -- pages ---------------------------------------------------------------------------------

    def _get(self, path: str, headers: dict[str, str]) -> tuple[int | None, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=self.config.page_timeout)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status, ""
        except Exception as exc:  # a timeout is the hang we are looking for; anything else is just as bad
            return None, type(exc).__name__
        finally:
            conn.close()

    def _poll(self, path: str, headers: dict[str, str]) -> None:
        while not self.stop_polling.is_set():
            at, started = time.time(), time.monotonic()
            status, error = self._get(path, headers)
            seconds = time.monotonic() - started
            self.samples.append(PageSample(at, path, status, seconds, error))
            self.stop_polling.wait(max(0.0, 1.0 - seconds))

    @staticmethod
    def _headers(path: str, cookie: str, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else {"Cookie": f"sessionid={cookie}"}

    def start_polling(self, cookie: str, token: str) -> None:
        for path in PAGES:
            headers = self._headers(path, cookie, token)
            threading.Thread(target=self._poll, args=(path, headers), daemon=True, name=f"poll {path}").start()

    # -- alert flips ---------------------------------------------------------------------------

    def _new_rule(self) -> str:
        self.rule_number += 1
        name = f"{RULE_PREFIX}{self.rule_number:03d}"
        # A stale-leads rule with threshold 99999999 never fires; at -1 it always does: the soak decides.
        self.observer.execute(
            "INSERT INTO monitoring_alert_rule (name, kind, direction, severity, threshold, \"window\", min_attempts, "
            "consecutive_checks, clear_checks, reminder_minutes, enabled, consecutive_breaches, consecutive_clears, "
            "last_values, last_summary, last_error) VALUES (%s, 'stale_leads', '', 'warning', 99999999, "
            "interval '1 hour', 0, 1, 1, 0, true, 0, 0, '{}', '', '')",
            [name],
        )
        return name

    def flip(self, rule: str, *, on: bool, fault: str) -> None:
        self.observer.execute("UPDATE monitoring_alert_rule SET threshold = %s WHERE name = %s", [-1 if on else 99999999, rule])
        self.flips.append(Flip(rule, "firing" if on else "resolved", time.time(), fault))

    def hold(self, run: FaultRun, seconds: float, *, tick: Callable[[], None] | None = None, flips: bool = True) -> None:
        """Keep the fault for `seconds`, firing one soak rule near the start and clearing it halfway.

        While the database is away no check can see a rule change, so there the rule is cleared
        only after the fault (see _quiet_after): a change that comes and goes unseen is no test.
        """
        interval = self.config.check_interval
        if flips:
            # The rule goes on at 1 s and must stay on for a check interval and a margin, or whether
            # a check sees it is luck: the short soak's 6 s baseline left it on for 4 s, which checks
            # 5 s apart miss about one time in five ("soak 001 firing: never detected").
            seconds = max(seconds, interval + 3)
        off_at = min(max(seconds / 2, interval + 2), max(seconds - 1, 1))
        start = time.monotonic()
        rule = self._new_rule() if flips else None
        state = "waiting"
        while (elapsed := time.monotonic() - start) < seconds:
            if rule and state == "waiting" and elapsed >= 1:
                self.flip(rule, on=True, fault=run.name)
                state = "on"
            elif rule and state == "on" and elapsed >= off_at and not run.stops_checks:
                self.flip(rule, on=False, fault=run.name)
                state = "off"
            if tick:
                tick()
            self._supervise(run)
            time.sleep(0.5 if not tick else 0.2)
        if rule and state == "on":
            self.pending_off = (rule, run)

    def _supervise(self, run: FaultRun) -> None:
        """Like systemd (Restart=always): a process that exited is started again, and it is said where.

        A process that exits on its own is a failure of the fault that made it exit: beat dying
        with its database connection silences every check until someone restarts it, and the sync
        simulator giving up ends `./portal up`'s demo (it reconnects after a blip, as n8n retries).
        """
        for name, proc in list(self.children.procs.items()):
            if name in self.expected_down or proc.poll() is None or (name == "sync" and self.sync_stopping):
                continue
            run.problems.append(f"{name} exited (status {proc.returncode}); restarted by the supervisor")
            if name == "sync":
                # A new seed: the same one would replay the same new leads. Each run prints its own
                # count, and parse_sync_count adds them up.
                argv, env = self.children.specs["sync"]
                self.children.specs["sync"] = ([*argv[:-1], str(int(argv[-1]) + 1)], env)
            self.children.restart(name)

    # -- faults --------------------------------------------------------------------------------

    def _proxy_fault(self, run: FaultRun, proxy: FaultProxy, mode: str) -> None:
        proxy.set_mode(mode)
        try:
            self.hold(run, self.config.fault_seconds)
        finally:
            proxy.set_mode("pass")

    def fault_redis_hang(self, run: FaultRun) -> None:
        self._proxy_fault(run, self.redis_proxy, "hang")

    def fault_broker_hang(self, run: FaultRun) -> None:
        self.redis_proxy.set_mode("hang")
        try:
            self._proxy_fault(run, self.broker_proxy, "hang")
        finally:
            self.redis_proxy.set_mode("pass")

    def fault_hostile_channels(self, run: FaultRun) -> None:
        before = (len(self.slowloris.requests), self.smtp.connections)
        self.slowloris.hostile = self.smtp.hostile = True
        try:
            self.hold(run, self.config.fault_seconds)
        finally:
            self.slowloris.hostile = self.smtp.hostile = False
        run.notes.append(f"slow-loris got {len(self.slowloris.requests) - before[0]} requests, "
                         f"silent SMTP {self.smtp.connections - before[1]} connections")

    def fault_db_terminate(self, run: FaultRun) -> None:
        killed = 0
        last = 0.0

        def terminate() -> None:
            nonlocal killed, last
            if time.monotonic() - last >= 3:
                last = time.monotonic()
                killed += self.observer.one(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name LIKE %s AND pid <> pg_backend_pid()",
                    [f"{APP_NAME}-%"],
                )

        self.hold(run, self.config.fault_seconds, tick=terminate)
        run.notes.append(f"{killed} backends terminated")

    def fault_db_restart(self, run: FaultRun) -> None:
        self._proxy_fault(run, self.pg_proxy, "down")

    def fault_kill_archive(self, run: FaultRun) -> None:
        from leadsync_portal.celery import app

        worker = self.worker_of["maintenance"]
        archived_before = self.observer.one("SELECT count(*) FROM lead_sync_history_archive")
        sent = time.time()
        app.send_task("monitoring.archive_history")
        killed = False
        deadline = time.monotonic() + 2 * self.config.fault_seconds + 10
        while time.monotonic() < deadline:
            moved = self.observer.one("SELECT count(*) FROM lead_sync_history_archive") - archived_before
            if moved >= 3 * self.config.archive_batch:
                self.expected_down.add(worker)
                self.children.kill(worker)
                self.kill_times["archive"] = time.time()
                run.notes.append(f"killed {worker} after {moved} rows moved")
                killed = True
                break
            if self._archive_finished_since(sent):
                break
            time.sleep(0.1)
        if not killed:
            started = self.observer.one(
                "SELECT count(*) FROM monitoring_job_run WHERE task_name = 'monitoring.archive_history' "
                "AND started_at >= to_timestamp(%s)", [sent])
            run.problems.append(
                "the archive finished before the kill: no mid-run kill" if started else
                "the archive task never started (queued where no worker reads?): no mid-run kill")
        self.hold(run, self.config.restart_after, flips=False)
        if killed:
            self.children.restart(worker)
            self.expected_down.discard(worker)
        self.hold(run, max(self.config.fault_seconds - self.config.restart_after, 1))

    def _archive_finished_since(self, since: float) -> bool:
        return bool(self.observer.one(
            "SELECT count(*) FROM monitoring_job_run WHERE task_name = 'monitoring.archive_history' "
            "AND started_at >= to_timestamp(%s) AND outcome = 'succeeded'", [since]))

    def fault_kill_delivery(self, run: FaultRun) -> None:
        worker = self.worker_of["deliveries"]
        rule = self._new_rule()
        self.healthy.delay = 10.0  # the channel holds its answer: the worker is in the middle of the delivery
        received = len(self.healthy.requests)
        self.flip(rule, on=True, fault=run.name)
        deadline = time.monotonic() + self.config.fault_seconds + 2 * self.config.check_interval
        killed = False
        while time.monotonic() < deadline:
            if any(_parse_message(r["json"]) == (rule, "firing") for r in self.healthy.requests[received:]):
                self.expected_down.add(worker)
                self.children.kill(worker)
                self.kill_times["delivery"] = time.time()
                self.kill_delivery_rule = rule
                run.notes.append(f"killed {worker} while it waited on the healthy channel for {rule}")
                killed = True
                break
            self._supervise(run)
            time.sleep(0.1)
        self.healthy.delay = 0.0
        if not killed:
            run.problems.append("no delivery reached the healthy channel to kill in the middle of")
        time.sleep(self.config.restart_after)
        if killed:
            self.children.restart(worker)
            self.expected_down.discard(worker)
        remaining = self.config.fault_seconds - (time.time() - run.started)
        self.hold(run, max(remaining, self.config.check_interval + 3), flips=False)
        self.flip(rule, on=False, fault=run.name)

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> SoakReport:
        config = self.config
        config.log_dir.mkdir(parents=True, exist_ok=True)
        self.kill_times: dict[str, float] = {}
        self.kill_delivery_rule = ""
        self.pending_off: tuple[str, FaultRun] | None = None
        self.sync_stopping = False
        self.expected_down: set[str] = set()  # killed by a fault, restarted by that fault
        redis_target = _host_port(config.redis_url, 6379)
        pg_target = _host_port(config.database_url, 5432)
        with ExitStack() as stack:
            self.healthy = stack.enter_context(RecordingServer())
            self.slowloris = stack.enter_context(SlowLorisHTTPServer(trickle=2.0))
            self.smtp = stack.enter_context(HungServer())
            self.redis_proxy = stack.enter_context(FaultProxy(redis_target))
            self.broker_proxy = stack.enter_context(FaultProxy(redis_target))
            self.pg_proxy = stack.enter_context(FaultProxy(pg_target))
            self.slowloris.hostile = self.smtp.hostile = False
            stack.callback(self.observer.close)
            stack.callback(self._drop_audit)
            stack.callback(self.children.stop_all)
            stack.callback(self.stop_polling.set)
            cookie, token = self.prepare_database()
            self.start_portal()
            self.start_sync()
            self.warm_up(cookie, token)
            self.start_polling(cookie, token)
            self._sample_load()
            self.runs.append(self._quiet("baseline", config.gap_seconds))
            for name in config.faults:
                run = FaultRun(name=name, started=time.time(), stops_checks=name in STOPS_CHECKS)
                getattr(self, f"fault_{name}")(run)
                run.ended = time.time()
                self.runs.append(run)
                self._sample_load()
                self._quiet_after(run)
            self.stop_sync()
            # Let the last deliveries land, and a killed worker's task come back, before counting.
            self._await_recovery()
            self.stop_polling.set()
            self._sample_load()
            self.assess()
        return SoakReport(config, self.runs, self.rows, " / ".join(self.loads), self.problems, self.page_budget())

    def _await_recovery(self) -> None:
        settle = time.monotonic() + self.config.check_interval + DELIVERY_GRACE
        # kombu puts unacknowledged messages back once they are visibility_timeout old, scanning
        # every 10 s in the soak (benchmarks/soak_settings.py); then the worker needs a moment.
        latest = max(self.kill_times.values(), default=0.0) + self.config.visibility_timeout + 25
        while time.monotonic() < settle or time.time() < latest:
            if time.monotonic() >= settle and self._recovered():
                return
            time.sleep(1)

    def _recovered(self) -> bool:
        archive = "archive" not in self.kill_times or self._archive_finished_since(self.kill_times["archive"])
        return archive and ("delivery" not in self.kill_times or self._killed_delivery_status() == "sent")

    def _killed_delivery_status(self) -> str:
        found = self.observer.rows(
            "SELECT d.status FROM monitoring_alert_delivery d JOIN monitoring_alert_incident i ON i.id = d.incident_id "
            "JOIN monitoring_alert_rule r ON r.id = i.rule_id JOIN monitoring_alert_channel c ON c.id = d.channel_id "
            "WHERE r.name = %s AND c.name = %s AND d.kind = 'firing'", [self.kill_delivery_rule, HEALTHY_CHANNEL])
        return found[0][0] if found else "missing"

    def _quiet(self, name: str, seconds: float) -> FaultRun:
        run = FaultRun(name=name, started=time.time())
        self.hold(run, seconds)
        run.ended = time.time()
        return run

    def _quiet_after(self, run: FaultRun) -> None:
        quiet = FaultRun(name=f"after {run.name}", started=time.time())
        if self.pending_off:
            # The rule switched on during a database fault: off once the checks can see it fire.
            self.hold(quiet, min(self.config.check_interval + 2, self.config.gap_seconds), flips=False)
            rule, owner = self.pending_off
            self.flip(rule, on=False, fault=owner.name)
            self.pending_off = None
        self.hold(quiet, max(self.config.gap_seconds - (time.time() - quiet.started), 1), flips=False)

    def _sample_load(self) -> None:
        self.loads.append(" ".join(Path("/proc/loadavg").read_text().split()[:3]))

    def _drop_audit(self) -> None:
        try:
            self.observer.execute(DROP_AUDIT_SQL)
        except psycopg.Error:
            pass

    # -- assessment ----------------------------------------------------------------------------

    def assess(self) -> None:
        self._assess_rows()
        runs_by_name = {run.name: run for run in self.runs}
        checks = self._check_starts()
        changes = self._state_changes()
        receipts = self._receipts()
        for run in self.runs:
            self._assess_pages(run)
            self._assess_checks(run, checks)
        for flip in self.flips:
            self._assess_flip(flip, runs_by_name[flip.fault], changes, receipts)
        self._assess_kills(runs_by_name)

    def _assess_rows(self) -> None:
        rows = self.rows
        rows.written, rows.live, rows.archived, rows.lost, rows.duplicated = self.observer.rows("""
            SELECT (SELECT count(*) FROM soak_history_audit),
                   (SELECT count(*) FROM lead_sync_history),
                   (SELECT count(*) FROM lead_sync_history_archive),
                   (SELECT count(*) FROM soak_history_audit a
                     WHERE NOT EXISTS (SELECT 1 FROM lead_sync_history h WHERE h.id = a.id)
                       AND NOT EXISTS (SELECT 1 FROM lead_sync_history_archive r WHERE r.id = a.id)),
                   (SELECT count(*) FROM lead_sync_history h JOIN lead_sync_history_archive r USING (id))
        """)[0]
        if rows.lost:
            self.problems.append(f"{rows.lost} history rows lost")
        if rows.duplicated:
            self.problems.append(f"{rows.duplicated} history rows in both the live and the archive table")
        if rows.unexplained:
            self.problems.append(f"{rows.unexplained:+d} rows beyond what was there and what was written")
        if rows.sync_reported is None:
            self.problems.append("the sync did not report how many attempts it wrote")
        elif not rows.sync_reported <= rows.written <= rows.sync_reported + rows.sync_uncertain:
            self.problems.append(
                f"the sync wrote {rows.sync_reported} attempts (+{rows.sync_uncertain} unanswered commits), "
                f"the table gained {rows.written}"
            )

    def _check_starts(self) -> dict[str, list[float]]:
        found = self.observer.rows(
            "SELECT task_name, extract(epoch FROM started_at)::float8 FROM monitoring_job_run "
            "WHERE task_name = ANY(%s) AND started_at >= to_timestamp(%s) AND outcome <> 'skipped' ORDER BY started_at",
            [list(CHECK_TASKS), self.runs[0].started - 60],
        )
        starts: dict[str, list[float]] = {task: [] for task in CHECK_TASKS}
        for task, at in found:
            starts[task].append(at)
        return starts

    def allowed_gap(self) -> float:
        return 1.5 * self.config.check_interval + 2

    def _assess_checks(self, run: FaultRun, checks: dict[str, list[float]]) -> None:
        allowed = self.allowed_gap()
        worst = 0.0
        for task, starts in checks.items():
            short = task.removeprefix("monitoring.")
            if run.stops_checks:
                # No check can run without its database: it must resume within one allowed gap of the end.
                resumed = next((at for at in starts if at >= run.ended), None)
                if resumed is None or resumed - run.ended > allowed:
                    late = "never" if resumed is None else f"after {resumed - run.ended:.0f} s"
                    run.problems.append(f"{short} resumed {late} (allowed {allowed:.0f} s)")
                continue
            before = [at for at in starts if at <= run.started]
            inside = [at for at in starts if run.started < at <= run.ended]
            points = ([before[-1]] if before else [run.started]) + inside + [run.ended]
            gap = max(b - a for a, b in zip(points, points[1:]))
            worst = max(worst, gap)
            if gap > allowed:
                run.problems.append(f"{short}: {gap:.0f} s without a check (allowed {allowed:.0f} s)")
        if not run.stops_checks:
            run.held.append(f"checks every ≤{worst:.0f} s")
        elif not any("resumed" in p for p in run.problems):
            run.held.append("checks resumed on time")

    def page_budget(self) -> float:
        """1 s, unless the machine is so loaded that pages are slower than that with no fault at all.

        Then the budget is twice the no-fault p95: a fault must not add a wait (a hung Redis adds
        30 s, a refused connection nothing), but the soak cannot make a loaded CPU faster.
        """
        baseline = sorted(s.seconds for s in self.samples if s.at < self.runs[0].ended and s.status in GOOD_STATUSES)
        p95 = baseline[int(0.95 * (len(baseline) - 1))] if baseline else 0.0
        return max(self.config.page_budget, 2 * p95)

    def _assess_pages(self, run: FaultRun) -> None:
        # By start time: a request started in the fault belongs to it, and faults follow each other.
        mine = [s for s in self.samples if run.started <= s.at < run.ended]
        if not mine:
            run.problems.append("no page was polled")
            return
        budget = self.page_budget()
        bad = [s for s in mine if s.status not in GOOD_STATUSES or s.seconds > budget]
        statuses = sorted({str(s.status) for s in mine if s.status})
        slowest = max(s.seconds for s in mine)
        if bad:
            kinds = sorted({f"{s.path} {s.status or s.error} {s.seconds:.1f}s" for s in bad})[:4]
            run.problems.append(f"{len(bad)}/{len(mine)} page answers bad (e.g. {', '.join(kinds)})")
        else:
            run.held.append(f"{len(mine)} page answers ({'/'.join(statuses)}) ≤{slowest:.2f} s")

    def _state_changes(self) -> dict[tuple[str, str], float]:
        found = self.observer.rows(
            "SELECT r.name, extract(epoch FROM i.started_at)::float8, extract(epoch FROM i.resolved_at)::float8 "
            "FROM monitoring_alert_incident i JOIN monitoring_alert_rule r ON r.id = i.rule_id WHERE r.name LIKE %s",
            [f"{RULE_PREFIX}%"],
        )
        changes: dict[tuple[str, str], float] = {}
        for name, started, resolved in found:
            changes[(name, "firing")] = started
            if resolved is not None:
                changes[(name, "resolved")] = resolved
        return changes

    def _receipts(self) -> dict[tuple[str, str], list[float]]:
        receipts: dict[tuple[str, str], list[float]] = {}
        for request in self.healthy.requests:
            key = _parse_message(request["json"])
            if key:
                receipts.setdefault(key, []).append(request["at"])
        return receipts

    def _assess_flip(self, flip: Flip, run: FaultRun, changes: dict, receipts: dict) -> None:
        key = (flip.rule, flip.kind)
        got = receipts.get(key, [])
        label = f"{flip.rule} {flip.kind}"
        if key not in changes:
            run.problems.append(f"{label}: never detected")
            return
        deadline = max(flip.at, run.ended) + self.config.check_interval + DELIVERY_GRACE
        for other in self.runs:
            # A database fault that began before the change could be seen hides it until that fault ends.
            if other.stops_checks and flip.at < other.ended and other.started <= deadline:
                deadline = max(deadline, other.ended + self.config.check_interval + DELIVERY_GRACE)
        allowed_copies = 2 if flip.rule == self.kill_delivery_rule and flip.kind == "firing" else 1
        if not got:
            run.problems.append(f"{label}: never reached the healthy channel")
        elif len(got) > allowed_copies:
            run.problems.append(f"{label}: reached the healthy channel {len(got)} times")
        elif got[0] > deadline:
            run.problems.append(f"{label}: reached the healthy channel {got[0] - deadline:.0f} s late")
        else:
            run.held.append(f"{label} delivered once, {got[0] - changes[key]:.1f} s after the change")

    def _assess_kills(self, runs: dict[str, FaultRun]) -> None:
        if "archive" in self.kill_times and "kill_archive" in runs:
            run = runs["kill_archive"]
            killed = self.kill_times["archive"]
            if self._archive_finished_since(killed):
                redone = self.observer.one(
                    "SELECT extract(epoch FROM min(started_at))::float8 FROM monitoring_job_run "
                    "WHERE task_name = 'monitoring.archive_history' AND started_at >= to_timestamp(%s)", [killed])
                run.held.append(f"archive redone {redone - killed:.0f} s after the kill")
            else:
                run.problems.append(
                    f"archive not redone within {time.time() - killed:.0f} s of the kill "
                    f"(CELERY_VISIBILITY_TIMEOUT={self.config.visibility_timeout} s for the soak)"
                )
        if "delivery" in self.kill_times and "kill_delivery" in runs:
            run = runs["kill_delivery"]
            status = self._killed_delivery_status()
            if status == "sent":
                run.held.append("the killed delivery's row ended 'sent'")
            else:
                run.problems.append(f"the killed delivery's row is still '{status}' at the end")


_SUBJECT = re.compile(r"^\*\[(?P<label>[^\]]+)\] (?:(?P<firing>FIRING: )|(?:STILL FIRING[^:]*: ))?(?P<name>.+?)(?P<after> after .*)?\*$")


def _parse_message(payload: dict[str, Any]) -> tuple[str, str] | None:
    """(rule name, "firing" | "resolved") of a Slack payload the portal sent; None for reminders and others."""
    first = str(payload.get("text", "")).split("\n", 1)[0]
    match = _SUBJECT.match(first)
    if not match or not match.group("name").startswith(RULE_PREFIX):
        return None
    if match.group("label") == "RESOLVED":
        return match.group("name"), "resolved"
    return (match.group("name"), "firing") if match.group("firing") else None


def run_soak(config: SoakConfig) -> SoakReport:
    return Soak(config).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fault-seconds", type=float, default=60)
    parser.add_argument("--gap-seconds", type=float, default=45)
    parser.add_argument("--check-interval", type=int, default=15)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seed", type=int, default=None,
                        help="simulate_sync's seed (default: from the clock; a seed already used on this database "
                             "replays the same new leads, which the database refuses as duplicates)")
    parser.add_argument("--old-rows", type=int, default=200_000)
    parser.add_argument("--faults", default=",".join(ALL_FAULTS), help=f"comma-separated, from {', '.join(ALL_FAULTS)}")
    parser.add_argument("--log-dir", type=Path, default=None, help="children's logs (default: a temporary directory)")
    args = parser.parse_args(argv)
    faults = tuple(name for name in args.faults.split(",") if name)
    unknown = set(faults) - set(ALL_FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadsync_portal.settings")
    os.environ.setdefault("SECRET_KEY", "soak-" + os.urandom(16).hex())
    import django

    django.setup()
    from django.conf import settings

    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="leadsync-soak-"))
    config = SoakConfig(
        database_url=os.environ["DATABASE_URL"], redis_url=settings.REDIS_URL, log_dir=log_dir, faults=faults,
        fault_seconds=args.fault_seconds, gap_seconds=args.gap_seconds, check_interval=args.check_interval,
        rate=args.rate, seed=args.seed if args.seed is not None else int(time.time()) % 1_000_000,
        old_rows=args.old_rows,
    )
    print(f"soak: simulate_sync --seed {config.seed}; children's logs in {log_dir}", flush=True)
    started = time.monotonic()
    report = run_soak(config)
    print(report.table())
    print(f"\n{time.monotonic() - started:.0f} s in all; logs in {log_dir}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
