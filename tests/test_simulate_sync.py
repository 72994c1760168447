"""manage.py simulate_sync against the real test database: what it writes, clean stops, alerts on demand.

The simulator writes through its own connections, so these tests commit for real (transactional
tests; the serialized rollback restores the migrations' rows, e.g. the default alert rules).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from monitoring.choices import HistoryStatus, LeadSyncDirection, LeadSyncStatus, RuleKind
from monitoring.models import Incident, IncidentState, Lead, LeadSyncHistory
from monitoring.services.alerts import evaluate_alerts
from monitoring.services.simulator import SimulatorOptions, error_message, rhythm
from tests.alert_helpers import S2T, T2S, add_attempts, make_lead
from tests.test_mcp import test_database_url

ROOT = Path(__file__).resolve().parents[1]

transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _firing_rules() -> set[str]:
    return set(Incident.objects.filter(state=IncidentState.FIRING).values_list("rule__name", flat=True))


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
    _seed_leads()
    before = Lead.objects.count()

    call_command("simulate_sync", duration=3, seed=7, rate=150, connections=3, fail_rate=0.4, verbosity=0)

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

    call_command("simulate_sync", duration=3, seed=11, rate=150, connections=3, fail_rate=0.6, verbosity=0)

    attempts = LeadSyncHistory.objects.count()
    errors = LeadSyncHistory.objects.filter(sync_status=HistoryStatus.ERROR).count()
    assert attempts >= 20  # the rule's minimum
    assert errors / attempts > 0.3
    evaluate_alerts()
    assert "Sync failure rate above 10 %" in _firing_rules()


@transactional
def test_sigterm_stops_cleanly_with_no_lead_left_syncing():
    _seed_leads(40)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "leadsync_portal.settings_test",
           "DATABASE_URL": test_database_url(), "REDIS_URL": settings.REDIS_URL, "SECRET_KEY": "simulate-test"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "simulate_sync", "--seed", "5", "--rate", "100", "--connections", "3"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not LeadSyncHistory.objects.exists():  # it is writing
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the simulator wrote nothing"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "writes to" in out or "writing to database" in out
    assert "attempts" in out.splitlines()[-1]
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
