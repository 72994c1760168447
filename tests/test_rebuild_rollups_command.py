"""`manage.py rebuild_rollups`: the rebuild path and `--verify-only`, through call_command."""
from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from monitoring.selectors._sql import fetch_one
from monitoring.services import rollups as rollup_services
from tests.maintenance_helpers import insert_history, make_lead

# Transactional: rebuild and verify need their own REPEATABLE READ transaction. serialized_rollback
# keeps the rows migrations made for the tests that run after these.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

DELTAS = "SELECT (SELECT COUNT(*) FROM rollup_lead_deltas) + (SELECT COUNT(*) FROM rollup_history_deltas) AS n"


@pytest.fixture
def history():
    """Attempts on today and two days ago (2 UTC days of history), their deltas not yet folded."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE lead_sync_history_archive, lead_sync_history, leads RESTART IDENTITY CASCADE")
    now = timezone.now()
    lead = make_lead()
    insert_history(lead, now - timedelta(minutes=5), count=4)
    insert_history(make_lead("Grace"), now - timedelta(days=2, minutes=5), count=3)
    assert fetch_one(DELTAS)["n"] > 0


def _corrupt_an_hour_row() -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rollup_history SET attempts = attempts + 5 "
                       "WHERE ctid = (SELECT ctid FROM rollup_history WHERE grain = 'h' LIMIT 1)")
        assert cursor.rowcount == 1


def test_rebuild_prints_its_summary_and_the_rollups_agree_afterwards(history):
    rollup_services.compact_rollups()
    _corrupt_an_hour_row()
    assert not rollup_services.verify_rollups().agree

    out = StringIO()
    call_command("rebuild_rollups", stdout=out)

    summary = re.fullmatch(
        r"rebuild_rollups: (\d+) days of history in [\d.]+ s \((\d+) batches, the longest [\d.]+ s\); "
        r"then folded (\d+) deltas written meanwhile\n",
        out.getvalue())
    assert summary, out.getvalue()
    # Today and two days ago (the day between has no row and is skipped); the batches: the leads, their
    # one creation day, the two days of history and the totals; no writer meanwhile.
    assert summary.groups() == ("2", "5", "0")
    assert fetch_one(DELTAS)["n"] == 0
    assert rollup_services.verify_rollups().agree


def test_verify_only_succeeds_on_agreeing_rollups(history):
    out = StringIO()
    call_command("rebuild_rollups", "--verify-only", stdout=out)  # deltas unfolded: they count too
    assert re.fullmatch(r"rebuild_rollups: rollups agree with the tables \([\d.]+ s\)\n", out.getvalue())


def test_verify_only_names_the_mismatching_rollup_and_changes_nothing(history):
    rollup_services.compact_rollups()
    _corrupt_an_hour_row()
    with pytest.raises(CommandError) as raised:
        call_command("rebuild_rollups", "--verify-only", stdout=StringIO())
    message = str(raised.value)
    assert message.startswith("rollups disagree with the tables: {'history': 2, 'history_days': 2} (")
    assert rollup_services.verify_rollups().mismatches == {"history": 2, "history_days": 2}  # not repaired
