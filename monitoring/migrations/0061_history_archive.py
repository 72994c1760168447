"""lead_sync_history_archive: where the weekly clean-up moves history older than the retention.

The table is SQL (frozen here), the model state is declared alongside so the ORM, admin and test
flushes know it. Same columns and types as lead_sync_history, plus archived_at; the primary key on
id is what makes archiving a row twice impossible. No foreign key to leads and no CHECK
constraints: an archived attempt is audit data and must outlive its lead and any later change to
the allowed values.
"""
import django.db.models.functions.datetime
from django.db import migrations, models

CREATE = """
CREATE TABLE IF NOT EXISTS lead_sync_history_archive (
    id bigint PRIMARY KEY,
    lead_id uuid NOT NULL,
    sync_type varchar(30) NOT NULL,
    sync_direction varchar(30) NOT NULL,
    sync_status varchar(20) NOT NULL,
    fields_changed jsonb,
    error_message text,
    created_at timestamptz NOT NULL,
    synced_at timestamptz NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE lead_sync_history_archive IS
    'lead_sync_history rows older than HISTORY_RETENTION_DAYS, moved by monitoring.archive_history; exported per month by monitoring.export_archive_months.';

CREATE INDEX IF NOT EXISTS idx_sync_history_archive_synced
    ON lead_sync_history_archive (synced_at);
COMMENT ON INDEX idx_sync_history_archive_synced IS
    'export_archive_months (one calendar month at a time), archive_months() and the oldest archived row on the Jobs page.';
"""

DROP = "DROP TABLE IF EXISTS lead_sync_history_archive;"


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0060_maintenance")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(CREATE, DROP)],
            state_operations=[
                migrations.CreateModel(
                    name='LeadSyncHistoryArchive',
                    fields=[
                        ('id', models.BigIntegerField(help_text='The id the row had in lead_sync_history.', primary_key=True, serialize=False)),
                        ('lead_id', models.UUIDField(help_text="The lead's id; the lead itself may since have been deleted.")),
                        ('sync_type', models.CharField(choices=[('scheduled', 'Scheduled'), ('webhook_update', 'Webhook update'), ('manual', 'Manual'), ('retry', 'Retry'), ('initial_import', 'Initial import')], max_length=30)),
                        ('sync_direction', models.CharField(choices=[('twenty_to_supabase', 'Twenty → Supabase'), ('supabase_to_twenty', 'Supabase → Twenty')], max_length=30, verbose_name='direction')),
                        ('sync_status', models.CharField(choices=[('synced', 'Synced'), ('error', 'Error'), ('conflict', 'Conflict')], max_length=20, verbose_name='status')),
                        ('fields_changed', models.JSONField(blank=True, null=True)),
                        ('error_message', models.TextField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(verbose_name='started')),
                        ('synced_at', models.DateTimeField(verbose_name='finished')),
                        ('archived_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), help_text='When the clean-up moved the row here.')),
                    ],
                    options={
                        'verbose_name': 'archived sync attempt',
                        'verbose_name_plural': 'archived sync history',
                        'db_table': 'lead_sync_history_archive',
                        'ordering': ['id'],
                    },
                ),
            ],
        ),
    ]
