"""Celery tasks (autodiscovered as monitoring.tasks): thin wrappers, one service each.

Each area's tasks live in their own module and are imported here.
"""
from . import alerts  # noqa: E402,F401
from . import maintenance  # noqa: F401
from . import rollups  # noqa: E402,F401
