"""The Celery app: broker from REDIS_URL, schedules in the database (django-celery-beat)."""
from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadsync_portal.settings")

app = Celery("leadsync_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
