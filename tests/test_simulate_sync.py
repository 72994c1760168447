"""manage.py simulate_sync against the real test database: what it writes, clean stops, alerts on demand,
and database blips (terminated backends, a hung network, a restart) it must outlive.

The simulator writes through its own connections, so these tests commit for real (transactional
tests; the serialized rollback restores the migrations' rows, e.g. the default alert rules).
"""
from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Max
from django.db.models.functions import Length
from psycopg.conninfo import make_conninfo

from benchmarks.soak import parse_sync_count
from monitoring.choices import HistoryStatus, LeadSyncDirection, LeadSyncStatus, RuleKind
from monitoring.models import Incident, IncidentState, Lead, LeadSyncHistory
from monitoring.services.alerts import evaluate_alerts
from monitoring.services.simulator import (
    HUNG_AFTER_S, Simulator, SimulatorOptions, _closed_while_idle, _Worker, error_message, rhythm,
)
from tests.alert_helpers import S2T, T2S, add_attempts, make_lead
from tests.hostile_servers import FaultProxy
from tests.test_mcp import test_database_url

ROOT = Path(__file__).resolve().parents[1]

transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _firing_rules() -> set[str]:
    return set(Incident.objects.filter(state=IncidentState.FIRING).values_list("rule__name", flat=True))


SIMULATOR_BACKENDS = (
    "SELECT pid, state FROM pg_stat_activity WHERE application_name = 'simulate_sync' AND datname = current_database()"
)


class BackendSampler:
    """Samples the simulator's backends in pg_stat_activity from a connection of its own, every 20 ms.

    `most_at_once` is the most simulator backends seen in one snapshot; `pids` every backend seen."""

    def __init__(self) -> None:
        self.most_at_once = 0
        self.pids: set[int] = set()
        self.latest: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(test_database_url(), autocommit=True, connect_timeout=5) as conn:
            while not self._stop.is_set():
                conn.execute("SELECT pg_stat_clear_snapshot()")
                rows = conn.execute(SIMULATOR_BACKENDS).fetchall()
                self.latest = {pid for pid, _ in rows}
                self.pids |= self.latest
                self.most_at_once = max(self.most_at_once, len(rows))
                self._stop.wait(0.02)

    @contextmanager
    def running(self):
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=10)


@contextmanager
def history_writers():
    """Which backend inserted each history row, in commit order: a trigger of the test's own, dropped after.

    Yields a list filled at the end with the writing backend's pid of every row, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE TABLE test_history_writer (n bigserial PRIMARY KEY, pid int NOT NULL);
            CREATE FUNCTION test_history_writer() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO test_history_writer (pid) VALUES (pg_backend_pid()); RETURN NULL; END $$;
            CREATE TRIGGER test_history_writer AFTER INSERT ON lead_sync_history
                FOR EACH ROW EXECUTE FUNCTION test_history_writer();
        """)
    pids: list[int] = []
    try:
        yield pids
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM test_history_writer ORDER BY n")
            pids.extend(pid for (pid,) in cursor.fetchall())
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER test_history_writer ON lead_sync_history; "
                           "DROP FUNCTION test_history_writer(); DROP TABLE test_history_writer")


def _summary(out: str) -> str:
    """The simulator's closing line, checked for what it prints about lost writes."""
    line = out.strip().splitlines()[-1]
    assert line.startswith("simulate_sync: ") and " attempts (" in line, out
    return line


