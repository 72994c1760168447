"""A sync simulator: writes leads and lead_sync_history the way the n8n sync does, from several connections.

It WRITES TO THE DATABASE IT IS POINTED AT (DATABASE_URL): leads it creates, claims and finishes
are real rows. Use it on a demo or test database, never on production.

What one attempt is, statement by statement (each a single-row statement in autocommit, as n8n's
Postgres node sends them, so the portal sees exactly the write pattern of the real sync):
  1. claim: UPDATE leads SET sync_status = 'syncing' WHERE id = (one pending / synced / failed lead,
     FOR UPDATE SKIP LOCKED) RETURNING ...   (the leads_touch trigger stamps sync_started_at)
  2. finish: UPDATE leads SET sync_status = synced | error | conflict, last_synced_at = now(), ...
  3. record: INSERT INTO lead_sync_history (...) VALUES (...)   one row per attempt
New leads are one INSERT INTO leads (status 'pending'), as a form submission on the Supabase side.

Kinds of work: new leads, scheduled syncs of pending leads (initial_import when the lead has no
Twenty id yet), webhook updates (a field changed in Twenty: fields_changed {"field": [old, new]})
and retries of failed leads. Their mix and the write rate follow a daily rhythm (busy in the
afternoon UTC, quiet at night) and an hourly one (a scheduled batch at the top of the hour).

Failures: a baseline rate, plus error bursts (tens of seconds during which most attempts fail the
same way): 429 rate limits, 5xx answers, timeouts, validation errors, and messages of many
kilobytes (stack traces, a base64 response body). `fail_rate` replaces all of that with a fixed
probability, so the failure-rate alert fires on demand; `stall` stops one direction (or all), so
the per-direction or whole-sync stall alert fires.

Determinism: every choice (kind, outcome, error kind, message, names, values, latency) comes from
random.Random(seed + worker number). Which lead a worker claims, and how many attempts fit into a
run, depend on timing and on the data, so two runs with one seed make the same sequence of
choices, not necessarily the same rows.

Database blips: a connection that dies (a PostgreSQL restart, a terminated backend, a network that
stops answering) is opened again with a bounded, doubling backoff, as n8n retries a failed node,
and the worker goes on. A connection the server closed while it sat idle is found before the next
statement is sent, so nothing is in doubt. A statement whose connection died under it may or may
not have taken effect; it is counted apart, never as written: `unanswered` history inserts (not
sent again: a second row would be an attempt that never happened), and leads that may be left in
'syncing' (a claim without an answer, or a finish that could not be redone). A lost finish is sent
again on the new connection (three tries in all), guarded by the claim's sync_started_at so it
only ever finishes this worker's own claim. Every wait has a deadline:
connect_timeout, statement_timeout, TCP keepalives, and a watchdog that cuts a connection whose
statement is unanswered well past statement_timeout (a network that swallows bytes).

Stopping: stop() (SIGINT/SIGTERM in the command, or the end of `duration`) lets every worker finish
the attempt it has in flight, so a clean stop leaves no lead in 'syncing'. A killed process
(SIGKILL) leaves its in-flight leads in 'syncing': exactly what a crashed n8n worker does, and what
the stuck-lead alert and the "Reset stuck" repair are for.
"""
from __future__ import annotations

import base64
import json
import logging
import math
import os
import random
import select
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from monitoring.choices import HistoryDirection, HistoryStatus, LeadSyncDirection, LeadSyncStatus, SyncType

logger = logging.getLogger(__name__)

