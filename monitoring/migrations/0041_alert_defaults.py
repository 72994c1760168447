"""Default alert rules (the spec's conditions plus per-direction stall and the dead-man check),
the alerting permissions of the two roles, and the beat schedules of the alerting tasks.

Values are frozen here, not imported from code: later edits happen in the admin.
"""
from datetime import timedelta
from decimal import Decimal

from django.db import migrations
from django.utils import timezone

VIEWERS = "Lead sync viewers"
OPERATORS = "Lead sync operators"
ALERT_MODELS = ["alertrule", "incident", "channel", "delivery"]

RULES = [
    dict(name="Sync failure rate above 10 %", kind="failure_rate", severity="critical", threshold=Decimal(10),
         window=timedelta(hours=1), min_attempts=20),
    dict(name="Sync stalled: no attempt for 30 min", kind="sync_stalled", severity="critical",
         window=timedelta(minutes=30)),
    dict(name="Twenty → Supabase stalled for 30 min", kind="direction_stalled", direction="twenty_to_supabase",
         severity="critical", window=timedelta(minutes=30)),
    dict(name="Supabase → Twenty stalled for 30 min", kind="direction_stalled", direction="supabase_to_twenty",
         severity="critical", window=timedelta(minutes=30)),
    dict(name="Leads with more than 5 sync errors", kind="high_error_leads", severity="warning",
         threshold=Decimal(5)),
    dict(name="Stale pending leads (older than 1 h)", kind="stale_leads", severity="warning", threshold=Decimal(0),
         window=timedelta(hours=1)),
    dict(name="Leads stuck in syncing over 10 min", kind="stuck_leads", severity="warning", threshold=Decimal(0),
         window=timedelta(minutes=10)),
    dict(name="Overall sync health not healthy", kind="overall_health", severity="warning"),
    dict(name="Alert check not completing (3 intervals)", kind="deadman", severity="critical", threshold=Decimal(3),
         window=timedelta(minutes=5)),
]

# (name, task, every, period, expire_seconds): a check that waited longer than its interval in the
# queue is dropped; the next one is already due.
SCHEDULES = [
    ("Alerts: evaluate rules", "monitoring.evaluate_alerts", 5, "minutes", 240),
    ("Alerts: dead-man check on the evaluator", "monitoring.check_deadman", 5, "minutes", 240),
    ("Alerts: deliver notifications", "monitoring.deliver_notifications", 1, "minutes", 50),
]


def forwards(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(
        content_type__app_label="monitoring", codename__in=[f"view_{m}" for m in ALERT_MODELS]
    )
    manage = Permission.objects.get(content_type__app_label="monitoring", codename="manage_alerts")
    viewers, _ = Group.objects.get_or_create(name=VIEWERS)
    viewers.permissions.add(*view)
    operators, _ = Group.objects.get_or_create(name=OPERATORS)
    operators.permissions.add(*view, manage)

    AlertRule = apps.get_model("monitoring", "AlertRule")
    for rule in RULES:
        fields = dict(rule)
        AlertRule.objects.get_or_create(name=fields.pop("name"), defaults=fields)

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for name, task, every, period, expire in SCHEDULES:
        # IntervalSchedule has no unique key and other areas create schedules too: reuse the first match.
        schedule = IntervalSchedule.objects.filter(every=every, period=period).order_by("id").first()
        if schedule is None:
            schedule = IntervalSchedule.objects.create(every=every, period=period)
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "interval": schedule, "enabled": True, "expire_seconds": expire}
        )
    # Tell a running beat (DatabaseScheduler) that its schedule changed; signals do not fire in migrations.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()
    apps.get_model("monitoring", "AlertRule").objects.filter(name__in=[r["name"] for r in RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0040_alerts"),
        ("monitoring", "0005_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
