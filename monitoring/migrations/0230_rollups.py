"""Rollups kept up to date from the sync's own writes (issue 12).

Writers append deltas, a compactor folds them, readers add rollup + unfolded deltas:

- Statement-level AFTER triggers with transition tables on `leads` and `lead_sync_history`
  (INSERT, UPDATE, DELETE) append one delta row per changed row to `rollup_lead_deltas` /
  `rollup_history_deltas`. Writers only INSERT there: no shared counter row is ever updated by a
  writer, so two single-row writers never wait on each other (an insert takes no lock another
  insert waits for). An UPDATE that changes nothing a rollup groups or sums writes no delta.
- `compact_rollups()` (the Celery task monitoring.compact_rollups, every 5 s) deletes the deltas
  it can see and adds them to the rollups in one statement, so a delta is either still in its
  delta table or already in the rollup, never both and never neither, whatever the commit order
  of the writers: it folds exactly the rows its snapshot sees (no id watermark a late commit
  could slip under). A transaction-level advisory lock keeps two compactors apart (the second
  returns -1 at once).
- Rollups: rollup_leads (leads per status, segment, source, direction, never-synced, in-Twenty:
  count, error sum, score and confidence sums), rollup_leads_created (leads per created minute/
  hour, source, direction, status, in-Twenty), rollup_history (attempts per minute/hour,
  direction, type, status, with the duration sum), rollup_durations (per hour, a log-bucket
  histogram of synced attempts' durations, relative error 2 %), rollup_error_groups (failed
  attempts per minute/hour and fingerprint), rollup_daily (the daily summary: attempts and
  unique leads per UTC day, direction and status; a day closes 15 min after midnight UTC and is
  then only recomputed when a late write or an archive move touches it), rollup_daily_leads
  (open days only: attempts per day, direction, status and lead, which keeps unique_leads exact
  without rescanning), rollup_attempt_totals (monotonic all-time counters for Prometheus: an
  archive move or a delete never lowers them).
- Minute rows are kept 8 days (readers use them for 7), hour rows for as long as the history.
- lead_sync_daily_summary keeps its name, columns and unique index, but is now a materialized
  copy of the view lead_sync_daily_rollup (rollups + unfolded deltas), so REFRESH reads a few
  hundred rollup rows instead of the whole history. The Daily summary page reads the view.
- TRUNCATE of a sync table empties the rollups that come from it (seed_demo --reset, tests).

The SQL is frozen here; the backfill is 0231 (rebuild_rollups(), batched reads).
"""
from __future__ import annotations

from django.db import migrations

# Log-bucket histogram (DDSketch): bin i holds durations in (g^(i-1), g^i] with g = (1+a)/(1-a),
# a = 0.02; the bin's estimate 2 g^i / (g + 1) is within a of every value in it. A duration of 0
# is bin -32768; a negative one (the sync wrote created_at after synced_at) is bin -65536 - i for
# its absolute value, estimate -2 g^i / (g + 1): the same relative error on the other side.
GAMMA = "((1 + 0.02) / (1 - 0.02))"