STALL_ALL = "all"
STALL_CHOICES = (HistoryDirection.TWENTY_TO_SUPABASE.value, HistoryDirection.SUPABASE_TO_TWENTY.value, STALL_ALL)
BASELINE_FAILURE = 0.03
CONFLICT_SHARE = 0.01
BURST_CHANCE_PER_ATTEMPT = 0.004  # about one burst per 250 attempts
BURST_SECONDS = (15.0, 60.0)
BURST_FAILURE = 0.7
RETRY_MAX_ERRORS = 5  # the sync stops retrying a lead past the quarantine threshold
STATEMENT_TIMEOUT_MS = 5_000  # every wait has a deadline: a blocked statement gives up, the run goes on
CONNECT_TIMEOUT_S = 5
RECONNECT_BACKOFF_S = (0.5, 10.0)  # first wait and longest wait between connection attempts (doubling)
HUNG_AFTER_S = STATEMENT_TIMEOUT_MS / 1000 + 5  # no answer by then: the network, not the server, is stuck
APPLICATION_NAME = "simulate_sync"  # unless PGAPPNAME says otherwise (the soak names its processes)
# TCP keepalives notice a peer that vanished while the connection is idle; tcp_user_timeout one
# that vanished with our bytes unacknowledged.
CONNECT_OPTIONS: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT_S, "fallback_application_name": APPLICATION_NAME,
    "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
    "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
    "tcp_user_timeout": int(HUNG_AFTER_S * 1000),
}

FIRST_NAMES = ("Ada", "Grace", "Alan", "Katherine", "Linus", "Barbara", "Edsger", "Donald", "Margaret", "Tim",
               "Radia", "Ken", "Frances", "John", "Hedy", "Guido", "Anita", "Dennis", "Sophie", "Niklaus")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Johnson", "Torvalds", "Liskov", "Dijkstra", "Knuth", "Hamilton",
              "Berners-Lee", "Perlman", "Thompson", "Allen", "McCarthy", "Lamarr", "van Rossum", "Borg",
              "Ritchie", "Wilson", "Wirth")
COMPANIES = ("Analytical Engines", "Navy Labs", "Bletchley", "NASA", "Kernel Co", "MIT", "Eindhoven",
             "Stanford", "Acme GmbH", "Initech", "Globex", "Umbrella", "Hooli", "Stark Industries")
SOURCES = ("website", "referral", "linkedin", "webinar", "import", "trade_show")
JOB_TITLES = ("Engineer", "CTO", "Head of Sales", "Buyer", "Founder", "Analyst", "Operations Manager")
ERROR_KINDS = ("rate_limit", "server", "timeout", "validation", "huge")


@dataclass
class SimulatorOptions:
    rate: float = 20.0  # statements per second, all connections together, before the rhythm
    duration: float = 0.0  # seconds; 0 = until stop()
    seed: int | None = None
    stall: str | None = None  # a HistoryDirection value, or "all"
    fail_rate: float | None = None  # 0..1: fixed probability that an attempt fails
    connections: int = 4

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be above 0 writes per second")
        if self.duration < 0:
            raise ValueError("duration must be 0 (until stopped) or more seconds")
        if self.stall is not None and self.stall not in STALL_CHOICES:
            raise ValueError(f"stall must be one of {', '.join(STALL_CHOICES)}")
        if self.fail_rate is not None and not 0 <= self.fail_rate <= 1:
            raise ValueError("fail rate must be between 0 and 1 (0.25 = a quarter of the attempts fail)")
        if not 1 <= self.connections <= 64:
            raise ValueError("connections must be between 1 and 64")


@dataclass
class SimulatorReport:
    """What a run wrote: statements, attempts by type and outcome, new leads, refused statements.

    Connection losses are not refusals: `connections_lost` counts them, `unanswered` the history
    inserts among them (each may or may not have been written), `maybe_syncing` the leads they
    may have left in 'syncing'.
    """

    statements: int = 0
    new_leads: int = 0
    attempts: Counter = field(default_factory=Counter)  # (sync_type, sync_status) -> n
    errors_by_kind: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)  # database error class -> n
    connections_lost: int = 0
    failed_connects: int = 0
    unanswered: int = 0
    maybe_syncing: int = 0
    seconds: float = 0.0
    workers_died: bool = False  # every worker ended before stop() or the duration: a bug, not a blip

    def merge(self, other: SimulatorReport) -> None:
        self.statements += other.statements
        self.new_leads += other.new_leads
        self.attempts.update(other.attempts)
        self.errors_by_kind.update(other.errors_by_kind)
        self.refused.update(other.refused)
        self.connections_lost += other.connections_lost
        self.failed_connects += other.failed_connects
        self.unanswered += other.unanswered
        self.maybe_syncing += other.maybe_syncing


