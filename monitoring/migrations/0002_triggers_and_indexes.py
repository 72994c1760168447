"""Database-side behaviour the sync relies on without Django: the updated_at trigger and the indexes.

The SQL is frozen here on purpose; code never imports it.
"""
from django.db import migrations

TOUCH_TRIGGER = """
CREATE OR REPLACE FUNCTION leads_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Every UPDATE bumps updated_at, unless the statement sets it explicitly (imports, backfills).
    IF TG_OP = 'UPDATE' AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    -- "Stuck" is measured from sync_started_at, which only entering 'syncing' sets:
    -- any other edit resets updated_at and would hide a stuck lead.
    IF NEW.sync_status = 'syncing' THEN
        IF TG_OP = 'INSERT' THEN
            NEW.sync_started_at := COALESCE(NEW.sync_started_at, NEW.updated_at, now());
        ELSIF OLD.sync_status IS DISTINCT FROM 'syncing'
              AND NEW.sync_started_at IS NOT DISTINCT FROM OLD.sync_started_at THEN
            NEW.sync_started_at := now();
        END IF;
    ELSE
        NEW.sync_started_at := NULL;
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION leads_touch() IS 'Bumps leads.updated_at on UPDATE and keeps sync_started_at for the stuck-lead checks.';
DROP TRIGGER IF EXISTS leads_touch ON leads;
CREATE TRIGGER leads_touch BEFORE INSERT OR UPDATE ON leads FOR EACH ROW EXECUTE FUNCTION leads_touch();
"""

DROP_TOUCH_TRIGGER = """
DROP TRIGGER IF EXISTS leads_touch ON leads;
DROP FUNCTION IF EXISTS leads_touch();
"""

# (name, definition, who needs it)
INDEXES = [
    (
        "idx_sync_history_monitoring",
        "lead_sync_history(synced_at DESC, sync_status)",
        "spec index: every time-window read of history (hourly_performance, failure-rate and stall alerts, "
        "real_time_sync_activity, the clean-up task's age scan)",
    ),
    (
        "idx_leads_sync_monitoring",
        "leads(sync_status, last_synced_at)",
        "spec index: sync_status_overview, sync_monitoring, health counts by status",
    ),
    (
        "idx_sync_history_lead_synced",
        "lead_sync_history(lead_id, synced_at DESC, id DESC)",
        "recent_errors LATERAL last-error lookup, lead_timeline, and the FK (replaces Django's lead_id index)",
    ),
    (
        "idx_sync_history_errors",
        "lead_sync_history(synced_at DESC) WHERE sync_status = 'error'",
        "health error_summary (24 h), error_groups, failure-rate alert",
    ),
    (
        "idx_sync_history_direction",
        "lead_sync_history(sync_direction, synced_at DESC)",
        "per-direction stall alert and seconds-since-last-sync metrics",
    ),
    (
        "idx_leads_error_ranking",
        "leads(sync_error_count DESC, last_synced_at DESC NULLS LAST) WHERE sync_status = 'error'",
        "recent_errors ordering (Errors page) and the high-error-count alert",
    ),
    (
        "idx_leads_syncing_started",
        "leads(sync_started_at) WHERE sync_status = 'syncing'",
        "stuck_leads (debug page, stuck alert, reset-stuck action)",
    ),
    (
        "idx_leads_syncing_updated",
        "leads(updated_at) WHERE sync_status = 'syncing'",
        "the spec's stuck-lead debug query (syncing AND updated_at < now() - 10 min)",
    ),
    (
        "idx_leads_pending_created",
        "leads(created_at) WHERE sync_status = 'pending'",
        "check_stale_leads() and the stale-pending alert",
    ),
    (
        "idx_leads_created_at",
        "leads(created_at)",
        "lead_flow (7 days), lead_analytics day buckets",
    ),
    (
        "idx_leads_high_error_count",
        "leads(sync_error_count DESC) WHERE sync_error_count > 5",
        "the spec's high-error-count alert query and the retry quarantine",
    ),
]



def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


CREATE_INDEXES = "\n".join(
    f"CREATE INDEX IF NOT EXISTS {name} ON {definition};\nCOMMENT ON INDEX {name} IS {_quote(why)};"
    for name, definition, why in INDEXES
)
DROP_INDEXES = "\n".join(f"DROP INDEX IF EXISTS {name};" for name, _definition, _why in INDEXES)


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]

    operations = [
        migrations.RunSQL(TOUCH_TRIGGER, DROP_TOUCH_TRIGGER),
        migrations.RunSQL(CREATE_INDEXES, DROP_INDEXES),
    ]
