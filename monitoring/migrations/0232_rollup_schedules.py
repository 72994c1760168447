"""Beat schedules of the rollups; the per-minute snapshot refresh retires (issue 12).

- monitoring.compact_rollups every 5 s (expire 5 s: a start that waited longer than the
  interval is dropped, the next one folds the same deltas and more);
- monitoring.verify_rollups weekly, Sunday 05:00 UTC (after the archive move of 03:00);
- monitoring.refresh_snapshots is removed: no dashboard number is snapshotted any more.
The hourly/daily refresh of lead_sync_daily_summary stays: it now copies lead_sync_daily_rollup
(a few hundred rollup rows) instead of aggregating the whole history.
"""
from django.db import migrations
from django.utils import timezone

COMPACT = ("Fold rollup deltas (every 5 seconds)", "monitoring.compact_rollups", 5,
           "Folds the sync's rollup deltas into the dashboard rollups (cheap, idempotent).")
VERIFY = ("Verify rollups against the tables (weekly)", "monitoring.verify_rollups",
          {"minute": "0", "hour": "5", "day_of_week": "0", "day_of_month": "*", "month_of_year": "*"}, 6 * 3600,
          "Compares every rollup with the tables in one snapshot; fails (and alerts) when they disagree.")
SNAPSHOTS = ("Refresh selector snapshots (every minute)", "monitoring.refresh_snapshots")


def forward(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    name, task, seconds, description = COMPACT
    interval = IntervalSchedule.objects.filter(every=seconds, period="seconds").first()
    interval = interval or IntervalSchedule.objects.create(every=seconds, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=name,
        defaults={"task": task, "interval": interval, "crontab": None, "expire_seconds": seconds,
                  "description": description, "enabled": True, "queue": "maintenance"},
    )
    name, task, spec, expire_seconds, description = VERIFY
    crontab = CrontabSchedule.objects.filter(timezone="UTC", **spec).first()
    crontab = crontab or CrontabSchedule.objects.create(timezone="UTC", **spec)
    PeriodicTask.objects.update_or_create(
        name=name,
        defaults={"task": task, "crontab": crontab, "interval": None, "expire_seconds": expire_seconds,
                  "description": description, "enabled": True, "queue": "maintenance"},
    )
    PeriodicTask.objects.filter(name=SNAPSHOTS[0], task=SNAPSHOTS[1]).delete()
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def backward(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask.objects.filter(name__in=[COMPACT[0], VERIFY[0]]).delete()
    interval = IntervalSchedule.objects.filter(every=1, period="minutes").first()
    interval = interval or IntervalSchedule.objects.create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=SNAPSHOTS[0],
        defaults={"task": SNAPSHOTS[1], "interval": interval, "crontab": None, "expire_seconds": 55,
                  "description": "Recomputes the dashboards' Redis snapshots so pages are served warm.", "enabled": True},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0231_rollups_backfill"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forward, backward)]
