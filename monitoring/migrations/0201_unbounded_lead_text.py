"""Accept names, company, e-mail and segment names of any length the sync writes (issue 10).

The sync copies these from Twenty as they are; a varchar(100) first name refused a 101-character
one, and the sync lost the whole lead write. They become unbounded varchar (varchar -> varchar is
binary-compatible: no table rewrite). What stays bounded on purpose: twenty_id (an id, unique),
lead_source (a short pick-list value; idx_leads_lead_source) and the status/direction codes.

- PostgreSQL refuses to retype a column a view reads, so the views that read these columns
  (today real_time_sync_activity, a spec view) are dropped and re-created in one transaction from
  their own stored definitions, with their comments, grants (e.g. the Grafana read-only role the
  README grants) and owner: whatever view text the database holds at that moment comes back
  unchanged, so a view another migration changed since is not reverted.
- idx_leads_search_trgm reads first/last name, e-mail and company; a retype would rebuild it under
  the table lock (minutes at 1M leads, the sync blocked). It is dropped CONCURRENTLY first and
  re-built CONCURRENTLY after; meanwhile search falls back to a scan, the sync keeps writing.
  A GIN trigram index holds trigrams, not the text, so a long value fits it.
- customer_segments.segment_name was UNIQUE through a btree holding the whole name (and Django's
  varchar_pattern_ops twin): a name over ~2.7 KB would be refused. Uniqueness now rests on
  md5(segment_name), a fixed 32 characters; lookups by name read a table of a few dozen rows.
The SQL is frozen here.
"""
from django.db import migrations
from django.db.models.functions import MD5
import django.core.validators
import django.db.models

# Views (and views on them) that read one of `columns`, dropped and re-created around `alter_sql`.
RETYPE_TEMPLATE = """
DO $retype$
DECLARE
    v record;
    g record;
BEGIN
    CREATE TEMP TABLE _retype_views ON COMMIT DROP AS
    WITH RECURSIVE deps(oid, depth) AS (
        SELECT DISTINCT r.ev_class, 1
        FROM pg_depend d
        JOIN pg_rewrite r ON r.oid = d.objid
        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
          AND (d.refobjid::regclass::text, a.attname::text) IN ({columns})
        UNION
        SELECT r.ev_class, deps.depth + 1
        FROM deps
        JOIN pg_depend d ON d.refobjid = deps.oid AND d.classid = 'pg_rewrite'::regclass
        JOIN pg_rewrite r ON r.oid = d.objid
        WHERE r.ev_class <> deps.oid
    )
    SELECT c.oid, n.nspname, c.relname, c.relkind, max(deps.depth) AS depth,
           pg_get_viewdef(c.oid) AS definition, obj_description(c.oid, 'pg_class') AS description,
           c.relacl, pg_get_userbyid(c.relowner) AS owner, c.reloptions
    FROM deps JOIN pg_class c ON c.oid = deps.oid JOIN pg_namespace n ON n.oid = c.relnamespace
    GROUP BY c.oid, n.nspname;

    IF EXISTS (SELECT 1 FROM _retype_views WHERE relkind <> 'v') THEN
        -- A materialized view would lose its data and indexes: stop and let a person decide.
        RAISE EXCEPTION 'a materialized view reads a column being widened: %',
            (SELECT string_agg(relname, ', ') FROM _retype_views WHERE relkind <> 'v');
    END IF;

    FOR v IN SELECT * FROM _retype_views ORDER BY depth DESC LOOP
        EXECUTE format('DROP VIEW IF EXISTS %I.%I', v.nspname, v.relname);
    END LOOP;

    {alter_sql}

    FOR v IN SELECT * FROM _retype_views ORDER BY depth, oid LOOP
        EXECUTE format('CREATE VIEW %I.%I%s AS %s', v.nspname, v.relname,
            CASE WHEN v.reloptions IS NULL THEN ''
                 ELSE ' WITH (' || array_to_string(v.reloptions, ', ') || ')' END,
            v.definition);
        EXECUTE format('ALTER VIEW %I.%I OWNER TO %I', v.nspname, v.relname, v.owner);
        IF v.description IS NOT NULL THEN
            EXECUTE format('COMMENT ON VIEW %I.%I IS %L', v.nspname, v.relname, v.description);
        END IF;
        FOR g IN SELECT a.privilege_type, a.grantee, a.is_grantable
                 FROM aclexplode(v.relacl) a WHERE a.grantee <> (SELECT oid FROM pg_roles WHERE rolname = v.owner)
        LOOP
            EXECUTE format('GRANT %s ON %I.%I TO %s%s', g.privilege_type, v.nspname, v.relname,
                CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END,
                CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
    END LOOP;
END
$retype$;
"""

