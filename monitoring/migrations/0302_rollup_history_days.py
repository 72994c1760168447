"""Attempts per UTC day, direction, type and status, kept from the hour rows of rollup_history.

The same as 0301 for lead flow, for the Performance page: over 30 days it read 14k hour rows of
rollup_history (14 ms of database time at any table size, a third of the page). A day row is the
sum of its UTC day's hour rows with the same key, so it stands for them exactly; the page reads
whole days from it and the hours of the two days its ends cut from the hour rows. Statement
triggers on rollup_history keep it (only the compactor, rebuild_rollups() and the reset triggers
write hour rows; each change is added, so the sums stay exact); the backfill reads the hour rows.
"""
from django.db import migrations

FORWARD = r"""
CREATE TABLE rollup_history_days (
    day timestamptz NOT NULL,
    sync_direction varchar(30) NOT NULL,
    sync_type varchar(30) NOT NULL,
    sync_status varchar(20) NOT NULL,
    attempts bigint NOT NULL,
    duration_sum numeric NOT NULL,
    duration_n bigint NOT NULL
);
CREATE UNIQUE INDEX rollup_history_days_key ON rollup_history_days (day, sync_direction, sync_type, sync_status);
COMMENT ON TABLE rollup_history_days IS 'Attempts per UTC day, direction, type, status: the hour rows of rollup_history summed (kept by its triggers); the Performance page''s whole days.';

CREATE FUNCTION rollup_history_to_days() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    -- The statement's change of the hour rows, per UTC day and key: + new, - old.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rollup_history_days AS d (day, sync_direction, sync_type, sync_status, attempts, duration_sum, duration_n)
        SELECT date_trunc('day', bucket, 'UTC'), sync_direction, sync_type, sync_status,
               SUM(attempts), SUM(duration_sum), SUM(duration_n)
        FROM new_rows WHERE grain = 'h' GROUP BY 1, 2, 3, 4
        HAVING SUM(attempts) <> 0 OR SUM(duration_sum) <> 0 OR SUM(duration_n) <> 0
        ON CONFLICT (day, sync_direction, sync_type, sync_status) DO UPDATE SET
            attempts = d.attempts + EXCLUDED.attempts, duration_sum = d.duration_sum + EXCLUDED.duration_sum,
            duration_n = d.duration_n + EXCLUDED.duration_n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO rollup_history_days AS d (day, sync_direction, sync_type, sync_status, attempts, duration_sum, duration_n)
        SELECT day, sync_direction, sync_type, sync_status, SUM(a), SUM(s), SUM(n) FROM (
            SELECT date_trunc('day', bucket, 'UTC') AS day, sync_direction, sync_type, sync_status,
                   attempts AS a, duration_sum AS s, duration_n AS n
            FROM new_rows WHERE grain = 'h'
            UNION ALL
            SELECT date_trunc('day', bucket, 'UTC'), sync_direction, sync_type, sync_status,
                   -attempts, -duration_sum, -duration_n
            FROM old_rows WHERE grain = 'h'
        ) x GROUP BY 1, 2, 3, 4
        HAVING SUM(a) <> 0 OR SUM(s) <> 0 OR SUM(n) <> 0
        ON CONFLICT (day, sync_direction, sync_type, sync_status) DO UPDATE SET
            attempts = d.attempts + EXCLUDED.attempts, duration_sum = d.duration_sum + EXCLUDED.duration_sum,
            duration_n = d.duration_n + EXCLUDED.duration_n;
    ELSE
        INSERT INTO rollup_history_days AS d (day, sync_direction, sync_type, sync_status, attempts, duration_sum, duration_n)
        SELECT date_trunc('day', bucket, 'UTC'), sync_direction, sync_type, sync_status,
               -SUM(attempts), -SUM(duration_sum), -SUM(duration_n)
        FROM old_rows WHERE grain = 'h' GROUP BY 1, 2, 3, 4
        HAVING SUM(attempts) <> 0 OR SUM(duration_sum) <> 0 OR SUM(duration_n) <> 0
        ON CONFLICT (day, sync_direction, sync_type, sync_status) DO UPDATE SET
            attempts = d.attempts + EXCLUDED.attempts, duration_sum = d.duration_sum + EXCLUDED.duration_sum,
            duration_n = d.duration_n + EXCLUDED.duration_n;
    END IF;
    RETURN NULL;
END
$f$;

CREATE FUNCTION rollup_history_days_truncate() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    DELETE FROM rollup_history_days;
    RETURN NULL;
END
$f$;

CREATE TRIGGER rollup_history_days_insert AFTER INSERT ON rollup_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_history_to_days();
CREATE TRIGGER rollup_history_days_update AFTER UPDATE ON rollup_history
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_history_to_days();
CREATE TRIGGER rollup_history_days_delete AFTER DELETE ON rollup_history
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_history_to_days();
CREATE TRIGGER rollup_history_days_truncate AFTER TRUNCATE ON rollup_history
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_history_days_truncate();

-- The backfill, in the same transaction as the triggers: the compactor's next fold either waits for
-- this (the hour rows' lock) or came before it, so every hour row is counted once.
LOCK TABLE rollup_history IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO rollup_history_days (day, sync_direction, sync_type, sync_status, attempts, duration_sum, duration_n)
SELECT date_trunc('day', bucket, 'UTC'), sync_direction, sync_type, sync_status,
       SUM(attempts), SUM(duration_sum), SUM(duration_n)
FROM rollup_history WHERE grain = 'h' GROUP BY 1, 2, 3, 4
HAVING SUM(attempts) <> 0 OR SUM(duration_sum) <> 0 OR SUM(duration_n) <> 0;
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS rollup_history_days_insert ON rollup_history;
DROP TRIGGER IF EXISTS rollup_history_days_update ON rollup_history;
DROP TRIGGER IF EXISTS rollup_history_days_delete ON rollup_history;
DROP TRIGGER IF EXISTS rollup_history_days_truncate ON rollup_history;
DROP FUNCTION IF EXISTS rollup_history_to_days();
DROP FUNCTION IF EXISTS rollup_history_days_truncate();
DROP TABLE IF EXISTS rollup_history_days;
"""


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0301_rollup_leads_created_days")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
