"""Writes to the rollups: fold the deltas (every few seconds), rebuild them, verify them.

The triggers of migration 0230 append deltas; compact_rollups() folds them (SQL function, one
transaction, advisory lock: a second compactor returns at once). rebuild_rollups() recomputes
everything from the tables in short batches (one UTC day each, its own REPEATABLE READ
transaction, each folding the deltas its snapshot sees) while the sync keeps writing.
verify_rollups() compares every rollup (plus its unfolded deltas) with the tables in one
REPEATABLE READ snapshot: the weekly check that they still agree. It takes no lock, so the
compactor keeps folding while it runs (see verify_rollups()).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from django.db import OperationalError, connection, transaction
from django.db.backends.utils import CursorWrapper
from psycopg import errors as psycopg_errors

from monitoring.selectors.rollups import ATTEMPT_TOTALS_PARTS

logger = logging.getLogger(__name__)

# The compactor's advisory lock key (compact_rollups() takes it per transaction; a rebuild batch
# holds it around its snapshot so no compaction commits in the middle).
LOCK_KEY_SQL = "hashtext('monitoring.compact_rollups')"


@dataclass
class CompactResult:
    folded: int
    skipped: bool
    seconds: float


def compact_rollups() -> CompactResult:
    """Fold every visible delta into the rollups. skipped: another compactor held the lock."""
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        # Never queue behind a migration's table lock: the next run (5 s later) tries again.
        cursor.execute("SET LOCAL lock_timeout = '2s'")
        cursor.execute("SELECT compact_rollups()")
        folded = cursor.fetchone()[0]
    return CompactResult(folded=max(folded, 0), skipped=folded < 0, seconds=round(time.monotonic() - started, 4))


@contextmanager
def _snapshot() -> Iterator[None]:
    """A REPEATABLE READ transaction of its own: every statement in it reads one snapshot."""
    if connection.in_atomic_block:
        raise RuntimeError("rebuild/verify need their own REPEATABLE READ transaction: call them outside atomic()")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


@contextmanager
def _snapshot_with_compactor_lock() -> Iterator[None]:
    """_snapshot() taken while holding the compactor's lock (session level, acquired before the
    snapshot, so no compaction can commit between the two). Each rebuild batch needs it: it folds
    the deltas its snapshot sees and rewrites a slice of the rollups, which a fold committed after
    its snapshot would make it count twice (or fail to serialize)."""
    if connection.in_atomic_block:
        raise RuntimeError("rebuild/verify need their own REPEATABLE READ transaction: call them outside atomic()")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_lock({LOCK_KEY_SQL})")
    try:
        with _snapshot():
            yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT pg_advisory_unlock({LOCK_KEY_SQL})")


@dataclass
class RebuildResult:
    history_days: int
    batches: int
    longest_batch_seconds: float
    seconds: float


# The day rows follow the hour rows' changes (migrations 0301 and 0302: triggers), so a wrong day
# row would survive its hour rows' rebuild: each day batch also recounts its day row from them.
LEADS_CREATED_DAY_ROWS = (
    "DELETE FROM rollup_leads_created_days WHERE day = %(day)s::timestamp AT TIME ZONE 'UTC'",
    """
INSERT INTO rollup_leads_created_days (day, lead_source, sync_direction, lead_count, score_sum, score_n)
SELECT date_trunc('day', bucket, 'UTC'), lead_source, sync_direction, SUM(lead_count), SUM(score_sum), SUM(score_n)
FROM rollup_leads_created
WHERE grain = 'h' AND bucket >= %(day)s::timestamp AT TIME ZONE 'UTC'
  AND bucket < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
GROUP BY 1, 2, 3 HAVING SUM(lead_count) <> 0 OR SUM(score_sum) <> 0 OR SUM(score_n) <> 0
""",
)
HISTORY_DAY_ROWS = (
    "DELETE FROM rollup_history_days WHERE day = %(day)s::timestamp AT TIME ZONE 'UTC'",
    """
INSERT INTO rollup_history_days (day, sync_direction, sync_type, sync_status, attempts, duration_sum, duration_n)
SELECT date_trunc('day', bucket, 'UTC'), sync_direction, sync_type, sync_status,
       SUM(attempts), SUM(duration_sum), SUM(duration_n)
FROM rollup_history
WHERE grain = 'h' AND bucket >= %(day)s::timestamp AT TIME ZONE 'UTC'
  AND bucket < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
