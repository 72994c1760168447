"""seed_demo: deterministic per seed, exact sizes, realistic mixes, and a bulk path that restores the schema."""
from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from monitoring import selectors
from monitoring.services.demo_data import RATE_LIMIT_MESSAGE, seed_demo


def fetch(sql: str, params: Any = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def fingerprint() -> dict[str, Any]:
    """Counts that must not change between two runs with the same seed, and a hash of every lead id."""
    return {
        "leads": fetch("SELECT sync_status, sync_direction, lead_source, count(*), sum(sync_error_count) "
                       "FROM leads GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"),
        "history": fetch("SELECT sync_type, sync_direction, sync_status, error_message, count(*) "
                         "FROM lead_sync_history GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"),
        "segments": fetch("SELECT cs.segment_name, count(*) FROM leads l LEFT JOIN customer_segments cs "
                          "ON cs.id = l.segment_id GROUP BY 1 ORDER BY 1"),
        "ids": fetch("SELECT md5(string_agg(id::text, ',' ORDER BY id)) FROM leads"),
        "per_lead": fetch("SELECT md5(string_agg(lead_id::text, ',' ORDER BY lead_id, sync_type)) "
                          "FROM lead_sync_history"),
    }


# One anchor for every seed here: the same seed gives identical rows only for the same `now` (a
# run that straddled a boundary, seeding once before and once after it, differed in CI).
SEEDED_AT = timezone.now().replace(microsecond=0)


@pytest.fixture
def seeded(db):
    result = seed_demo(leads=2_000, history=20_000, days=30, seed=7, now=SEEDED_AT)
    return result


def test_same_seed_gives_identical_data(seeded):
    first = fingerprint()
    seed_demo(leads=2_000, history=20_000, days=30, seed=7, reset=True, now=SEEDED_AT)
    assert fingerprint() == first
    seed_demo(leads=2_000, history=20_000, days=30, seed=8, reset=True, now=SEEDED_AT)
    other = fingerprint()
    assert other["ids"] != first["ids"]
    assert sum(row[3] for row in other["leads"]) == 2_000


def test_exact_sizes(seeded):
    assert (seeded.leads, seeded.history, seeded.segments) == (2_000, 20_000, 6)
    assert fetch("SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM lead_sync_history), "
                 "(SELECT count(*) FROM customer_segments)") == [(2_000, 20_000, 6)]


def test_mixes_cover_every_status_type_and_direction(seeded):
    assert {r[0] for r in fetch("SELECT DISTINCT sync_status FROM leads")} == {
        "synced", "pending", "error", "syncing", "conflict"}
    assert {r[0] for r in fetch("SELECT DISTINCT sync_type FROM lead_sync_history")} == {
        "scheduled", "webhook_update", "manual", "retry", "initial_import"}
    assert {r[0] for r in fetch("SELECT DISTINCT sync_direction FROM leads")} == {
        "twenty_to_supabase", "supabase_to_twenty", "bidirectional"}
    assert {r[0] for r in fetch("SELECT DISTINCT sync_direction FROM lead_sync_history")} == {
        "twenty_to_supabase", "supabase_to_twenty"}
    messages = {r[0] for r in fetch("SELECT DISTINCT error_message FROM lead_sync_history WHERE error_message IS NOT NULL")}
    assert RATE_LIMIT_MESSAGE in messages
    assert any("500" in m or "503" in m for m in messages)
    assert any(m.startswith("Timeout") for m in messages)
    assert any(m.startswith("Validation") for m in messages)
    assert any(m.startswith("Duplicate") for m in messages)
    assert len(fetch("SELECT DISTINCT lead_source FROM leads")) >= 8
    # Names with a missing part exist (the concat_ws fix has something to show).
    assert fetch("SELECT count(*) > 0 FROM leads WHERE last_name IS NULL") == [(True,)]


def test_every_dashboard_and_alert_has_something_to_show(seeded):
    assert selectors.stuck_leads(), "stuck syncing leads"
    assert selectors.stale_leads()["stale_count"] > 0
    assert selectors.high_error_leads(), "leads with more than 5 errors"
    assert selectors.recent_errors()
    assert selectors.real_time_activity()
    assert selectors.webhook_updates_per_minute()
    assert selectors.sync_stalled() is False
    failure = selectors.failure_rate()
    assert failure["rate"] > 10  # the recent 429 burst trips the failure-rate alert
    health = selectors.health_summary()
    assert health["overall_health"] in ("warning", "critical")
    assert health["conflict_leads"] > 0 and health["recently_synced"] > 0
    assert len(selectors.hourly_performance()) >= 20
    assert len(selectors.lead_analytics()) == 7
    assert selectors.daily_summary()  # refreshed by seed_demo


def test_history_is_consistent_with_leads(seeded):
    assert fetch("""
        SELECT count(*) FILTER (WHERE h.created_at > h.synced_at),
               count(*) FILTER (WHERE h.synced_at > now()),
               count(*) FILTER (WHERE l.sync_status = 'pending')
        FROM lead_sync_history h JOIN leads l ON l.id = h.lead_id
    """) == [(0, 0, 0)]
    # A lead's newest attempt carries its status (synced, error, conflict).
    mismatched = fetch("""
        SELECT count(*) FROM leads l
        JOIN LATERAL (SELECT sync_status FROM lead_sync_history h WHERE h.lead_id = l.id
                      ORDER BY synced_at DESC, id DESC LIMIT 1) last ON true
        WHERE l.sync_status IN ('synced', 'error', 'conflict') AND last.sync_status <> l.sync_status
    """)
    assert mismatched == [(0,)]
    assert fetch("SELECT count(*) FROM leads WHERE sync_status = 'syncing' AND sync_started_at IS NULL") == [(0,)]


def test_bulk_path_restores_indexes_constraints_and_trigger(db):
    def schema() -> dict[str, Any]:
        return {
            "indexes": fetch("SELECT indexname, indexdef, obj_description(format('%I', indexname)::regclass, "
                             "'pg_class') FROM pg_indexes WHERE tablename IN ('leads', 'lead_sync_history') "
                             "ORDER BY 1"),
            "constraints": fetch("SELECT conname, pg_get_constraintdef(oid), convalidated, condeferrable, "
                                 "condeferred FROM pg_constraint WHERE conrelid IN "
                                 "('leads'::regclass, 'lead_sync_history'::regclass) ORDER BY 1"),
            "triggers": fetch("SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'leads'::regclass "
                              "AND NOT tgisinternal ORDER BY 1"),
        }

    before = schema()
    out = StringIO()
    call_command("seed_demo", leads=10_000, history=90_000, days=10, seed=3, stdout=out)
    assert "dropped" in out.getvalue() and "rebuilt index idx_sync_history_monitoring" in out.getvalue()
    assert schema() == before
    assert fetch("SELECT count(*) FROM lead_sync_history") == [(90_000,)]


def test_command_prints_progress_and_a_summary(db):
    out = StringIO()
    call_command("seed_demo", leads=100, history=500, seed=1, stdout=out)
    text = out.getvalue()
    assert "planned 100 leads" in text
    assert "500 / 500 history rows" in text
    assert "seed_demo: 6 segments, 100 leads, 500 history rows" in text


def test_if_empty_leaves_existing_data_alone(seeded):
    out = StringIO()
    call_command("seed_demo", "--if-empty", leads=10, history=10, stdout=out)
    assert "left as they are" in out.getvalue()
    assert fetch("SELECT count(*) FROM leads") == [(2_000,)]


def test_refuses_to_add_to_existing_data_without_reset(seeded):
    with pytest.raises(CommandError, match="--reset"):
        call_command("seed_demo", leads=10, history=10, stdout=StringIO())
    assert fetch("SELECT count(*) FROM leads") == [(2_000,)]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"days": 0}, "--days"), ({"leads": 0, "history": 5}, "history needs leads")],
)
def test_bad_options_are_clear_errors(db, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_demo", stdout=StringIO(), **options)


def test_negative_sizes_are_rejected_by_the_parser(db):
    with pytest.raises(CommandError, match="invalid _non_negative value|argument --leads"):
        call_command("seed_demo", "--leads", "-5", stdout=StringIO())


# --- issue 13.9 / 13.10: spread-out times, varied field changes, an anchor for every relative time ---

ANCHOR = "2026-11-30T12:00:00+00:00"


def checksums() -> tuple:
    """Every column of every row (history ids excluded: identity values depend on earlier inserts)."""
    return (
        fetch("SELECT md5(string_agg(l::text, '|' ORDER BY l.id)) FROM leads l")[0][0],
        fetch("SELECT md5(string_agg(concat_ws(',', lead_id, sync_type, sync_direction, sync_status, fields_changed, "
              "error_message, created_at, synced_at), '|' ORDER BY lead_id, synced_at, created_at, sync_type, "
              "sync_status, error_message, fields_changed::text)) FROM lead_sync_history")[0][0],
    )


def test_seed_demo_now_gives_identical_rows_at_any_wall_clock_time(db):
    """Issue 13.10: two runs a minute apart gave 3,769 and 3,768 leads in error (times hung on now())."""
    import time_machine

    call_command("seed_demo", "--leads", "2000", "--history", "20000", "--seed", "7", "--now", ANCHOR, stdout=StringIO())
    first = checksums()
    errors = fetch("SELECT count(*) FROM leads WHERE sync_status = 'error'")
    with time_machine.travel("2026-12-01T09:30:00+00:00", tick=False):  # a later run, by another clock
        call_command("seed_demo", "--leads", "2000", "--history", "20000", "--seed", "7", "--now", ANCHOR,
                     "--reset", stdout=StringIO())
    assert checksums() == first
    assert fetch("SELECT count(*) FROM leads WHERE sync_status = 'error'") == errors
    # Every time is relative to the anchor: nothing after it but the 'syncing' leads' start, none before 30 days.
    assert fetch("SELECT max(created_at) <= %s, max(last_synced_at) <= %s FROM leads", [ANCHOR, ANCHOR]) == [(True, True)]
    assert fetch("SELECT max(synced_at) <= %s FROM lead_sync_history", [ANCHOR]) == [(True,)]


def test_seed_demo_refuses_a_timestamp_without_zone(db):
    with pytest.raises(CommandError, match="has no time zone"):
        call_command("seed_demo", "--now", "2026-11-30T12:00:00", stdout=StringIO())


def test_seed_demo_spreads_creation_times(db):
    """Issue 13.9: 386 leads shared one created_at (every lead of the last two hours clamped to it)."""
    from datetime import datetime

    seed_demo(leads=2_000, history=2_000, days=30, seed=42, now=datetime.fromisoformat(ANCHOR))
    (most,), = fetch("SELECT max(n) FROM (SELECT count(*) AS n FROM leads GROUP BY created_at) AS c")
    assert most <= 2
    # Still a recent bulge: the last day holds more leads than an average day.
    (last_day,), = fetch("SELECT count(*) FROM leads WHERE created_at > %s::timestamptz - INTERVAL '1 day'", [ANCHOR])
    assert last_day > 2_000 / 30


def test_seed_demo_field_changes_are_the_leads_own_values(db):
    """Issue 13.9: canned changes showed "Grace Knuth" with first_name ["Bob", "Robert"]."""
    from datetime import datetime

    seed_demo(leads=2_000, history=20_000, days=30, seed=42, now=datetime.fromisoformat(ANCHOR))
    rows = fetch(
        """
        SELECT key, h.fields_changed -> key, to_jsonb(l) -> key, h.sync_status
        FROM lead_sync_history h JOIN leads l ON l.id = h.lead_id
        CROSS JOIN LATERAL jsonb_object_keys(h.fields_changed) AS key
        WHERE h.fields_changed IS NOT NULL
        """
    )
    assert len(rows) > 5_000
    fields = {key for key, *_ in rows}
    assert fields >= {"first_name", "last_name", "job_title", "lead_score", "company_name", "phone"}
    import json

    decode = lambda value: json.loads(value) if isinstance(value, str) else value  # noqa: E731 (raw jsonb is text)
    for key, change, current, status in rows:
        change, current = decode(change), decode(current)
        if status == "conflict":
            assert change["supabase"] == current and change["twenty"] != current, (key, change, current)
        else:
            old, new = change
            assert new == current and old != new, (key, change, current)


def test_older_copies_add_settled_history_behind_an_unchanged_recent_past(db):
    """Issue 12: the big benchmark seed (1M/10M over 600 days) put 2.35 times the small seed's
    attempts and 4.3 times its failed attempts in the last 24 hours, so its "growth" measured the
    write rate, not the table size. --older-copies keeps the recent past exactly as it is."""
    from datetime import datetime, timedelta

    anchor = datetime.fromisoformat(ANCHOR)
    days = 5
    since = anchor - timedelta(days=days)
    row = ("concat_ws(',', {lead}, sync_type, sync_direction, sync_status, fields_changed, error_message, "
           "created_at - {k} * INTERVAL '5 days', synced_at - {k} * INTERVAL '5 days')")

    def recent() -> tuple:
        leads = fetch("SELECT md5(string_agg(l::text, '|' ORDER BY l.id)), count(*) FROM leads l "
                      "WHERE greatest(created_at, last_synced_at, updated_at) > %s", [since])
        history = fetch(f"SELECT md5(string_agg(r, '|' ORDER BY r)), count(*) FROM (SELECT "
                        f"{row.format(lead='lead_id', k=0)} AS r FROM lead_sync_history WHERE synced_at > %s) s",
                        [since])
        unsettled = fetch("SELECT sync_status, count(*), sum(sync_error_count) FROM leads "
                          "WHERE sync_status <> 'synced' GROUP BY 1 ORDER BY 1")
        return leads, history, unsettled

    def moved_back(k: int) -> str:
        """The whole plain seed's history as copy k should hold it."""
        lead = f"md5(lead_id::text || ':older:' || {k})::uuid"
        return fetch(f"SELECT md5(string_agg(r, '|' ORDER BY r)) FROM (SELECT {row.format(lead=lead, k=k)} AS r "
                     "FROM lead_sync_history) s")[0][0]

    def copy_of(ids: list[str], k: int) -> tuple[str, int, int]:
        """Copy k's history, and how many of its leads are unsettled or newer than the recent past."""
        copy_ids = f"(SELECT md5(x::text || ':older:' || {k})::uuid FROM unnest(%s::uuid[]) AS x)"
        (history,), = fetch(f"SELECT md5(string_agg(r, '|' ORDER BY r)) FROM (SELECT "
                            f"{row.format(lead='lead_id', k=0)} AS r FROM lead_sync_history "
                            f"WHERE lead_id IN {copy_ids}) s", [ids])
        (leads, unsettled), = fetch(
            "SELECT count(*), count(*) FILTER (WHERE sync_status <> 'synced' OR sync_started_at IS NOT NULL "
            f"OR sync_error_message IS NOT NULL OR updated_at > %s) FROM leads WHERE id IN {copy_ids}",
            [since, ids],
        )
        return history, leads, unsettled

    plain = seed_demo(leads=1_000, history=8_000, days=days, seed=5, now=anchor)
    without = recent()
    ids = [r[0] for r in fetch("SELECT id::text FROM leads")]
    expected = {k: moved_back(k) for k in (1, 2)}
    copied = seed_demo(leads=1_000, history=8_000, days=days, seed=5, now=anchor, reset=True, older_copies=2)

    assert (plain.leads, plain.history) == (1_000, 8_000)
    assert (copied.leads, copied.history) == (3_000, 24_000)
    assert fetch("SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM lead_sync_history)") == [(3_000, 24_000)]
    assert recent() == without
    assert without[1][0][1] > 1_000  # the comparison covers a real share of the attempts
    # Copy k is the seed moved k * days back, its leads settled: synced, nothing in flight, no open error.
    assert copy_of(ids, 1) == (expected[1], 1_000, 0)
    assert copy_of(ids, 2) == (expected[2], 1_000, 0)


def test_older_copies_must_not_be_negative(db):
    with pytest.raises(ValueError, match="--older-copies must not be negative"):
        seed_demo(leads=10, history=10, older_copies=-1)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_reset_keeps_the_totals_over_the_archive_so_the_weekly_verify_agrees():
    """A reset's TRUNCATE restarts the all-time attempt totals, but the archive keeps its rows, which
    the totals must still cover: a small reset seed (not the bulk path) left them short, and the
    weekly verify failed until someone ran a rebuild. seed_demo now rebuilds after every reset."""
    from monitoring.services import maintenance, rollups

    try:
        seed_demo(leads=200, history=2_000, days=30, seed=3, reset=True, now=SEEDED_AT)
        assert maintenance.archive_history(retention_days=5, vacuum=False).moved > 0
        seed_demo(leads=200, history=2_000, days=30, seed=4, reset=True, now=SEEDED_AT)
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM lead_sync_history_archive")
            assert cursor.fetchone()[0] > 0  # the archive outlived the reset
        rollups.compact_rollups()
        result = rollups.verify_rollups()
        assert result.agree, result.mismatches
    finally:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE lead_sync_history_archive, lead_sync_history, leads, customer_segments CASCADE")
        rollups.rebuild_rollups()