def rhythm(moment: datetime) -> tuple[float, float]:
    """(rate factor, share of work that is new leads) for a moment, from the daily and hourly rhythm.

    Daily: a cosine peaking at 14:00 UTC (factor 1.4) and lowest at 02:00 (0.6). Hourly: the first
    five minutes carry a scheduled batch (x1.25). New leads arrive mostly in business hours.
    """
    hour = moment.hour + moment.minute / 60
    daily = 0.5 + 0.5 * math.cos(2 * math.pi * (hour - 14) / 24)  # 0..1
    factor = (0.6 + 0.8 * daily) * (1.25 if moment.minute < 5 else 1.0)
    return factor, 0.1 + 0.2 * daily


def error_message(kind: str, rng: random.Random, lead_id: Any) -> str:
    """A message like the sync's for each failure kind; 'huge' is many kilobytes."""
    if kind == "rate_limit":
        return f"Twenty API 429: rate limit exceeded (retry after {rng.choice((10, 30, 60))} s) for person {lead_id}"
    if kind == "server":
        code, text = rng.choice(((500, "internal error"), (502, "Bad Gateway"), (503, "Service Unavailable"),
                                 (504, "Gateway Timeout")))
        return f"Twenty API {code}: {text}"
    if kind == "timeout":
        return f"ETIMEDOUT: request to https://api.twenty.com/rest/people/{lead_id} timed out after 30000 ms"
    if kind == "validation":
        field_name = rng.choice(("email", "phone", "companyName"))
        return f'Twenty API 400: validation failed: {field_name} "{rng.randrange(10**6)}@@" is not valid'
    if rng.random() < 0.5:
        frames = "".join(
            f"    at Object.request (/usr/local/lib/node_modules/n8n/dist/nodes/Twenty.node.js:{rng.randrange(1, 900)}:{rng.randrange(1, 80)})\n"
            for _ in range(rng.randrange(60, 240))
        )
        return f"NodeApiError: Twenty API 500: unexpected response for {lead_id}\n{frames}"
    body = base64.b64encode(rng.randbytes(rng.randrange(2_000, 12_000))).decode()
    return f"Twenty API 502: upstream answered with an unreadable body: {body}"


def _new_lead_row(rng: random.Random) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    direction = rng.choices(
        (LeadSyncDirection.BIDIRECTIONAL, LeadSyncDirection.SUPABASE_TO_TWENTY, LeadSyncDirection.TWENTY_TO_SUPABASE),
        weights=(6, 3, 1),
    )[0]
    return {
        "first_name": first, "last_name": last,
        "email": f"{first}.{last}.{rng.randrange(10**6)}@example.com".lower().replace(" ", ""),
        "company_name": rng.choice(COMPANIES), "job_title": rng.choice(JOB_TITLES),
        "lead_source": rng.choice(SOURCES), "lead_score": rng.randrange(0, 101), "direction": direction,
    }


