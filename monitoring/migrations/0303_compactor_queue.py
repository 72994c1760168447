"""The rollup compactor's beat entry names its own queue, `rollups` (issue 12).

It ran on the one-slot maintenance worker, so an archive, export, verify or rebuild stopped it for
as long as they ran, and the deltas (which every page reads) piled up meanwhile. The route in
CELERY_TASK_QUEUES_BY_NAME already wins over this field; it is changed so that the admin's
Periodic tasks page says where the task runs.
"""
from django.db import migrations
from django.utils import timezone

TASK = "monitoring.compact_rollups"


def set_queue(queue: str):
    def run(apps, schema_editor):
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
        if PeriodicTask.objects.filter(task=TASK).update(queue=queue):
            PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})
    return run


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0302_rollup_history_days")]

    operations = [migrations.RunPython(set_queue("rollups"), set_queue("maintenance"))]