FORWARD = f"""
CREATE TABLE rollup_lead_deltas (
    sign smallint NOT NULL,
    sync_status varchar(20) NOT NULL,
    segment_id uuid,
    lead_source varchar(50),
    sync_direction varchar(30) NOT NULL,
    never_synced boolean NOT NULL,
    in_twenty boolean NOT NULL,
    sync_error_count integer NOT NULL,
    lead_score integer,
    segment_confidence numeric(4,3),
    created_at timestamptz NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 5000);
COMMENT ON TABLE rollup_lead_deltas IS
    'Deltas appended by the leads triggers (+1 new state, -1 old state); folded by compact_rollups(), read by the rollup selectors.';

CREATE TABLE rollup_history_deltas (
    sign smallint NOT NULL,
    new_attempt boolean NOT NULL,
    status_entered boolean NOT NULL,
    lead_id uuid NOT NULL,
    sync_direction varchar(30) NOT NULL,
    sync_type varchar(30) NOT NULL,
    sync_status varchar(20) NOT NULL,
    synced_at timestamptz NOT NULL,
    duration numeric,
    error_message text
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 5000);
COMMENT ON TABLE rollup_history_deltas IS
    'Deltas appended by the lead_sync_history triggers; new_attempt/status_entered feed the monotonic totals. Folded by compact_rollups().';
COMMENT ON COLUMN rollup_history_deltas.error_message IS 'Only for failed attempts: fingerprinted by the compactor, not by the writer.';

CREATE TABLE rollup_leads (
    sync_status varchar(20) NOT NULL,
    segment_id uuid,
    lead_source varchar(50),
    sync_direction varchar(30) NOT NULL,
    never_synced boolean NOT NULL,
    in_twenty boolean NOT NULL,
    lead_count bigint NOT NULL,
    error_count_sum bigint NOT NULL,
    score_sum bigint NOT NULL,
    score_n bigint NOT NULL,
    confidence_sum numeric NOT NULL,
    confidence_n bigint NOT NULL
);
CREATE UNIQUE INDEX rollup_leads_key ON rollup_leads
    (sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty) NULLS NOT DISTINCT;
COMMENT ON TABLE rollup_leads IS 'Leads per status, segment, source, direction: sync_status_overview, sync_monitoring, segment_distribution, health_summary.';

CREATE TABLE rollup_leads_created (
    grain char(1) NOT NULL CHECK (grain IN ('m', 'h')),
    bucket timestamptz NOT NULL,
    lead_source varchar(50),
    sync_direction varchar(30) NOT NULL,
    sync_status varchar(20) NOT NULL,
    in_twenty boolean NOT NULL,
    lead_count bigint NOT NULL,
    score_sum bigint NOT NULL,
    score_n bigint NOT NULL
);
CREATE UNIQUE INDEX rollup_leads_created_key ON rollup_leads_created
    (grain, bucket, lead_source, sync_direction, sync_status, in_twenty) NULLS NOT DISTINCT;
COMMENT ON TABLE rollup_leads_created IS 'Leads per created hour, source, direction, status, in-Twenty (lead_analytics, lead_flow); per created minute (8 days, status ''*'') for lead_flow''s day edges.';

CREATE TABLE rollup_history (
    grain char(1) NOT NULL CHECK (grain IN ('m', 'h')),
    bucket timestamptz NOT NULL,
    sync_direction varchar(30) NOT NULL,
    sync_type varchar(30) NOT NULL,
    sync_status varchar(20) NOT NULL,
    attempts bigint NOT NULL,
    duration_sum numeric NOT NULL,
    duration_n bigint NOT NULL
);
CREATE UNIQUE INDEX rollup_history_key ON rollup_history (grain, bucket, sync_direction, sync_type, sync_status);
COMMENT ON TABLE rollup_history IS 'Attempts per synced_at minute (8 days) / hour, direction, type, status: hourly_performance, failure_rate, webhook rate, health errors.';

CREATE TABLE rollup_durations (
    bucket timestamptz NOT NULL,
    bin integer NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (bucket, bin)
);
COMMENT ON TABLE rollup_durations IS 'Per synced_at hour, a log-bucket histogram (2 % relative error) of synced attempts'' durations: median/p95/p99.';

CREATE TABLE rollup_error_groups (
    grain char(1) NOT NULL CHECK (grain IN ('m', 'h')),
    bucket timestamptz NOT NULL,
    fingerprint text NOT NULL,
    n bigint NOT NULL
);
-- fingerprint is bounded: lead_sync_error_fingerprint() cuts it to 300 characters.
CREATE UNIQUE INDEX rollup_error_groups_key ON rollup_error_groups (grain, bucket, fingerprint);
COMMENT ON TABLE rollup_error_groups IS 'Failed attempts per minute (8 days) / hour and fingerprint: error_groups.';

CREATE TABLE rollup_daily (
    day date NOT NULL,
    sync_direction varchar(30) NOT NULL,
    sync_status varchar(20) NOT NULL,
    sync_count bigint NOT NULL,
    unique_leads bigint NOT NULL,
    PRIMARY KEY (day, sync_direction, sync_status)
);
COMMENT ON TABLE rollup_daily IS 'The daily summary per UTC day; read through lead_sync_daily_rollup.';

CREATE TABLE rollup_daily_leads (
    day date NOT NULL,
    sync_direction varchar(30) NOT NULL,
    sync_status varchar(20) NOT NULL,
    lead_id uuid NOT NULL,
    n bigint NOT NULL,
    last_delta bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, sync_direction, sync_status, lead_id)
);
COMMENT ON TABLE rollup_daily_leads IS
    'Open (not yet closed) UTC days only: attempts per lead, so unique_leads moves by exactly the leads that appear or vanish.';

CREATE TABLE rollup_closed_days (day date PRIMARY KEY);
COMMENT ON TABLE rollup_closed_days IS 'UTC days whose rollup_daily rows are final; a late write or an archive move makes the compactor recompute that day.';

CREATE TABLE rollup_attempt_totals (
    sync_direction varchar(30) PRIMARY KEY,
    attempts bigint NOT NULL,
    errors bigint NOT NULL,
    conflicts bigint NOT NULL
);
COMMENT ON TABLE rollup_attempt_totals IS
    'All-time attempts, and attempts that entered error / conflict, per direction. Never lowered (archive, delete): Prometheus _total counters.';

CREATE FUNCTION lead_sync_error_fingerprint(message text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fp$
SELECT left(btrim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(COALESCE(message, '(no message)'), '[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}', '<uuid>', 'gi'), '[a-z0-9._+-]+@[a-z0-9.-]+\\.[a-z]{{2,}}', '<email>', 'gi'), '\\m(?=[a-z_-]*[0-9])[0-9a-z_-]{{8,}}\\M', '<id>', 'gi'), '(?<![0-9])(?<!(api|http|status|code)[ :=#]{{0,2}})[0-9]+([.,][0-9]+)*', '<n>', 'gi'), '\\s+', ' ', 'g')), 300)
$fp$;
COMMENT ON FUNCTION lead_sync_error_fingerprint(text) IS 'The error-group fingerprint (same as monitoring.selectors.errors.fingerprint_sql), for the compactor.';

CREATE FUNCTION rollup_duration_bin(seconds double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $bin$
SELECT CASE WHEN seconds IS NULL THEN NULL
            WHEN seconds = 0 THEN -32768
            WHEN seconds > 0 THEN ceil(ln(seconds) / ln({GAMMA}))::integer
            ELSE -65536 - ceil(ln(-seconds) / ln({GAMMA}))::integer END
$bin$;
COMMENT ON FUNCTION rollup_duration_bin(double precision) IS 'DDSketch bin of a duration (relative error 2 %); see rollup_durations.';

-- Writers: one INSERT of the changed rows' deltas per statement.
CREATE FUNCTION rollup_capture_leads() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rollup_lead_deltas (sign, sync_status, segment_id, lead_source, sync_direction, never_synced,
                                        in_twenty, sync_error_count, lead_score, segment_confidence, created_at)
        SELECT 1, n.sync_status, n.segment_id, n.lead_source, n.sync_direction, n.last_synced_at IS NULL,
               n.twenty_id IS NOT NULL, n.sync_error_count, n.lead_score, n.segment_confidence, n.created_at
        FROM new_rows n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO rollup_lead_deltas (sign, sync_status, segment_id, lead_source, sync_direction, never_synced,
                                        in_twenty, sync_error_count, lead_score, segment_confidence, created_at)
        SELECT -1, o.sync_status, o.segment_id, o.lead_source, o.sync_direction, o.last_synced_at IS NULL,
               o.twenty_id IS NOT NULL, o.sync_error_count, o.lead_score, o.segment_confidence, o.created_at
        FROM old_rows o;
    ELSE
        -- Only rows whose rolled-up attributes changed: the sync's touch of last_synced_at or a name
        -- edit costs no delta. FULL JOIN: an UPDATE of the primary key is a delete plus an insert.
        INSERT INTO rollup_lead_deltas (sign, sync_status, segment_id, lead_source, sync_direction, never_synced,
                                        in_twenty, sync_error_count, lead_score, segment_confidence, created_at)
        SELECT s.sign, s.sync_status, s.segment_id, s.lead_source, s.sync_direction, s.never_synced, s.in_twenty,
               s.sync_error_count, s.lead_score, s.segment_confidence, s.created_at
        FROM (
            SELECT o.sync_status AS o_status, o.segment_id AS o_segment, o.lead_source AS o_source,
                   o.sync_direction AS o_direction, o.last_synced_at IS NULL AS o_never, o.twenty_id IS NOT NULL AS o_twenty,
                   o.sync_error_count AS o_errors, o.lead_score AS o_score, o.segment_confidence AS o_conf,
                   o.created_at AS o_created, o.id AS o_id,
                   n.sync_status AS n_status, n.segment_id AS n_segment, n.lead_source AS n_source,
                   n.sync_direction AS n_direction, n.last_synced_at IS NULL AS n_never, n.twenty_id IS NOT NULL AS n_twenty,
                   n.sync_error_count AS n_errors, n.lead_score AS n_score, n.segment_confidence AS n_conf,
                   n.created_at AS n_created, n.id AS n_id
            FROM old_rows o FULL JOIN new_rows n ON n.id = o.id
        ) p
        CROSS JOIN LATERAL (
            SELECT -1, p.o_status, p.o_segment, p.o_source, p.o_direction, p.o_never, p.o_twenty, p.o_errors,
                   p.o_score, p.o_conf, p.o_created WHERE p.o_id IS NOT NULL
            UNION ALL
            SELECT 1, p.n_status, p.n_segment, p.n_source, p.n_direction, p.n_never, p.n_twenty, p.n_errors,
                   p.n_score, p.n_conf, p.n_created WHERE p.n_id IS NOT NULL
        ) AS s(sign, sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty,
               sync_error_count, lead_score, segment_confidence, created_at)
        WHERE p.o_id IS NULL OR p.n_id IS NULL
           OR (p.o_status, p.o_segment, p.o_source, p.o_direction, p.o_never, p.o_twenty, p.o_errors, p.o_score,
               p.o_conf, p.o_created)
              IS DISTINCT FROM
              (p.n_status, p.n_segment, p.n_source, p.n_direction, p.n_never, p.n_twenty, p.n_errors, p.n_score,
               p.n_conf, p.n_created);
    END IF;
    RETURN NULL;
END
$f$;

CREATE FUNCTION rollup_capture_history() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rollup_history_deltas (sign, new_attempt, status_entered, lead_id, sync_direction, sync_type,
                                           sync_status, synced_at, duration, error_message)
        SELECT 1, true, true, n.lead_id, n.sync_direction, n.sync_type, n.sync_status, n.synced_at,
               EXTRACT(EPOCH FROM (n.synced_at - n.created_at)),
               CASE WHEN n.sync_status = 'error' THEN n.error_message END
        FROM new_rows n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO rollup_history_deltas (sign, new_attempt, status_entered, lead_id, sync_direction, sync_type,
                                           sync_status, synced_at, duration, error_message)
        SELECT -1, false, false, o.lead_id, o.sync_direction, o.sync_type, o.sync_status, o.synced_at,
               EXTRACT(EPOCH FROM (o.synced_at - o.created_at)),
               CASE WHEN o.sync_status = 'error' THEN o.error_message END
        FROM old_rows o;
    ELSE
        INSERT INTO rollup_history_deltas (sign, new_attempt, status_entered, lead_id, sync_direction, sync_type,
                                           sync_status, synced_at, duration, error_message)
        SELECT s.*
        FROM old_rows o FULL JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (
            SELECT -1::smallint, false, false, o.lead_id, o.sync_direction, o.sync_type, o.sync_status, o.synced_at,
                   EXTRACT(EPOCH FROM (o.synced_at - o.created_at)),
                   CASE WHEN o.sync_status = 'error' THEN o.error_message END
            WHERE o.id IS NOT NULL
            UNION ALL
            -- new_attempt only for a new id; status_entered when the status is new for this row
            -- (error/conflict totals count every entry into the status, never an exit).
            SELECT 1::smallint, o.id IS NULL, o.id IS NULL OR o.sync_status IS DISTINCT FROM n.sync_status,
                   n.lead_id, n.sync_direction, n.sync_type, n.sync_status, n.synced_at,
                   EXTRACT(EPOCH FROM (n.synced_at - n.created_at)),
                   CASE WHEN n.sync_status = 'error' THEN n.error_message END
            WHERE n.id IS NOT NULL
        ) AS s
        WHERE o.id IS NULL OR n.id IS NULL
           OR (o.lead_id, o.sync_direction, o.sync_type, o.sync_status, o.synced_at, o.created_at,
               CASE WHEN o.sync_status = 'error' THEN o.error_message END)
              IS DISTINCT FROM
              (n.lead_id, n.sync_direction, n.sync_type, n.sync_status, n.synced_at, n.created_at,
               CASE WHEN n.sync_status = 'error' THEN n.error_message END);
    END IF;
    RETURN NULL;
END
$f$;

CREATE FUNCTION rollup_truncate_leads() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    DELETE FROM rollup_lead_deltas; DELETE FROM rollup_leads; DELETE FROM rollup_leads_created;
    RETURN NULL;
END
$f$;

CREATE FUNCTION rollup_truncate_history() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    -- A TRUNCATE is a reset (seed_demo --reset, tests), not an archive: the totals restart too.
    DELETE FROM rollup_history_deltas; DELETE FROM rollup_history; DELETE FROM rollup_durations;
    DELETE FROM rollup_error_groups; DELETE FROM rollup_daily; DELETE FROM rollup_daily_leads;
    DELETE FROM rollup_closed_days; DELETE FROM rollup_attempt_totals;
    RETURN NULL;
END
$f$;

CREATE TRIGGER leads_rollup_insert AFTER INSERT ON leads
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_capture_leads();
CREATE TRIGGER leads_rollup_update AFTER UPDATE ON leads
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_capture_leads();
CREATE TRIGGER leads_rollup_delete AFTER DELETE ON leads
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_capture_leads();
CREATE TRIGGER leads_rollup_truncate AFTER TRUNCATE ON leads
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_truncate_leads();
CREATE TRIGGER history_rollup_insert AFTER INSERT ON lead_sync_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_capture_history();
CREATE TRIGGER history_rollup_update AFTER UPDATE ON lead_sync_history
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_capture_history();
CREATE TRIGGER history_rollup_delete AFTER DELETE ON lead_sync_history
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_capture_history();
CREATE TRIGGER history_rollup_truncate AFTER TRUNCATE ON lead_sync_history
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_truncate_history();

-- One UTC day recomputed from the table (a closed day touched by a late write or an archive move).
CREATE FUNCTION rollup_recompute_day(p_day date) RETURNS void LANGUAGE sql AS $f$
    DELETE FROM rollup_daily WHERE day = p_day;
    INSERT INTO rollup_daily (day, sync_direction, sync_status, sync_count, unique_leads)
    SELECT p_day, sync_direction, sync_status, COUNT(*), COUNT(DISTINCT lead_id)
    FROM lead_sync_history
    WHERE synced_at >= p_day::timestamp AT TIME ZONE 'UTC' AND synced_at < (p_day + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY sync_direction, sync_status;
$f$;

CREATE FUNCTION compact_rollups() RETURNS integer LANGUAGE plpgsql AS $f$
DECLARE
    v_folded integer := 0;
    v_count integer;
    v_dirty date[];
    v_day date;
    v_close_before date := ((now() - interval '15 minutes') AT TIME ZONE 'UTC')::date;
BEGIN
    -- Two compactors at once: the second leaves at once (the first folds everything it sees).
    IF NOT pg_try_advisory_xact_lock(hashtext('monitoring.compact_rollups')) THEN
        RETURN -1;
    END IF;

    WITH d AS (DELETE FROM rollup_lead_deltas RETURNING *),
    a AS (
        INSERT INTO rollup_leads AS r (sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty,
                                       lead_count, error_count_sum, score_sum, score_n, confidence_sum, confidence_n)
        SELECT sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty,
               SUM(sign), SUM(sign * sync_error_count), COALESCE(SUM(sign * lead_score), 0),
               COUNT(lead_score) FILTER (WHERE sign > 0) - COUNT(lead_score) FILTER (WHERE sign < 0),
               COALESCE(SUM(sign * segment_confidence), 0),
               COUNT(segment_confidence) FILTER (WHERE sign > 0) - COUNT(segment_confidence) FILTER (WHERE sign < 0)
        FROM d GROUP BY 1, 2, 3, 4, 5, 6
        HAVING SUM(sign) <> 0 OR SUM(sign * sync_error_count) <> 0 OR COALESCE(SUM(sign * lead_score), 0) <> 0
            OR COALESCE(SUM(sign * segment_confidence), 0) <> 0
            OR COUNT(lead_score) FILTER (WHERE sign > 0) <> COUNT(lead_score) FILTER (WHERE sign < 0)
            OR COUNT(segment_confidence) FILTER (WHERE sign > 0) <> COUNT(segment_confidence) FILTER (WHERE sign < 0)
        ON CONFLICT (sync_status, segment_id, lead_source, sync_direction, never_synced, in_twenty) DO UPDATE SET
            lead_count = r.lead_count + EXCLUDED.lead_count,
            error_count_sum = r.error_count_sum + EXCLUDED.error_count_sum,
            score_sum = r.score_sum + EXCLUDED.score_sum, score_n = r.score_n + EXCLUDED.score_n,
            confidence_sum = r.confidence_sum + EXCLUDED.confidence_sum,
            confidence_n = r.confidence_n + EXCLUDED.confidence_n
    ),
    c AS (
        INSERT INTO rollup_leads_created AS r (grain, bucket, lead_source, sync_direction, sync_status, in_twenty,
                                               lead_count, score_sum, score_n)
        -- Minute rows only serve lead_flow (per source and direction): status '*', so a status
        -- change nets to nothing there and writes no row (HAVING).
        SELECT g.grain, date_trunc(g.unit, d.created_at, 'UTC'), lead_source, sync_direction,
               CASE WHEN g.grain = 'h' THEN sync_status ELSE '*' END, g.grain = 'h' AND in_twenty,
               SUM(sign), COALESCE(SUM(sign * lead_score), 0),
               COUNT(lead_score) FILTER (WHERE sign > 0) - COUNT(lead_score) FILTER (WHERE sign < 0)
        FROM d CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
        WHERE g.grain = 'h' OR d.created_at >= now() - interval '8 days'
        GROUP BY 1, 2, 3, 4, 5, 6
        HAVING SUM(sign) <> 0 OR COALESCE(SUM(sign * lead_score), 0) <> 0
            OR COUNT(lead_score) FILTER (WHERE sign > 0) <> COUNT(lead_score) FILTER (WHERE sign < 0)
        ON CONFLICT (grain, bucket, lead_source, sync_direction, sync_status, in_twenty) DO UPDATE SET
            lead_count = r.lead_count + EXCLUDED.lead_count,
            score_sum = r.score_sum + EXCLUDED.score_sum, score_n = r.score_n + EXCLUDED.score_n
    )
    SELECT COUNT(*) INTO v_count FROM d;
    v_folded := v_folded + v_count;

    WITH d AS (DELETE FROM rollup_history_deltas RETURNING *),
    h AS (
        INSERT INTO rollup_history AS r (grain, bucket, sync_direction, sync_type, sync_status, attempts,
                                         duration_sum, duration_n)
        SELECT g.grain, date_trunc(g.unit, d.synced_at, 'UTC'), sync_direction, sync_type, sync_status,
               SUM(sign), COALESCE(SUM(sign * duration), 0),
               COUNT(duration) FILTER (WHERE sign > 0) - COUNT(duration) FILTER (WHERE sign < 0)
        FROM d CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
        WHERE g.grain = 'h' OR d.synced_at >= now() - interval '8 days'
        GROUP BY 1, 2, 3, 4, 5
        HAVING SUM(sign) <> 0 OR COALESCE(SUM(sign * duration), 0) <> 0
            OR COUNT(duration) FILTER (WHERE sign > 0) <> COUNT(duration) FILTER (WHERE sign < 0)
        ON CONFLICT (grain, bucket, sync_direction, sync_type, sync_status) DO UPDATE SET
            attempts = r.attempts + EXCLUDED.attempts,
            duration_sum = r.duration_sum + EXCLUDED.duration_sum,
            duration_n = r.duration_n + EXCLUDED.duration_n
    ),
    q AS (
        INSERT INTO rollup_durations AS r (bucket, bin, n)
        SELECT date_trunc('hour', synced_at, 'UTC'), rollup_duration_bin(duration::double precision), SUM(sign)
        FROM d WHERE sync_status = 'synced' AND duration IS NOT NULL
        GROUP BY 1, 2 HAVING SUM(sign) <> 0
        ON CONFLICT (bucket, bin) DO UPDATE SET n = r.n + EXCLUDED.n
    ),
    -- The regexes run once per distinct message of the batch, not once per failed attempt.
    fp AS (
        SELECT message, lead_sync_error_fingerprint(message) AS fingerprint
        FROM (SELECT DISTINCT COALESCE(error_message, '(no message)') AS message FROM d
              WHERE sync_status = 'error') AS m
    ),
    e AS (
        INSERT INTO rollup_error_groups AS r (grain, bucket, fingerprint, n)
        SELECT g.grain, date_trunc(g.unit, d.synced_at, 'UTC'), fp.fingerprint, SUM(sign)
        FROM d JOIN fp ON fp.message = COALESCE(d.error_message, '(no message)')
        CROSS JOIN (VALUES ('h', 'hour'), ('m', 'minute')) AS g(grain, unit)
        WHERE d.sync_status = 'error' AND (g.grain = 'h' OR d.synced_at >= now() - interval '8 days')
        GROUP BY 1, 2, 3 HAVING SUM(sign) <> 0
        ON CONFLICT (grain, bucket, fingerprint) DO UPDATE SET n = r.n + EXCLUDED.n
    ),
    t AS (
        INSERT INTO rollup_attempt_totals AS r (sync_direction, attempts, errors, conflicts)
        SELECT sync_direction, COUNT(*) FILTER (WHERE new_attempt),
               COUNT(*) FILTER (WHERE status_entered AND sync_status = 'error'),
               COUNT(*) FILTER (WHERE status_entered AND sync_status = 'conflict')
        FROM d WHERE sign > 0 AND (new_attempt OR status_entered)
        GROUP BY 1
        ON CONFLICT (sync_direction) DO UPDATE SET
            attempts = r.attempts + EXCLUDED.attempts, errors = r.errors + EXCLUDED.errors,
            conflicts = r.conflicts + EXCLUDED.conflicts
    ),
    per_lead AS (
        SELECT (synced_at AT TIME ZONE 'UTC')::date AS day, sync_direction, sync_status, lead_id, SUM(sign) AS n
        FROM d GROUP BY 1, 2, 3, 4
    ),
    -- Open days: per-lead counts; last_delta tells how n moved, hence whether the lead appeared
    -- (0 -> positive) or vanished (positive -> 0) in that day, direction and status.
    ol AS (
        INSERT INTO rollup_daily_leads AS r (day, sync_direction, sync_status, lead_id, n, last_delta)
        SELECT day, sync_direction, sync_status, lead_id, n, n FROM per_lead p
        WHERE NOT EXISTS (SELECT 1 FROM rollup_closed_days c WHERE c.day = p.day) AND n <> 0
        ON CONFLICT (day, sync_direction, sync_status, lead_id) DO UPDATE SET
            n = r.n + EXCLUDED.n, last_delta = EXCLUDED.n
        RETURNING day, sync_direction, sync_status, n, last_delta
    ),
    od AS (
        INSERT INTO rollup_daily AS r (day, sync_direction, sync_status, sync_count, unique_leads)
        SELECT day, sync_direction, sync_status, SUM(last_delta),
               SUM((n > 0)::int - ((n - last_delta) > 0)::int)
        FROM ol GROUP BY 1, 2, 3
        ON CONFLICT (day, sync_direction, sync_status) DO UPDATE SET
            sync_count = r.sync_count + EXCLUDED.sync_count, unique_leads = r.unique_leads + EXCLUDED.unique_leads
    )
    SELECT (SELECT COUNT(*) FROM d),
           (SELECT array_agg(DISTINCT p.day) FROM per_lead p JOIN rollup_closed_days c ON c.day = p.day)
    INTO v_count, v_dirty;
    v_folded := v_folded + v_count;

    -- Closed days touched by a late write or an archive move: recompute them from the table (one
    -- day's rows through idx_sync_history_monitoring), once per compaction whatever the batch count.
    IF v_dirty IS NOT NULL THEN
        FOREACH v_day IN ARRAY v_dirty LOOP
            PERFORM rollup_recompute_day(v_day);
        END LOOP;
    END IF;

    -- Close the days that ended more than 15 minutes ago: their counts are final; drop the per-lead rows.
    FOR v_day IN SELECT DISTINCT day FROM rollup_daily_leads WHERE day < v_close_before LOOP
        INSERT INTO rollup_closed_days (day) VALUES (v_day) ON CONFLICT DO NOTHING;
        DELETE FROM rollup_daily_leads WHERE day = v_day;
    END LOOP;
    DELETE FROM rollup_daily WHERE sync_count = 0 AND unique_leads = 0 AND day >= v_close_before - 1;
    DELETE FROM rollup_leads WHERE lead_count = 0;

    -- Minute rows are read for 7 days and kept 8 (the compactor folds none older than 8 days).
    DELETE FROM rollup_history WHERE grain = 'm' AND bucket < now() - interval '8 days';
    DELETE FROM rollup_leads_created WHERE grain = 'm' AND bucket < now() - interval '8 days';
    DELETE FROM rollup_error_groups WHERE grain = 'm' AND bucket < now() - interval '8 days';
    RETURN v_folded;
END
$f$;
COMMENT ON FUNCTION compact_rollups() IS
    'Folds the visible deltas into the rollups (monitoring.compact_rollups, every 5 s); -1 when another compactor runs.';

CREATE INDEX rollup_daily_leads_day ON rollup_daily_leads (day);

-- The daily summary from the rollups, exact and current: final days as stored, open days plus
-- the unfolded deltas (a lead counts once it has a positive count), and a closed day with
-- unfolded deltas straight from the table (rare: a late write or an archive batch in flight).
CREATE VIEW lead_sync_daily_rollup AS
WITH pending AS (
    SELECT (synced_at AT TIME ZONE 'UTC')::date AS day, sync_direction, sync_status, lead_id, SUM(sign) AS n
    FROM rollup_history_deltas GROUP BY 1, 2, 3, 4
),
dirty AS (
    SELECT DISTINCT p.day FROM pending p JOIN rollup_closed_days c ON c.day = p.day
),
open_adjust AS (
    SELECT p.day, p.sync_direction, p.sync_status, SUM(p.n) AS sync_count,
           SUM(((COALESCE(l.n, 0) + p.n) > 0)::int - (COALESCE(l.n, 0) > 0)::int) AS unique_leads
    FROM pending p
    LEFT JOIN rollup_daily_leads l
        ON l.day = p.day AND l.sync_direction = p.sync_direction AND l.sync_status = p.sync_status
       AND l.lead_id = p.lead_id
    WHERE NOT EXISTS (SELECT 1 FROM rollup_closed_days c WHERE c.day = p.day)
    GROUP BY 1, 2, 3
),
parts AS (
    SELECT day, sync_direction, sync_status, sync_count, unique_leads FROM rollup_daily
    WHERE day NOT IN (SELECT day FROM dirty)
    UNION ALL
    SELECT * FROM open_adjust
    UNION ALL
    SELECT (h.synced_at AT TIME ZONE 'UTC')::date, h.sync_direction, h.sync_status, COUNT(*), COUNT(DISTINCT h.lead_id)
    FROM dirty JOIN lead_sync_history h
        ON h.synced_at >= dirty.day::timestamp AT TIME ZONE 'UTC'
       AND h.synced_at < (dirty.day + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY 1, 2, 3
)
SELECT (day::timestamp AT TIME ZONE 'UTC') AS sync_date, sync_direction::varchar(30) AS sync_direction,
       sync_status::varchar(20) AS sync_status, SUM(sync_count)::bigint AS sync_count,
       SUM(unique_leads)::bigint AS unique_leads
FROM parts
GROUP BY day, sync_direction, sync_status
HAVING SUM(sync_count) > 0;
COMMENT ON VIEW lead_sync_daily_rollup IS
    'The spec''s daily summary (sync_date UTC, direction, status, sync_count, unique_leads) from the rollups: exact and current. Feeds lead_sync_daily_summary.';
"""