class _ConnectionLost(Exception):
    """The connection died. `sent`: under a statement, which may or may not have taken effect."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


def _closed_while_idle(conn: psycopg.Connection) -> bool:
    """True when the server ended this idle connection (a terminated backend, a restart).

    An idle connection in autocommit expects nothing from the server; if its socket is readable,
    the server's goodbye (or the end of the stream) is waiting there. Found before a statement is
    sent, the loss puts nothing in doubt: that statement never ran."""
    try:
        for _ in range(3):  # the goodbye message, then the end of the stream: one read each
            readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
            if not readable:
                break
            conn.pgconn.consume_input()
    except (OSError, ValueError, psycopg.Error):
        return True
    return conn.closed


class _Worker:
    """One connection, one thread: single-row statements in autocommit, paced by the shared rate."""

    def __init__(self, number: int, conninfo: str, options: SimulatorOptions, stop: threading.Event) -> None:
        self.number = number
        self.conninfo = conninfo
        self.options = options
        self.stop = stop
        seed = options.seed if options.seed is not None else random.randrange(2**32)
        self.rng = random.Random(seed + number)
        self.jitter = random.Random()  # backoff jitter: kept apart so a blip does not shift the seeded choices
        self.report = SimulatorReport()
        self.burst_until = 0.0
        self.burst_kind = "server"
        self.conn: psycopg.Connection | None = None
        # The watchdog (Simulator.run) reads these from another thread; the lock keeps it from
        # cutting a socket that is being closed or replaced.
        self.lock = threading.Lock()
        self.statement_since: float | None = None

    # -- pacing ----------------------------------------------------------------------------------

    def pause(self) -> None:
        factor, _ = rhythm(datetime.now(UTC))
        interval = self.options.connections / (self.options.rate * factor)
        self.stop.wait(interval)

    # -- connections -----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while self.connect():
                try:
                    while not self.stop.is_set():
                        self.step()
                        self.pause()
                except _ConnectionLost as exc:  # a blip: open a new connection and go on, as n8n retries
                    logger.warning("simulate_sync worker %s lost its connection: %s", self.number, exc)
        finally:
            self.disconnect()

    def connect(self) -> bool:
        """A new connection, retried with a doubling backoff (with jitter) until it opens; False once stopped.

        Each try is bounded by connect_timeout and each wait by the backoff's ceiling, and stop()
        interrupts the wait, so a stop during an outage ends the worker within one try."""
        self.disconnect()
        delay = RECONNECT_BACKOFF_S[0]
        while not self.stop.is_set():
            try:
                conn = psycopg.connect(self.conninfo, autocommit=True, **CONNECT_OPTIONS)
            except psycopg.OperationalError as exc:
                self.report.failed_connects += 1
                logger.warning("simulate_sync worker %s: cannot connect (retry in %.1f s): %s",
                               self.number, delay, str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else exc)
                self.stop.wait(delay * self.jitter.uniform(0.5, 1.0))
                delay = min(delay * 2, RECONNECT_BACKOFF_S[1])
                continue
            with self.lock:
                self.conn = conn
            return True
        return False

    def disconnect(self) -> None:
        with self.lock:
            conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()

    def interrupt_if_hung(self, now: float) -> bool:
        """Cut the connection when its statement has gone unanswered past HUNG_AFTER_S (called by the watchdog).

        statement_timeout bounds the server's work, not a network that swallows bytes; shutting
        the socket down makes the blocked read return at once, and the worker reconnects."""
        with self.lock:
            since, conn = self.statement_since, self.conn
            if since is None or conn is None or conn.closed or now - since < HUNG_AFTER_S:
                return False
            try:
                with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except (OSError, psycopg.Error):
                return False
        logger.warning("simulate_sync worker %s: no answer for %.0f s, connection cut", self.number, now - since)
        return True

    # -- statements ------------------------------------------------------------------------------

    def execute(self, sql: str, params: dict[str, Any]) -> tuple | None:
        """One statement: its RETURNING row (or () without one), None when refused.

        A refused statement (a constraint, an index size, the statement timeout) is counted and
        logged and the run goes on, as the sync's retry would. A lost connection raises
        _ConnectionLost: the caller decides what the missing answer means."""
        conn = self.conn
        assert conn is not None
        if _closed_while_idle(conn):
            self.report.connections_lost += 1
            raise _ConnectionLost("the server closed the idle connection", sent=False)
        self.statement_since = time.monotonic()
        try:
            cursor = conn.execute(sql, params)
            self.report.statements += 1
            return cursor.fetchone() if cursor.description else ()
        except psycopg.Error as exc:
            if conn.closed or conn.broken:
                self.report.connections_lost += 1
                message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
                raise _ConnectionLost(message, sent=True) from exc
            if isinstance(exc, psycopg.errors.QueryCanceled):
                self.report.refused["statement timeout"] += 1
            else:
                self.report.refused[type(exc).__name__] += 1
            logger.warning("simulate_sync: statement refused: %s", str(exc).splitlines()[0][:300])
        finally:
            self.statement_since = None
        return None

    def step(self) -> None:
        _, new_share = rhythm(datetime.now(UTC))
        roll = self.rng.random()
        if roll < new_share:
            self.new_lead()
            return
        kind = self.rng.choices(("scheduled", "webhook", "retry", "edit"), weights=(5, 3, 1, 2))[0]
        if kind == "edit":
            self.supabase_edit()
            return
        claimed = self.claim(kind)
        if claimed is None and kind != "scheduled":
            kind, claimed = "scheduled", self.claim("scheduled")
        if claimed is None:
            self.new_lead()
            return
        self.pause()  # the call to the other side is in flight (the lead shows as 'syncing')
        self.finish(kind, claimed)

    def new_lead(self) -> None:
        row = _new_lead_row(self.rng)
        if self.execute("""
            INSERT INTO leads (first_name, last_name, email, company_name, job_title, lead_source, lead_score,
                               sync_status, sync_direction)
            VALUES (%(first_name)s, %(last_name)s, %(email)s, %(company_name)s, %(job_title)s, %(lead_source)s,
                    %(lead_score)s, 'pending', %(direction)s)
            RETURNING id
        """, row) is not None:
            self.report.new_leads += 1

    def supabase_edit(self) -> None:
        """A synced lead edited on the Supabase side: back to 'pending', for the next scheduled sync."""
        self.execute("""
            UPDATE leads l SET sync_status = 'pending', job_title = %(title)s
            FROM (SELECT id FROM leads
                  WHERE sync_status = 'synced' AND sync_direction <> 'twenty_to_supabase'
                  ORDER BY last_synced_at LIMIT 1 FOR UPDATE SKIP LOCKED) AS picked
            WHERE l.id = picked.id
            RETURNING l.id
        """, {"title": self.rng.choice(JOB_TITLES)})

    def _directions(self) -> list[str]:
        """Lead directions this worker may pick up: a stalled one-way direction is left alone."""
        stall = self.options.stall
        if stall == STALL_ALL:
            return []
        return [d for d in LeadSyncDirection.values if d != stall]

    def claim(self, kind: str) -> tuple | None:
        """One lead moved to 'syncing' (SKIP LOCKED: workers never wait for each other)."""
        directions = self._directions()
        if not directions:
            return None
        if kind == "scheduled":
            pick = "sync_status = 'pending'"
            order = ""
        elif kind == "webhook":
            # A change made in Twenty: only leads that sync from Twenty.
            directions = [d for d in directions if d != LeadSyncDirection.SUPABASE_TO_TWENTY]
            if not directions:
                return None
            pick = "sync_status = 'synced'"
            order = "ORDER BY last_synced_at"  # idx_leads_sync_monitoring: the least recently synced first
        else:
            pick = f"sync_status = 'error' AND sync_error_count <= {RETRY_MAX_ERRORS}"
            order = "ORDER BY sync_error_count DESC, last_synced_at DESC NULLS LAST"  # idx_leads_high_error_count
        score = self.rng.randrange(0, 101)
        try:
            return self.execute(f"""
                UPDATE leads l SET sync_status = 'syncing',
                       lead_score = CASE WHEN %(webhook)s THEN %(score)s ELSE l.lead_score END
                FROM (SELECT id, lead_score AS old_score FROM leads
                      WHERE {pick} AND sync_direction = ANY(%(directions)s)
                      {order} LIMIT 1 FOR UPDATE SKIP LOCKED) AS picked
                WHERE l.id = picked.id
                RETURNING l.id, l.sync_direction, l.twenty_id, picked.old_score, l.lead_score, l.sync_started_at
            """, {"webhook": kind == "webhook", "score": score, "directions": directions})
        except _ConnectionLost as exc:
            # Which lead it claimed, if any, never came back: like a crashed n8n execution, it may
            # stay 'syncing' until the stuck-lead repair.
            self.report.maybe_syncing += exc.sent
            raise

    def finish(self, kind: str, claimed: tuple) -> None:
        lead_id, lead_direction, twenty_id, old_score, new_score, claimed_at = claimed
        rng = self.rng
        if lead_direction == LeadSyncDirection.BIDIRECTIONAL:
            direction = HistoryDirection.TWENTY_TO_SUPABASE if kind == "webhook" else HistoryDirection.SUPABASE_TO_TWENTY
            if direction == self.options.stall:  # the stalled side never answers; the other one carries it
                direction = next(d for d in HistoryDirection if d != direction)
        else:
            direction = HistoryDirection(lead_direction)
        sync_type = {
            "webhook": SyncType.WEBHOOK_UPDATE,
            "retry": SyncType.RETRY,
            "scheduled": SyncType.SCHEDULED if twenty_id else SyncType.INITIAL_IMPORT,
        }[kind]
        status, message, error_kind = self.outcome(lead_id, lead_direction)
        latency = rng.uniform(0.2, 3.0) if error_kind != "timeout" else 30.0
        changes: dict[str, Any] | None = None
        if kind == "webhook":
            changes = {"lead_score": [old_score, new_score]}
        elif sync_type == SyncType.INITIAL_IMPORT and status == HistoryStatus.SYNCED:
            changes = {"twenty_id": [None, "created"]}
        # Only this worker's own claim: the lead still 'syncing' since the moment it claimed it. So
        # a finish redone after a lost answer changes nothing when the first one had landed.
        finish = """
            UPDATE leads SET sync_status = %(status)s::varchar, last_synced_at = now(),
                   sync_error_count = sync_error_count + %(failed)s,
                   sync_error_message = %(message)s,
                   twenty_id = CASE WHEN %(status)s::varchar = 'synced' THEN COALESCE(twenty_id, %(twenty_id)s) ELSE twenty_id END
            WHERE id = %(id)s AND sync_status = 'syncing' AND sync_started_at = %(claimed_at)s
        """
        params = {"status": status, "failed": 1 if status == HistoryStatus.ERROR else 0, "message": message,
                  "twenty_id": f"tw-sim-{uuid.UUID(int=rng.getrandbits(128)).hex}", "id": lead_id,
                  "claimed_at": claimed_at}
        finished = self.finish_lead(finish, params)
        if finished is None and message:
            # Refused (an index that cannot hold the long message, until issue 10's fix): finish with
            # the start of it rather than leave the lead in 'syncing'. The refusal stays counted.
            self.execute(finish, {**params, "message": message[:1000]})
        try:
            recorded = self.execute("""
                INSERT INTO lead_sync_history (lead_id, sync_type, sync_direction, sync_status, fields_changed,
                                               error_message, created_at, synced_at)
                VALUES (%(id)s, %(type)s, %(direction)s, %(status)s, %(changes)s::jsonb, %(message)s,
                        now() - make_interval(secs => %(latency)s), now())
            """, {"id": lead_id, "type": sync_type.value, "direction": direction.value, "status": status,
                  "changes": json.dumps(changes) if changes is not None else None, "message": message,
                  "latency": latency})
        except _ConnectionLost as exc:
            if exc.sent:
                # The row may or may not be there: counted apart, never redone (a second row
                # would be a second attempt that never happened).
                self.report.unanswered += 1
            raise
        if recorded is None:
            return  # refused (e.g. an index that cannot hold a long message): the attempt is lost, as in the sync
        self.report.attempts[(sync_type.value, status)] += 1
        if error_kind:
            self.report.errors_by_kind[error_kind] += 1

    def finish_lead(self, sql: str, params: dict[str, Any]) -> tuple | None:
        """The finishing UPDATE, redone on a new connection when the old one died (three tries in all).

        Its guard (still 'syncing' since this worker's claim) makes a redo change nothing when an
        earlier try had landed. Stopped during an outage, or out of tries: the lead may stay 'syncing'."""
        for tries_left in (2, 1, 0):
            try:
                return self.execute(sql, params)
            except _ConnectionLost as exc:
                if not tries_left or not self.connect():
                    self.report.maybe_syncing += 1
                    raise
                logger.warning("simulate_sync worker %s: finishing lead %s again on a new connection (%s)",
                               self.number, params["id"], exc)
        return None

    def outcome(self, lead_id: Any, lead_direction: str) -> tuple[str, str | None, str | None]:
        rng = self.rng
        now = time.monotonic()
        if self.options.fail_rate is not None:
            failed = rng.random() < self.options.fail_rate
            kind = rng.choice(ERROR_KINDS)
        else:
            if now >= self.burst_until and rng.random() < BURST_CHANCE_PER_ATTEMPT:
                self.burst_until = now + rng.uniform(*BURST_SECONDS)
                self.burst_kind = rng.choice(ERROR_KINDS)
            in_burst = now < self.burst_until
            failed = rng.random() < (BURST_FAILURE if in_burst else BASELINE_FAILURE)
            kind = self.burst_kind if in_burst else rng.choice(ERROR_KINDS)
        if failed:
            return HistoryStatus.ERROR, error_message(kind, rng, lead_id), kind
        if lead_direction == LeadSyncDirection.BIDIRECTIONAL and rng.random() < CONFLICT_SHARE:
            return HistoryStatus.CONFLICT, None, None
        return HistoryStatus.SYNCED, None, None


class Simulator:
    """Runs the workers until duration ends or stop() is called; run() returns the merged report."""

    def __init__(self, *, conninfo: str, options: SimulatorOptions) -> None:
        self.conninfo = conninfo
        self.options = options
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> SimulatorReport:
        started = time.monotonic()
        workers = [_Worker(n, self.conninfo, self.options, self._stop) for n in range(self.options.connections)]
        threads = [threading.Thread(target=w.run, name=f"simulate_sync-{w.number}", daemon=True) for w in workers]
        for thread in threads:
            thread.start()
        deadline = started + self.options.duration if self.options.duration else None
        # The main thread is the watchdog: every 0.2 s it cuts a connection whose statement hangs.
        while not self._stop.is_set() and any(t.is_alive() for t in threads):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            self._stop.wait(0.2 if remaining is None else min(0.2, remaining))
            self._watch(workers)
        stopped = self._stop.is_set() or (deadline is not None and time.monotonic() >= deadline)
        self._stop.set()
        # Each worker finishes its in-flight attempt: a pause, then at most three statements (the
        # watchdog cuts each after HUNG_AFTER_S) and one connection try, so this wait is bounded.
        join_deadline = time.monotonic() + 3 * HUNG_AFTER_S + CONNECT_TIMEOUT_S + 5
        while (alive := next((t for t in threads if t.is_alive()), None)) and time.monotonic() < join_deadline:
            alive.join(timeout=0.2)
            self._watch(workers)
        report = SimulatorReport()
        for worker in workers:
            report.merge(worker.report)
        report.seconds = time.monotonic() - started
        report.workers_died = not stopped
        return report

    @staticmethod
    def _watch(workers: list[_Worker]) -> None:
        now = time.monotonic()
        for worker in workers:
            worker.interrupt_if_hung(now)