COLUMNS = "('leads', 'first_name'), ('leads', 'last_name'), ('leads', 'email'), ('leads', 'company_name'), " \
    "('leads', 'phone'), ('leads', 'job_title'), ('leads', 'inferred_segment'), ('customer_segments', 'segment_name')"

WIDEN = """
    ALTER TABLE leads
        ALTER COLUMN first_name TYPE varchar, ALTER COLUMN last_name TYPE varchar,
        ALTER COLUMN email TYPE varchar, ALTER COLUMN company_name TYPE varchar,
        ALTER COLUMN phone TYPE varchar, ALTER COLUMN job_title TYPE varchar,
        ALTER COLUMN inferred_segment TYPE varchar;
    ALTER TABLE customer_segments DROP CONSTRAINT IF EXISTS customer_segments_segment_name_key;
    DROP INDEX IF EXISTS customer_segments_segment_name_d18b5730_like;
    ALTER TABLE customer_segments ALTER COLUMN segment_name TYPE varchar;
    CREATE UNIQUE INDEX IF NOT EXISTS customer_segments_segment_name_md5_key ON customer_segments (md5(segment_name));
    COMMENT ON INDEX customer_segments_segment_name_md5_key IS
        'One segment per name (a hash: a name may be longer than a btree entry); demo_data ON CONFLICT';
"""

# Backwards only works while every value still fits the old lengths; PostgreSQL says which does not.
NARROW = """
    ALTER TABLE leads
        ALTER COLUMN first_name TYPE varchar(100), ALTER COLUMN last_name TYPE varchar(100),
        ALTER COLUMN email TYPE varchar(254), ALTER COLUMN company_name TYPE varchar(200),
        ALTER COLUMN phone TYPE varchar(50), ALTER COLUMN job_title TYPE varchar(200),
        ALTER COLUMN inferred_segment TYPE varchar(100);
    DROP INDEX IF EXISTS customer_segments_segment_name_md5_key;
    ALTER TABLE customer_segments ALTER COLUMN segment_name TYPE varchar(100);
    ALTER TABLE customer_segments ADD CONSTRAINT customer_segments_segment_name_key UNIQUE (segment_name);
    CREATE INDEX IF NOT EXISTS customer_segments_segment_name_d18b5730_like
        ON customer_segments (segment_name varchar_pattern_ops);
"""

SEARCH_TEXT = (
    "(COALESCE(first_name, '') || ' ' || COALESCE(last_name, '') || ' ' || COALESCE(email, '')"
    " || ' ' || COALESCE(company_name, '') || ' ' || COALESCE(sync_error_message, ''))"
)
CREATE_SEARCH = [
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_leads_search_trgm ON leads USING gin ({SEARCH_TEXT} gin_trgm_ops)",
    "COMMENT ON INDEX idx_leads_search_trgm IS 'search_leads: the q filter of the Errors and Leads pages (ILIKE)'",
]
DROP_SEARCH = ["DROP INDEX CONCURRENTLY IF EXISTS idx_leads_search_trgm"]

FORWARD = [*DROP_SEARCH, RETYPE_TEMPLATE.format(columns=COLUMNS, alter_sql=WIDEN), *CREATE_SEARCH]
BACKWARD = [*DROP_SEARCH, RETYPE_TEMPLATE.format(columns=COLUMNS, alter_sql=NARROW), *CREATE_SEARCH]


def _text(verbose_name: str | None = None) -> django.db.models.CharField:
    return django.db.models.CharField(verbose_name, blank=True, null=True, max_length=None)


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("monitoring", "0200_error_group_index_bounded")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, BACKWARD)],
            state_operations=[
                migrations.AlterField("lead", "first_name", _text()),
                migrations.AlterField("lead", "last_name", _text()),
                migrations.AlterField(
                    "lead", "email", django.db.models.CharField(
                        blank=True, null=True, max_length=None, validators=[django.core.validators.EmailValidator()]
                    )
                ),
                migrations.AlterField("lead", "company_name", _text("company")),
                migrations.AlterField("lead", "phone", _text()),
                migrations.AlterField("lead", "job_title", _text()),
                migrations.AlterField("lead", "inferred_segment", _text()),
                migrations.AlterField(
                    "customersegment", "segment_name", django.db.models.CharField("segment", max_length=None)
                ),
                migrations.AddConstraint(
                    "customersegment",
                    django.db.models.UniqueConstraint(MD5("segment_name"), name="customer_segments_segment_name_md5_key"),
                ),
            ],
        ),
    ]