GROUP BY 1, 2, 3, 4 HAVING SUM(attempts) <> 0 OR SUM(duration_sum) <> 0 OR SUM(duration_n) <> 0
""",
)
# rollup_rebuild_days() (0231) lists the days the tables and the rollups have; add the day rows' own.
# Day rows whose sums are all zero (a reset's deletes leave them) stand for nothing: left out.
REBUILD_DAYS = """
SELECT ARRAY(SELECT unnest(leads_days)
             UNION SELECT (day AT TIME ZONE 'UTC')::date FROM rollup_leads_created_days
                   WHERE lead_count <> 0 OR score_sum <> 0 OR score_n <> 0 ORDER BY 1),
       ARRAY(SELECT unnest(history_days)
             UNION SELECT (day AT TIME ZONE 'UTC')::date FROM rollup_history_days
                   WHERE attempts <> 0 OR duration_sum <> 0 OR duration_n <> 0 ORDER BY 1)
FROM rollup_rebuild_days()
"""


@dataclass(frozen=True)
class RebuildBatch:
    name: str  # "leads", "leads_created", "history" or "totals"
    day: date | None = None


def _rebuild_batches() -> tuple[list[RebuildBatch], int]:
    with connection.cursor() as cursor:
        cursor.execute(REBUILD_DAYS)
        leads_days, history_days = cursor.fetchone()
    batches = [RebuildBatch("leads")]
    batches += [RebuildBatch("leads_created", day) for day in leads_days]
    batches += [RebuildBatch("history", day) for day in history_days]
    batches.append(RebuildBatch("totals"))
    return batches, len(history_days)


SERIALIZATION_RETRIES = 3  # a batch run again after a concurrent reset: see _run_rebuild_batch()


def _run_rebuild_batch(batch: RebuildBatch) -> None:
    """One batch in its own REPEATABLE READ transaction under the compactor's lock: the batch
    function (0231) folds every delta the snapshot sees, then rewrites its slice from the tables.

    A TRUNCATE of a sync table (a reset) empties the rollups and deltas without that lock; a batch
    whose snapshot predates it then fails to serialize. It is run again, on a new snapshot: the
    batch is idempotent and nothing of the failed one was committed."""
    for attempt in range(1, SERIALIZATION_RETRIES + 1):
        try:
            _run_rebuild_batch_once(batch)
            return
        except OperationalError as error:
            if not isinstance(error.__cause__, psycopg_errors.SerializationFailure) or attempt == SERIALIZATION_RETRIES:
                raise
            logger.info("rebuild_rollups: %s batch of %s met a concurrent reset; running it again", batch.name, batch.day)


def _run_rebuild_batch_once(batch: RebuildBatch) -> None:
    with _snapshot_with_compactor_lock(), connection.cursor() as cursor:
        if batch.name == "leads":
            cursor.execute("SELECT rollup_rebuild_leads()")
        elif batch.name == "leads_created":
            cursor.execute("SELECT rollup_rebuild_leads_created_day(%s)", [batch.day])
            for statement in LEADS_CREATED_DAY_ROWS:
                cursor.execute(statement, {"day": batch.day})
        elif batch.name == "history":
            cursor.execute("SELECT rollup_rebuild_history_day(%s)", [batch.day])
            for statement in HISTORY_DAY_ROWS:
                cursor.execute(statement, {"day": batch.day})
        else:
            cursor.execute("SELECT rollup_rebuild_totals()")


def _after_rebuild_batch(batch: RebuildBatch) -> None:
    """Called after each batch has committed and released the lock (a test seam; does nothing)."""


def rebuild_rollups() -> RebuildResult:
    """Recompute every rollup from leads and lead_sync_history, one short batch at a time.

    The sync keeps writing. Each batch folds the deltas its snapshot sees (the compactor's work; the
    compactor itself may take the lock between two batches). A transaction reads one UTC day's rows,
    except the leads batch (every lead, grouped by status) and the totals batch (every hot and
    archived attempt counted per direction, the longest: 4.4 s at 10M attempts). Between two batches
    a rewritten slice agrees with the tables and one not yet rewritten is as right as it was (its
    deltas keep being folded into it).
    """
    started = time.monotonic()
    if connection.in_atomic_block:
        raise RuntimeError("rebuild_rollups() commits batch by batch: call it outside atomic()")
    batches, history_days = _rebuild_batches()
    longest = 0.0
    for batch in batches:
        batch_started = time.monotonic()
        _run_rebuild_batch(batch)
        longest = max(longest, time.monotonic() - batch_started)
        _after_rebuild_batch(batch)
    return RebuildResult(history_days=history_days, batches=len(batches), longest_batch_seconds=round(longest, 3),
                         seconds=round(time.monotonic() - started, 3))


# Each check: (name, rollup side, table side). Both sides are (key..., values...) rows; the
# rollup side adds the unfolded deltas, so a check holds at any moment, not only after a fold, and
# keeps a key while any of its sums is non-zero (a key whose sums are all 0 is as good as absent;
# the table side never has one). Minute rows are compared for the 7 days readers use (kept 8).
_CHECKS: list[tuple[str, str, str]] = [
    (
        "leads",
        """
        SELECT sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty,
               SUM(lead_count), SUM(error_count_sum), SUM(score_sum), SUM(score_n), SUM(confidence_sum), SUM(confidence_n)
        FROM (
            SELECT sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty, lead_count,
                   error_count_sum, score_sum, score_n, confidence_sum, confidence_n FROM rollup_leads
            UNION ALL
            SELECT sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty, sign,
                   sign * sync_error_count, COALESCE(sign * lead_score, 0), CASE WHEN lead_score IS NULL THEN 0 ELSE sign END,
                   COALESCE(sign * segment_confidence, 0), CASE WHEN segment_confidence IS NULL THEN 0 ELSE sign END
            FROM rollup_lead_deltas
        ) x GROUP BY 1, 2, 3, 4, 5, 6
        HAVING SUM(lead_count) <> 0 OR SUM(error_count_sum) <> 0 OR SUM(score_sum) <> 0 OR SUM(score_n) <> 0
            OR SUM(confidence_sum) <> 0 OR SUM(confidence_n) <> 0
        """,
        """
        SELECT sync_status, segment_id, lead_source, sync_direction, last_synced_at IS NULL, twenty_id IS NOT NULL,
               COUNT(*), SUM(sync_error_count), COALESCE(SUM(lead_score), 0), COUNT(lead_score),
               COALESCE(SUM(segment_confidence), 0), COUNT(segment_confidence)
        FROM leads GROUP BY 1, 2, 3, 4, 5, 6
        """,
    ),
    (
        # Hour rows per status and in-Twenty; minute rows (status '*', in_twenty false) for 7 days.
        "leads_created",
        """
        SELECT grain, bucket, lead_source, sync_direction, sync_status, in_twenty, SUM(c), SUM(s), SUM(n) FROM (
            SELECT grain, bucket, lead_source, sync_direction, sync_status, in_twenty, lead_count c, score_sum s, score_n n
            FROM rollup_leads_created WHERE grain = 'h' OR bucket >= now() - interval '7 days'
            UNION ALL
            SELECT g.grain, date_trunc(g.unit, created_at, 'UTC'), lead_source, sync_direction,
                   CASE WHEN g.grain = 'h' THEN sync_status ELSE '*' END, g.grain = 'h' AND in_twenty, sign,
                   COALESCE(sign * lead_score, 0), CASE WHEN lead_score IS NULL THEN 0 ELSE sign END
            FROM rollup_lead_deltas CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
            WHERE g.grain = 'h' OR date_trunc('minute', created_at, 'UTC') >= now() - interval '7 days'
        ) x GROUP BY 1, 2, 3, 4, 5, 6 HAVING SUM(c) <> 0 OR SUM(s) <> 0 OR SUM(n) <> 0
        """,
        """
        SELECT g.grain, date_trunc(g.unit, created_at, 'UTC'), lead_source, sync_direction,
               CASE WHEN g.grain = 'h' THEN sync_status ELSE '*' END, g.grain = 'h' AND twenty_id IS NOT NULL,
               COUNT(*), COALESCE(SUM(lead_score), 0), COUNT(lead_score)
        FROM leads CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
        WHERE g.grain = 'h' OR date_trunc('minute', created_at, 'UTC') >= now() - interval '7 days'
        GROUP BY 1, 2, 3, 4, 5, 6
        """,
    ),
    (
        "leads_created_days",
        """
        SELECT day, lead_source, sync_direction, SUM(c), SUM(s), SUM(n) FROM (
            SELECT day, lead_source, sync_direction, lead_count c, score_sum s, score_n n FROM rollup_leads_created_days
            UNION ALL
            SELECT date_trunc('day', created_at, 'UTC'), lead_source, sync_direction, sign,
                   COALESCE(sign * lead_score, 0), CASE WHEN lead_score IS NULL THEN 0 ELSE sign END
            FROM rollup_lead_deltas
        ) x GROUP BY 1, 2, 3 HAVING SUM(c) <> 0 OR SUM(s) <> 0 OR SUM(n) <> 0
        """,
        """
        SELECT date_trunc('day', created_at, 'UTC'), lead_source, sync_direction,
               COUNT(*), COALESCE(SUM(lead_score), 0), COUNT(lead_score)
        FROM leads GROUP BY 1, 2, 3
        """,
    ),
    (
        "history",
        """
        SELECT grain, bucket, sync_direction, sync_type, sync_status, SUM(a), SUM(s), SUM(n) FROM (
            SELECT grain, bucket, sync_direction, sync_type, sync_status, attempts a, duration_sum s, duration_n n
            FROM rollup_history WHERE grain = 'h' OR bucket >= now() - interval '7 days'
            UNION ALL
            SELECT g.grain, date_trunc(g.unit, synced_at, 'UTC'), sync_direction, sync_type, sync_status, sign,
                   COALESCE(sign * duration, 0), CASE WHEN duration IS NULL THEN 0 ELSE sign END
            FROM rollup_history_deltas CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
            WHERE g.grain = 'h' OR date_trunc('minute', synced_at, 'UTC') >= now() - interval '7 days'
        ) x GROUP BY 1, 2, 3, 4, 5 HAVING SUM(a) <> 0 OR SUM(s) <> 0 OR SUM(n) <> 0
        """,
        """
        SELECT g.grain, date_trunc(g.unit, synced_at, 'UTC'), sync_direction, sync_type, sync_status, COUNT(*),
               SUM(EXTRACT(EPOCH FROM (synced_at - created_at))), COUNT(*)
        FROM lead_sync_history CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
        WHERE g.grain = 'h' OR date_trunc('minute', synced_at, 'UTC') >= now() - interval '7 days'
        GROUP BY 1, 2, 3, 4, 5
        """,
    ),
    (
        "history_days",
        """
        SELECT day, sync_direction, sync_type, sync_status, SUM(a), SUM(s), SUM(n) FROM (
            SELECT day, sync_direction, sync_type, sync_status, attempts a, duration_sum s, duration_n n
            FROM rollup_history_days
            UNION ALL
            SELECT date_trunc('day', synced_at, 'UTC'), sync_direction, sync_type, sync_status, sign,
                   COALESCE(sign * duration, 0), CASE WHEN duration IS NULL THEN 0 ELSE sign END
            FROM rollup_history_deltas
        ) x GROUP BY 1, 2, 3, 4 HAVING SUM(a) <> 0 OR SUM(s) <> 0 OR SUM(n) <> 0
        """,
        """
        SELECT date_trunc('day', synced_at, 'UTC'), sync_direction, sync_type, sync_status, COUNT(*),
               SUM(EXTRACT(EPOCH FROM (synced_at - created_at))), COUNT(*)
        FROM lead_sync_history GROUP BY 1, 2, 3, 4
        """,
    ),
    (
        "durations",
        """
        SELECT bucket, bin, SUM(n) FROM (
            SELECT bucket, bin, n FROM rollup_durations
            UNION ALL
            SELECT date_trunc('hour', synced_at, 'UTC'), rollup_duration_bin(duration::double precision), sign
            FROM rollup_history_deltas WHERE sync_status = 'synced'
        ) x GROUP BY 1, 2 HAVING SUM(n) <> 0
        """,
        """
        SELECT date_trunc('hour', synced_at, 'UTC'), rollup_duration_bin(EXTRACT(EPOCH FROM (synced_at - created_at))::double precision),
               COUNT(*)
        FROM lead_sync_history WHERE sync_status = 'synced' GROUP BY 1, 2
        """,
    ),
    (
        "error_groups",
        """
        SELECT grain, bucket, fingerprint, SUM(n) FROM (
            SELECT grain, bucket, fingerprint, n FROM rollup_error_groups
            WHERE grain = 'h' OR bucket >= now() - interval '7 days'
            UNION ALL
            SELECT g.grain, date_trunc(g.unit, synced_at, 'UTC'), lead_sync_error_fingerprint(error_message), sign
            FROM rollup_history_deltas CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
            WHERE sync_status = 'error'
              AND (g.grain = 'h' OR date_trunc('minute', synced_at, 'UTC') >= now() - interval '7 days')
        ) x GROUP BY 1, 2, 3 HAVING SUM(n) <> 0
        """,
        """
        SELECT g.grain, date_trunc(g.unit, synced_at, 'UTC'), lead_sync_error_fingerprint(error_message), COUNT(*)
        FROM lead_sync_history CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
        WHERE sync_status = 'error'
          AND (g.grain = 'h' OR date_trunc('minute', synced_at, 'UTC') >= now() - interval '7 days')
        GROUP BY 1, 2, 3
        """,
    ),
    (
        "daily_summary",
        "SELECT sync_date, sync_direction, sync_status, sync_count, unique_leads FROM lead_sync_daily_rollup",
        """
        SELECT DATE_TRUNC('day', synced_at, 'UTC'), sync_direction, sync_status, COUNT(*), COUNT(DISTINCT lead_id)
        FROM lead_sync_history GROUP BY 1, 2, 3
        """,
    ),
]


def _exact(rollup_sql: str, table_sql: str) -> str:
    """The number of rows in one side and not the other (both ways): 0 when they agree exactly."""
    return (
        f"SELECT (SELECT COUNT(*) FROM (({rollup_sql}) EXCEPT ({table_sql})) a)"
        f" + (SELECT COUNT(*) FROM (({table_sql}) EXCEPT ({rollup_sql})) b)"
    )


# The all-time totals count every attempt ever inserted and every entry into error / conflict, and
# a delete or an archive move never lowers them, so the tables cannot say what they should be, only
# what they must be at least: every attempt in lead_sync_history or the archive was counted when it
# was inserted, and every one now in error / conflict entered that status at least once;
# rebuild_rollups() raises them to exactly that floor. This counts the directions below the floor
# (a lost or lowered counter); a total that is too high cannot be told from deleted attempts.
# A TRUNCATE of lead_sync_history (a reset) restarts them at 0 while the archive keeps its rows:
# they are then below the floor until rebuild_rollups() counts the archive again.
ATTEMPT_TOTALS_BELOW_TABLES = f"""
WITH rollup AS (
    SELECT sync_direction, SUM(a) AS a, SUM(e) AS e, SUM(c) AS c FROM (
        {ATTEMPT_TOTALS_PARTS}
    ) x (sync_direction, a, e, c) GROUP BY 1
), tables AS (
    SELECT sync_direction, COUNT(*) AS a, COUNT(*) FILTER (WHERE sync_status = 'error') AS e,
           COUNT(*) FILTER (WHERE sync_status = 'conflict') AS c
    FROM (SELECT sync_direction, sync_status FROM lead_sync_history
          UNION ALL SELECT sync_direction, sync_status FROM lead_sync_history_archive) h
    GROUP BY 1
)
SELECT COUNT(*) FROM tables t LEFT JOIN rollup r USING (sync_direction)
WHERE COALESCE(r.a, 0) < t.a OR COALESCE(r.e, 0) < t.e OR COALESCE(r.c, 0) < t.c
"""


def _checks() -> list[tuple[str, str]]:
    """(name, SQL counting the keys where that rollup disagrees with the tables), in order."""
    exact = [(name, _exact(rollup_sql, table_sql)) for name, rollup_sql, table_sql in _CHECKS]
    return [*exact, ("attempt_totals", ATTEMPT_TOTALS_BELOW_TABLES)]


@dataclass
class VerifyResult:
    mismatches: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def agree(self) -> bool:
        return not self.mismatches


def _count_differing(cursor: CursorWrapper, check_sql: str) -> int:
    cursor.execute(check_sql)
    return int(cursor.fetchone()[0])


def verify_rollups() -> VerifyResult:
    """Compare each rollup (+ unfolded deltas) with the tables in one snapshot; mismatching keys per rollup.

    No compactor lock: the compactor may fold (and rebuild_rollups() rewrite) while this runs, for
    minutes at large sizes, and the pages need it to. Each of them commits everything it changes in
    one transaction: the deltas it deletes, the rollup rows it adds them to, the day rows their
    triggers (0301, 0302) keep, the closed days, the recomputed days and the pruned minute rows. A
    REPEATABLE READ snapshot sees such a transaction wholly or not at all, so every check reads
    rollups and deltas from the same side of each fold. The minute-row window is cut at this
    transaction's now() on both sides, and the compactor prunes only rows a day older than it.
    """
    started = time.monotonic()
    result = VerifyResult()
    with _snapshot(), connection.cursor() as cursor:
        for name, check_sql in _checks():
            differing = _count_differing(cursor, check_sql)
            if differing:
                result.mismatches[name] = differing
                logger.error("verify_rollups: %s disagrees with the tables on %s keys", name, differing)
    result.seconds = round(time.monotonic() - started, 3)
    return result
