"""The rollup compactor's beat entry names no queue, so its route (`rollups`) decides (issue 12).

It ran on the one-slot maintenance worker, so an archive, export, verify or rebuild stopped it for
as long as they ran, and the deltas (which every page reads) piled up meanwhile. Beat passes a
row's queue to apply_async as an option, and an option wins over CELERY_TASK_ROUTES: with
"maintenance" here the compactor would stay on maintenance whatever the settings say. With no
queue the route in CELERY_TASK_QUEUES_BY_NAME is the one place that decides.
"""
from django.db import migrations
from django.utils import timezone

TASK = "monitoring.compact_rollups"


def set_queue(queue: str | None):
    def run(apps, schema_editor):
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
        if PeriodicTask.objects.filter(task=TASK).update(queue=queue):
            PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})
    return run


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0302_rollup_history_days")]

    operations = [migrations.RunPython(set_queue(None), set_queue("maintenance"))]
