"""Celery tasks (autodiscovered as monitoring.tasks): thin wrappers, one service each.

Each area's tasks live in their own module and are imported here.
"""
from . import maintenance  # noqa: F401
