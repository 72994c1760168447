"""A repair racing the sync: it waits for the sync's row lock, then judges and records the newest version."""
from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.db import connection, connections

from monitoring.choices import LeadSyncStatus
from monitoring.models import Lead, LeadRepair
from monitoring.services.leads import RepairResult, retry_leads


def _other_connection() -> psycopg.Connection:
    params = connection.get_connection_params()
    keys = ("dbname", "user", "password", "host", "port")
    return psycopg.connect(**{key: params[key] for key in keys if params.get(key)})


def _wait_until_blocked(other: psycopg.Connection, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # pg_stat_activity is read once per transaction unless the snapshot is cleared.
        other.execute("SELECT pg_stat_clear_snapshot()")
        waiting = other.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchone()[0]
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the repair never waited for the sync's row lock")


# Commits for real so the two connections see each other; serialized_rollback restores the
# migrations' rows afterwards (as in tests/test_alerts_concurrency.py).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_retry_waits_for_a_concurrent_sync_write_and_judges_the_newest_version(operator):
    moved = Lead.objects.create(first_name="Moved", sync_status=LeadSyncStatus.ERROR, sync_error_count=1,
                                sync_error_message="old")
    changed = Lead.objects.create(first_name="Changed", sync_status=LeadSyncStatus.ERROR, sync_error_count=1,
                                  sync_error_message="old")
    results: list[RepairResult] = []

    def repair() -> None:
        try:
            results.append(retry_leads(leads=Lead.objects.filter(pk__in=[moved.pk, changed.pk]), user=operator,
                                       reason="race"))
        finally:
            connections.close_all()

    worker = threading.Thread(target=repair)
    try:
        with _other_connection() as sync, sync.transaction():
            # The sync picks one lead up and records a newer error on the other, not yet committed.
            sync.execute("UPDATE leads SET sync_status = 'syncing' WHERE id = %s", [moved.pk])
            sync.execute("UPDATE leads SET sync_error_message = 'newer' WHERE id = %s", [changed.pk])
            worker.start()
            _wait_until_blocked(sync)
    finally:
        # Leaving the block committed (or rolled back) the sync's writes, which releases the repair;
        # it must be done before the test's teardown empties the tables.
        if worker.is_alive():
            worker.join(timeout=30)

    assert results, "the repair did not finish"
    assert (results[0].selected, results[0].updated, results[0].skipped) == (2, 1, 1)
    assert Lead.objects.get(pk=moved.pk).sync_status == LeadSyncStatus.SYNCING  # in flight now: skipped
    assert Lead.objects.values_list("sync_status", "sync_error_message").get(pk=changed.pk) == ("pending", None)
    repair = LeadRepair.objects.get()
    assert repair.lead_id == changed.pk
    # The old value recorded is the sync's newer message, not the one the repair's snapshot saw.
    assert repair.old_values == {"sync_status": "error", "sync_error_message": "newer"}
    assert repair.new_values == {"sync_status": "pending", "sync_error_message": None}