BACKWARD = """
DROP VIEW IF EXISTS lead_sync_daily_rollup;
DROP TRIGGER IF EXISTS leads_rollup_insert ON leads;
DROP TRIGGER IF EXISTS leads_rollup_update ON leads;
DROP TRIGGER IF EXISTS leads_rollup_delete ON leads;
DROP TRIGGER IF EXISTS leads_rollup_truncate ON leads;
DROP TRIGGER IF EXISTS history_rollup_insert ON lead_sync_history;
DROP TRIGGER IF EXISTS history_rollup_update ON lead_sync_history;
DROP TRIGGER IF EXISTS history_rollup_delete ON lead_sync_history;
DROP TRIGGER IF EXISTS history_rollup_truncate ON lead_sync_history;
DROP FUNCTION IF EXISTS compact_rollups();
DROP FUNCTION IF EXISTS rollup_recompute_day(date);
DROP FUNCTION IF EXISTS rollup_capture_leads();
DROP FUNCTION IF EXISTS rollup_capture_history();
DROP FUNCTION IF EXISTS rollup_truncate_leads();
DROP FUNCTION IF EXISTS rollup_truncate_history();
DROP FUNCTION IF EXISTS rollup_duration_bin(double precision);
DROP FUNCTION IF EXISTS lead_sync_error_fingerprint(text);
DROP TABLE IF EXISTS rollup_lead_deltas, rollup_history_deltas, rollup_leads, rollup_leads_created, rollup_history,
    rollup_durations, rollup_error_groups, rollup_daily, rollup_daily_leads, rollup_closed_days, rollup_attempt_totals;
"""


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0170_error_group_leads_index")]  # the leaf of main (after 0199)

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