@contextmanager
def _running_simulator(*args: str) -> Iterator[subprocess.Popen[str]]:
    """`manage.py simulate_sync *args` in a subprocess on the test database; killed if still running at the end."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "leadsync_portal.settings_test",
           "DATABASE_URL": test_database_url(), "REDIS_URL": settings.REDIS_URL, "SECRET_KEY": "simulate-test"}
    env.pop("PGAPPNAME", None)  # its backends are found by their application_name, simulate_sync
    process = subprocess.Popen(
        [sys.executable, "manage.py", "simulate_sync", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()


def _sigterm(process: subprocess.Popen[str], timeout: float) -> str:
    """Stop the simulator as a supervisor would; it must exit 0. Returns what it printed."""
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out


def _wait_for(condition, process: subprocess.Popen[str], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, (f"simulate_sync exited while waiting for {what}", process.communicate())
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.2)


def _seed_leads(count: int = 30) -> None:
    """Pending leads for the simulator to pick up, of every direction."""
    directions = [LeadSyncDirection.BIDIRECTIONAL, LeadSyncDirection.SUPABASE_TO_TWENTY,
                  LeadSyncDirection.TWENTY_TO_SUPABASE]
    Lead.objects.bulk_create(
        Lead(first_name=f"Seed {i}", sync_status=LeadSyncStatus.PENDING, sync_direction=directions[i % 3])
        for i in range(count)
    )


@transactional
def test_a_short_seeded_run_writes_attempts_like_the_sync_and_leaves_nothing_syncing():
    # The sync tables have no Django-managed model, so the flush between transactional tests
    # leaves what an earlier one committed (a random-order run met seeded leads still 'syncing'
    # here): start from empty tables, as the simulator's own promises are about its rows.
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE lead_sync_history_archive, lead_sync_history, leads RESTART IDENTITY CASCADE")
    _seed_leads()
    before = Lead.objects.count()
    out = io.StringIO()

    with BackendSampler().running() as sampler, history_writers() as writers:
        call_command("simulate_sync", duration=3, seed=7, rate=150, connections=3, fail_rate=0.4, stdout=out)

    # Every statement was accepted, and every attempt it counted is a row (none lost, none extra).
    line = _summary(out.getvalue())
    assert "REFUSED" not in line and "connections lost" not in line, line
    assert parse_sync_count(line) == (LeadSyncHistory.objects.count(), 0)
    # Several connections wrote at once, as n8n's do: all three open together in pg_stat_activity,
    # each of them wrote history, and their rows interleave (another connection's row lies
    # between two rows of one connection), so none waited for another to finish.
    assert sampler.most_at_once == 3 and len(sampler.pids) == 3
    assert set(writers) == sampler.pids
    assert len(writers) == LeadSyncHistory.objects.count()
    first, last = writers.index(writers[0]), len(writers) - 1 - writers[::-1].index(writers[0])
    assert set(writers[first:last + 1]) - {writers[0]}, writers
    history = LeadSyncHistory.objects.all()
    assert history.count() >= 20
    # Attempts of several kinds, each one row, both outcomes, both directions.
    assert {"initial_import", "webhook_update"} <= set(history.values_list("sync_type", flat=True))
    assert {HistoryStatus.SYNCED, HistoryStatus.ERROR} <= set(history.values_list("sync_status", flat=True))
    assert set(history.values_list("sync_direction", flat=True)) == {T2S, S2T}
    assert history.filter(sync_status=HistoryStatus.ERROR, error_message__isnull=True).count() == 0
    assert history.exclude(created_at__lte=models_f("synced_at")).count() == 0  # started before it finished
    assert Lead.objects.count() > before  # new leads arrived
    # A failed lead carries the error of its newest attempt; every attempted lead has last_synced_at.
    failed = Lead.objects.filter(sync_status=LeadSyncStatus.ERROR).first()
    assert failed is not None and failed.sync_error_count >= 1 and failed.sync_error_message
    assert not Lead.objects.filter(last_synced_at__isnull=True, history__isnull=False).exists()
    # A clean stop finishes the attempts in flight.
    assert not Lead.objects.filter(sync_status=LeadSyncStatus.SYNCING).exists()


def models_f(name: str):
    from django.db.models import F

    return F(name)


@transactional
def test_stall_one_direction_fires_its_alert_through_the_real_evaluation():
    # Both directions synced 40 minutes ago; the simulator then runs with Supabase -> Twenty stalled.
    lead = make_lead(first_name="Old", sync_direction=LeadSyncDirection.BIDIRECTIONAL)
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        now = cursor.fetchone()[0]
    add_attempts(1, finished=now - timedelta(minutes=40), direction=T2S, lead=lead)
    add_attempts(1, finished=now - timedelta(minutes=40), direction=S2T, lead=lead)
    _seed_leads()

    call_command("simulate_sync", duration=2, seed=3, rate=120, connections=2, stall="supabase_to_twenty",
                 verbosity=0)

    assert LeadSyncHistory.objects.filter(sync_direction=T2S, synced_at__gt=now).exists()
    assert not LeadSyncHistory.objects.filter(sync_direction=S2T, synced_at__gt=now).exists()
    evaluate_alerts()
    firing = _firing_rules()
    assert "Supabase → Twenty stalled for 30 min" in firing
    assert "Twenty → Supabase stalled for 30 min" not in firing
    assert not any(name.startswith("Sync stalled") for name in firing)


@transactional
def test_stall_all_fires_the_whole_sync_stall():
    lead = make_lead(first_name="Old")
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        now = cursor.fetchone()[0]
    add_attempts(1, finished=now - timedelta(minutes=40), direction=T2S, lead=lead)
    _seed_leads(5)

    call_command("simulate_sync", duration=1, seed=3, rate=60, connections=2, stall="all", verbosity=0)

    assert LeadSyncHistory.objects.count() == 1  # nothing synced; new leads may still arrive
    evaluate_alerts()
    assert "Sync stalled: no attempt for 30 min" in _firing_rules()


@transactional
def test_fail_rate_makes_the_failure_rate_alert_fire():
    _seed_leads(60)

    out = io.StringIO()
    call_command("simulate_sync", duration=3, seed=11, rate=150, connections=3, fail_rate=0.6, stdout=out)

    line = _summary(out.getvalue())
    assert "REFUSED" not in line and "connections lost" not in line, line
    attempts = LeadSyncHistory.objects.count()
    assert parse_sync_count(line) == (attempts, 0)
    errors = LeadSyncHistory.objects.filter(sync_status=HistoryStatus.ERROR)
    assert attempts >= 20  # the rule's minimum
    assert errors.count() / attempts > 0.3
    # Every kind of failure was stored whole, the multi-kilobyte ones included.
    assert errors.aggregate(longest=Max(Length("error_message")))["longest"] > 2000
    messages = list(errors.values_list("error_message", flat=True))
    for marker in ("429", "ETIMEDOUT", "400: validation", "Twenty API 50"):
        assert any(marker in message for message in messages), marker
    evaluate_alerts()
    assert "Sync failure rate above 10 %" in _firing_rules()


@transactional
def test_sigterm_stops_cleanly_with_no_lead_left_syncing():
    _seed_leads(40)
    with _running_simulator("--seed", "5", "--rate", "100", "--connections", "3") as process:
        deadline = time.monotonic() + 60
        while not LeadSyncHistory.objects.exists():  # it is writing
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the simulator wrote nothing"
            time.sleep(0.2)
        out = _sigterm(process, timeout=30)
    assert "writes to" in out or "writing to database" in out
    line = _summary(out)
    assert "REFUSED" not in line and "connections lost" not in line, line
    assert parse_sync_count(line) == (LeadSyncHistory.objects.count(), 0)
    assert not Lead.objects.filter(sync_status=LeadSyncStatus.SYNCING).exists()
    # Its connections are closed: nothing named simulate_sync is left on this database (other
    # databases on the shared server may run their own simulator). A backend ends just after its client.
    with psycopg.connect(test_database_url(), autocommit=True) as other:
        for _ in range(50):
            other.execute("SELECT pg_stat_clear_snapshot()")
            left = other.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'simulate_sync' AND datname = current_database()"
            ).fetchone()[0]
            if left == 0:
                break
            time.sleep(0.1)
    assert left == 0


@transactional
def test_terminated_backends_are_reopened_and_the_run_goes_on():
    # A PostgreSQL restart or an operator's pg_terminate_backend ends every connection. The
    # simulator must open new ones and keep writing: `./portal up` stops the whole demo when it exits.
    _seed_leads(40)
    terminated: set[int] = set()
    with _running_simulator("--seed", "5", "--rate", "100", "--connections", "3") as process:
        with BackendSampler().running() as sampler, psycopg.connect(test_database_url(), autocommit=True) as admin:
            _wait_for(lambda: LeadSyncHistory.objects.count() >= 5 and len(sampler.latest) == 3, process, "writes")
            for _round in range(3):  # three blips, one second apart: the reconnect backoff starts over each time
                pids = {pid for pid, done in admin.execute(
                    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'simulate_sync' "
                    "AND datname = current_database() AND pid <> pg_backend_pid()").fetchall() if done}
                assert len(pids) == 3, pids
                terminated |= pids
                time.sleep(1)
            after = LeadSyncHistory.objects.count()
            # Still running, on new connections, and writing.
            _wait_for(lambda: LeadSyncHistory.objects.count() >= after + 10, process, "writes after the blips")
            _wait_for(lambda: len(sampler.latest - terminated) == 3, process, "three new connections")
        assert process.poll() is None
        out = _sigterm(process, timeout=60)
    line = _summary(out)
    assert "REFUSED" not in line, line
    lost = int(re.search(r"connections lost (\d+) times", line).group(1))
    assert lost >= 3, line  # at least every connection once; an idle one notices at its next statement
    # The soak's reading of the line: what the simulator counted is in the table, and at most the
    # inserts whose answer the blips swallowed come on top.
    counted, unanswered = parse_sync_count(line)
    assert counted <= LeadSyncHistory.objects.count() <= counted + unanswered, line
    # A clean stop: only a claim or finish cut by a blip may have left its lead 'syncing'.
    maybe_syncing = int(re.search(r"leads possibly left syncing: (\d+)", line).group(1))
    assert Lead.objects.filter(sync_status=LeadSyncStatus.SYNCING).count() <= maybe_syncing, line


@transactional
def test_a_hung_or_restarting_database_is_waited_out_with_deadlines():
    # Through a proxy that first swallows every byte (a network that hangs: statement_timeout
    # never fires, the server never got the statement) and then drops and refuses connections (a
    # restart). Each wait has a deadline, so the workers come back once the database does.
    _seed_leads(40)
    db = settings.DATABASES["default"]
    with FaultProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))) as proxy:
        conninfo = make_conninfo(test_database_url(), host="127.0.0.1", port=proxy.port)
        simulator = Simulator(conninfo=conninfo, options=SimulatorOptions(rate=60, seed=9, connections=2))
        reports = []
        runner = threading.Thread(target=lambda: reports.append(simulator.run()), daemon=True)
        runner.start()
        try:
            def writes_after(count: int, seconds: float) -> None:
                deadline = time.monotonic() + seconds
                while LeadSyncHistory.objects.count() < count + 5:
                    assert runner.is_alive() and time.monotonic() < deadline, f"no writes within {seconds} s"
                    time.sleep(0.2)

            writes_after(0, 30)
            proxy.set_mode("hang")
            time.sleep(HUNG_AFTER_S + 2)  # the watchdog cuts the hung statements; new connections time out
            proxy.set_mode("pass")
            writes_after(LeadSyncHistory.objects.count(), 30)
            proxy.set_mode("down")
            time.sleep(2)
            proxy.set_mode("pass")
            writes_after(LeadSyncHistory.objects.count(), 30)
        finally:
            simulator.stop()
            runner.join(timeout=60)
    assert not runner.is_alive()
    report = reports[0]
    assert report.connections_lost >= 4 and report.failed_connects >= 1, report
    assert not report.refused and not report.workers_died, report
    attempts = sum(report.attempts.values())
    assert attempts <= LeadSyncHistory.objects.count() <= attempts + report.unanswered
    assert Lead.objects.filter(sync_status=LeadSyncStatus.SYNCING).count() <= report.maybe_syncing


@transactional
def test_a_connection_ended_while_idle_is_known_before_anything_is_sent():
    # Most blips hit a connection between two statements. Seen before the next statement is sent,
    # that loss puts nothing in doubt, so it is not counted as an unanswered write.
    with psycopg.connect(test_database_url(), autocommit=True) as idle, \
            psycopg.connect(test_database_url(), autocommit=True) as admin:
        idle.execute("SELECT 1")
        assert not _closed_while_idle(idle)
        pid = idle.pgconn.backend_pid
        assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()[0]
        assert _closed_while_idle(idle)


def test_error_bursts_come_and_fail_most_attempts_the_same_way():
    # The failure model on its own (no database): a 3 % baseline until a burst starts, then, for
    # its 15-60 s (longer than these calls take), about 70 % of the attempts fail, all the same way.
    worker = _Worker(0, "", SimulatorOptions(seed=8), threading.Event())
    outcomes, start = [], None
    for i in range(3000):
        outcomes.append(worker.outcome("lead", LeadSyncDirection.SUPABASE_TO_TWENTY))
        if start is None and worker.burst_until:
            start = i
    assert start is not None and 100 <= start <= 2000, start
    before, during = outcomes[:start], outcomes[start:]
    assert sum(status == HistoryStatus.ERROR for status, _, _ in before) / len(before) < 0.08
    failed_kinds = [kind for status, _, kind in during if status == HistoryStatus.ERROR]
    assert 0.6 < len(failed_kinds) / len(during) < 0.8
    assert set(failed_kinds) == {worker.burst_kind}


def test_bad_options_are_refused_with_the_reason(db):
    with pytest.raises(CommandError, match="fail rate must be between 0 and 1"):
        call_command("simulate_sync", fail_rate=1.5, duration=1, verbosity=0)
    with pytest.raises(CommandError, match="rate must be above 0"):
        call_command("simulate_sync", rate=0, duration=1, verbosity=0)
    with pytest.raises(CommandError, match="connections must be between 1 and 64"):
        call_command("simulate_sync", connections=0, duration=1, verbosity=0)


def test_help_says_it_writes_to_the_database_it_is_pointed_at():
    result = subprocess.run(
        [sys.executable, "manage.py", "simulate_sync", "--help"], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "leadsync_portal.settings_test", "SECRET_KEY": "help"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "writes to the database it is pointed at" in text
    for option in ("--rate", "--duration", "--seed", "--stall", "--fail-rate", "--connections"):
        assert option in text


def test_rhythm_and_messages_are_deterministic_and_varied():
    from datetime import datetime, UTC
    import random

    afternoon, night = rhythm(datetime(2026, 1, 5, 14, 30, tzinfo=UTC)), rhythm(datetime(2026, 1, 5, 2, 30, tzinfo=UTC))
    top_of_hour = rhythm(datetime(2026, 1, 5, 14, 2, tzinfo=UTC))
    assert afternoon[0] > 1.3 and night[0] < 0.7 and top_of_hour[0] > afternoon[0]
    assert afternoon[1] > night[1]  # more new leads in business hours
    rng_a, rng_b = random.Random(9), random.Random(9)
    kinds = ("rate_limit", "server", "timeout", "validation", "huge")
    messages = [error_message(kind, rng_a, "lead-1") for kind in kinds for _ in range(3)]
    assert messages == [error_message(kind, rng_b, "lead-1") for kind in kinds for _ in range(3)]
    assert "429" in messages[0] and "ETIMEDOUT" in messages[6] and "400" in messages[9]
    assert min(len(m) for m in messages[12:]) > 2_000  # many kilobytes
    assert SimulatorOptions(stall="all").stall == "all"
