"""Leads created per UTC day, source and direction, kept from the hour rows of rollup_leads_created.

Lead flow over 30 days read 17k hour rows of rollup_leads_created (every hour has a row per
source, direction, status and in-Twenty) to print about 840 numbers: 22 ms of database time at
any table size, the page's largest cost. A day row stands for the 24 hour rows of its UTC day with
status and in-Twenty summed away, so a 30-day read is about 30 day rows per source and direction
plus the hour rows of the two days its ends cut.

The day rows follow the hour rows, not the sync's tables: statement triggers on
rollup_leads_created add each statement's change of its hour rows (new minus old, summed per day)
to the day rows. Only the compactor and rebuild_rollups() (under the compactor's lock) and the
reset triggers (a TRUNCATE of the sync tables) write hour rows, and each change is added to the
day rows, so they stay exact whoever writes; the sync's own write path does not change.
The backfill reads the hour rows (one row per hour and key, not the leads table).
"""
from django.db import migrations

FORWARD = r"""
CREATE TABLE rollup_leads_created_days (
    day timestamptz NOT NULL,
    lead_source varchar(50),
    sync_direction varchar(30) NOT NULL,
    lead_count bigint NOT NULL,
    score_sum bigint NOT NULL,
    score_n bigint NOT NULL
);
CREATE UNIQUE INDEX rollup_leads_created_days_key ON rollup_leads_created_days
    (day, lead_source, sync_direction) NULLS NOT DISTINCT;
COMMENT ON TABLE rollup_leads_created_days IS 'Leads per created UTC day, source, direction: the hour rows of rollup_leads_created summed (kept by its triggers); lead_flow''s whole days.';

CREATE FUNCTION rollup_leads_created_to_days() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    -- The statement's change of the hour rows, per UTC day, source and direction: + new, - old.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rollup_leads_created_days AS d (day, lead_source, sync_direction, lead_count, score_sum, score_n)
        SELECT date_trunc('day', bucket, 'UTC'), lead_source, sync_direction, SUM(lead_count), SUM(score_sum), SUM(score_n)
        FROM new_rows WHERE grain = 'h' GROUP BY 1, 2, 3
        HAVING SUM(lead_count) <> 0 OR SUM(score_sum) <> 0 OR SUM(score_n) <> 0
        ON CONFLICT (day, lead_source, sync_direction) DO UPDATE SET
            lead_count = d.lead_count + EXCLUDED.lead_count, score_sum = d.score_sum + EXCLUDED.score_sum,
            score_n = d.score_n + EXCLUDED.score_n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO rollup_leads_created_days AS d (day, lead_source, sync_direction, lead_count, score_sum, score_n)
        SELECT day, lead_source, sync_direction, SUM(c), SUM(s), SUM(n) FROM (
            SELECT date_trunc('day', bucket, 'UTC') AS day, lead_source, sync_direction,
                   lead_count AS c, score_sum AS s, score_n AS n
            FROM new_rows WHERE grain = 'h'
            UNION ALL
            SELECT date_trunc('day', bucket, 'UTC'), lead_source, sync_direction, -lead_count, -score_sum, -score_n
            FROM old_rows WHERE grain = 'h'
        ) x GROUP BY 1, 2, 3
        HAVING SUM(c) <> 0 OR SUM(s) <> 0 OR SUM(n) <> 0
        ON CONFLICT (day, lead_source, sync_direction) DO UPDATE SET
            lead_count = d.lead_count + EXCLUDED.lead_count, score_sum = d.score_sum + EXCLUDED.score_sum,
            score_n = d.score_n + EXCLUDED.score_n;
    ELSE
        INSERT INTO rollup_leads_created_days AS d (day, lead_source, sync_direction, lead_count, score_sum, score_n)
        SELECT date_trunc('day', bucket, 'UTC'), lead_source, sync_direction, -SUM(lead_count), -SUM(score_sum), -SUM(score_n)
        FROM old_rows WHERE grain = 'h' GROUP BY 1, 2, 3
        HAVING SUM(lead_count) <> 0 OR SUM(score_sum) <> 0 OR SUM(score_n) <> 0
        ON CONFLICT (day, lead_source, sync_direction) DO UPDATE SET
            lead_count = d.lead_count + EXCLUDED.lead_count, score_sum = d.score_sum + EXCLUDED.score_sum,
            score_n = d.score_n + EXCLUDED.score_n;
    END IF;
    RETURN NULL;
END
$f$;

CREATE FUNCTION rollup_leads_created_days_truncate() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    DELETE FROM rollup_leads_created_days;
    RETURN NULL;
END
$f$;

CREATE TRIGGER rollup_leads_created_days_insert AFTER INSERT ON rollup_leads_created
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_leads_created_to_days();
CREATE TRIGGER rollup_leads_created_days_update AFTER UPDATE ON rollup_leads_created
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_leads_created_to_days();
CREATE TRIGGER rollup_leads_created_days_delete AFTER DELETE ON rollup_leads_created
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_leads_created_to_days();
CREATE TRIGGER rollup_leads_created_days_truncate AFTER TRUNCATE ON rollup_leads_created
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_leads_created_days_truncate();

-- The backfill, in the same transaction as the triggers: the compactor's next fold either waits for
-- this (the hour rows' lock) or came before it, so every hour row is counted once.
LOCK TABLE rollup_leads_created IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO rollup_leads_created_days (day, lead_source, sync_direction, lead_count, score_sum, score_n)
SELECT date_trunc('day', bucket, 'UTC'), lead_source, sync_direction, SUM(lead_count), SUM(score_sum), SUM(score_n)
FROM rollup_leads_created WHERE grain = 'h' GROUP BY 1, 2, 3
HAVING SUM(lead_count) <> 0 OR SUM(score_sum) <> 0 OR SUM(score_n) <> 0;
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS rollup_leads_created_days_insert ON rollup_leads_created;
DROP TRIGGER IF EXISTS rollup_leads_created_days_update ON rollup_leads_created;
DROP TRIGGER IF EXISTS rollup_leads_created_days_delete ON rollup_leads_created;
DROP TRIGGER IF EXISTS rollup_leads_created_days_truncate ON rollup_leads_created;
DROP FUNCTION IF EXISTS rollup_leads_created_to_days();
DROP FUNCTION IF EXISTS rollup_leads_created_days_truncate();
DROP TABLE IF EXISTS rollup_leads_created_days;
"""


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0300_history_conflicts_index")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
