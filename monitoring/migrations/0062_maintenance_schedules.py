"""The maintenance tasks' beat schedules (django-celery-beat rows, editable in the admin).

Times are UTC. Each row gets expire_seconds shorter than its interval so a backlog of queued
runs (workers down for an hour) is dropped instead of replayed one after another.
"""
from django.db import migrations
from django.utils import timezone

# (name, task, schedule, expire_seconds, description); schedule: ("every", minutes) or ("cron", fields)
SCHEDULES = [
    ("Refresh selector snapshots (every minute)", "monitoring.refresh_snapshots", ("every", 1), 55,
     "Recomputes the dashboards' Redis snapshots so pages are served warm."),
    ("Record stale leads (every 5 minutes)", "monitoring.record_stale_leads", ("every", 5), 290,
     "Runs check_stale_leads() and records the result."),
    ("Refresh daily summary (hourly)", "monitoring.refresh_daily_summary",
     ("cron", {"minute": "5", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}), 3300,
     "REFRESH MATERIALIZED VIEW CONCURRENTLY lead_sync_daily_summary, so today's numbers are at most an hour old."),
    ("Refresh daily summary (daily, after midnight UTC)", "monitoring.refresh_daily_summary",
     ("cron", {"minute": "15", "hour": "0", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}), 3300,
     "The spec's daily refresh: closes yesterday's UTC day."),
    ("Archive old sync history (weekly)", "monitoring.archive_history",
     ("cron", {"minute": "0", "hour": "3", "day_of_week": "0", "day_of_month": "*", "month_of_year": "*"}), 6 * 3600,
     "Moves history older than HISTORY_RETENTION_DAYS to lead_sync_history_archive, in batches."),
    ("Export archived months (monthly)", "monitoring.export_archive_months",
     ("cron", {"minute": "0", "hour": "4", "day_of_week": "*", "day_of_month": "1", "month_of_year": "*"}), 12 * 3600,
     "Writes each whole archived month to a verified gzip file in ARCHIVE_DIR."),
]


def create_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    for name, task, (kind, spec), expire_seconds, description in SCHEDULES:
        if kind == "every":
            # filter().first(): other migrations may already have made an identical interval row.
            interval = IntervalSchedule.objects.filter(every=spec, period="minutes").first()
            interval = interval or IntervalSchedule.objects.create(every=spec, period="minutes")
            schedule = {"interval": interval, "crontab": None}
        else:
            crontab = CrontabSchedule.objects.filter(timezone="UTC", **spec).first()
            crontab = crontab or CrontabSchedule.objects.create(timezone="UTC", **spec)
            schedule = {"crontab": crontab, "interval": None}
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": task, "expire_seconds": expire_seconds, "description": description,
                      "enabled": True, **schedule},
        )
    # Signals do not fire in migrations: tell a running beat that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0061_history_archive"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, delete_schedules)]
