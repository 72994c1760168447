"""The alert rule "Dashboard rollups disagree with the tables": fires when the newest weekly
verify (monitoring.verify_rollups) found a mismatch, through the normal channels. Frozen values."""
from django.db import migrations, models

RULE = dict(name="Dashboard rollups disagree with the tables", kind="rollups_disagree", severity="warning")


def add_rule(apps, schema_editor):
    AlertRule = apps.get_model("monitoring", "AlertRule")
    AlertRule.objects.get_or_create(name=RULE["name"], defaults=RULE)


def remove_rule(apps, schema_editor):
    apps.get_model("monitoring", "AlertRule").objects.filter(name=RULE["name"]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0233_daily_rollup_model'),
    ]

    operations = [
        migrations.AlterField(
            model_name='alertrule',
            name='kind',
            field=models.CharField(choices=[('failure_rate', 'Failure rate of recent attempts'), ('sync_stalled', 'No sync attempt for a while'), ('direction_stalled', 'One direction quiet while the other runs'), ('high_error_leads', 'Leads with many sync errors'), ('stale_leads', 'Stale pending leads (check_stale_leads())'), ('stuck_leads', 'Leads stuck in syncing'), ('overall_health', 'Overall health not healthy'), ('deadman', 'Alert check itself not completing'), ('rollups_disagree', 'Dashboard rollups disagree with the tables (weekly verify)')], max_length=30),
        ),
        migrations.RunPython(add_rule, remove_rule),
    ]
