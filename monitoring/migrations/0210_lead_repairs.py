"""lead_repairs: operator repairs get a table of their own instead of rows in lead_sync_history.

Every number of the portal (dashboards, API, /metrics, MCP, alert rules, the daily summary) counts
lead_sync_history rows as sync attempts, and a repair is not one. Readers:
- idx_lead_repairs_lead_created: the lead timeline (monitoring.selectors.leads.lead_timeline) and the
  lead admin's recent-timeline panel, newest first per lead, merged with idx_sync_history_lead_synced.
- idx_lead_repairs_created: the read-only "Lead repairs" admin list, newest first.
reason, old_values and new_values are unbounded and carry no index.
"""

import django.db.models.deletion
import django.db.models.functions.datetime
from django.conf import settings
from django.db import migrations, models

INDEXES = [
    "CREATE INDEX idx_lead_repairs_lead_created ON lead_repairs (lead_id, created_at DESC, id DESC)",
    "COMMENT ON INDEX idx_lead_repairs_lead_created IS "
    "'lead_timeline and the lead admin timeline panel: one lead''s repairs newest first'",
    "CREATE INDEX idx_lead_repairs_created ON lead_repairs (created_at DESC, id DESC)",
    "COMMENT ON INDEX idx_lead_repairs_created IS 'LeadRepairAdmin changelist: every repair newest first'",
    "COMMENT ON TABLE lead_repairs IS "
    "'Operator repairs of leads (one row per lead and repair); never sync attempts, so no metric reads it'",
]
DROP_INDEXES = [
    "DROP INDEX IF EXISTS idx_lead_repairs_created",
    "DROP INDEX IF EXISTS idx_lead_repairs_lead_created",
]


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0170_error_group_leads_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='LeadRepair',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('action', models.CharField(choices=[('retry_sync', 'Retry sync'), ('reset_stuck', 'Reset stuck'), ('clear_error_count', 'Clear error count'), ('resolve_conflict', 'Resolve conflict')], max_length=30)),
                ('reason', models.TextField()),
                ('username', models.CharField(help_text='Who ran the repair, as named at the time.', max_length=150)),
                ('old_values', models.JSONField(default=dict, help_text='The columns the repair changed, before.', verbose_name='old values')),
                ('new_values', models.JSONField(default=dict, help_text='The same columns, after.', verbose_name='new values')),
                ('options', models.JSONField(blank=True, default=dict, help_text='How the repair was asked for (winner, quarantine).')),
                ('created_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), verbose_name='repaired at')),
                ('lead', models.ForeignKey(db_column='lead_id', db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='repairs', to='monitoring.lead')),
                ('user', models.ForeignKey(blank=True, db_column='user_id', help_text='Empty once the user is deleted; the username stays.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'lead repair',
                'db_table': 'lead_repairs',
                'ordering': ['-created_at', '-id'],
                'constraints': [models.CheckConstraint(condition=models.Q(('action__in', ['retry_sync', 'reset_stuck', 'clear_error_count', 'resolve_conflict'])), name='lead_repairs_action_valid')],
            },
        ),
        migrations.RunSQL(INDEXES, DROP_INDEXES),
    ]
