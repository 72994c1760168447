"""The web process's database limits: statement_timeout and lock_timeout for every web session.

A page that waits on a lock (a migration's ACCESS EXCLUSIVE, a non-concurrent REFRESH) or on a
runaway query must give up in seconds and answer 503 "database busy" (database_down.py), not hang
until gunicorn kills the worker. Migrations, management commands and Celery maintenance run
statements of minutes at 1M/10M rows, so the limits must not reach them: they are given to the
web process only, by leadsync_portal/wsgi.py, which every WSGI server (gunicorn, runserver) loads
and nothing else does. They travel in libpq's `options` startup parameter, so each pooled
connection gets them once when it is opened, at no cost per request.
"""
from __future__ import annotations

from django.conf import settings
from django.db import connections

# Marks the options this module added, so applying twice does not add them twice.
_MARK = "-c lock_timeout="


def web_session_options(options: str, statement_timeout: float, lock_timeout: float) -> str:
    """libpq `options` with the two limits added (seconds, 0 = none; PostgreSQL takes ms)."""
    if _MARK in options:
        return options
    limits = f"-c statement_timeout={round(statement_timeout * 1000)} {_MARK}{round(lock_timeout * 1000)}"
    return f"{options} {limits}".strip()


def apply_web_limits() -> None:
    """Give every database session this process opens from now on the web limits."""
    for alias in connections:
        wrapper = connections[alias]
        # settings_dict is the one dict every thread's wrapper of this alias reads, and the pool
        # takes its connection parameters from it when it is created.
        options = wrapper.settings_dict.setdefault("OPTIONS", {})
        options["options"] = web_session_options(
            options.get("options", ""), settings.DATABASE_WEB_STATEMENT_TIMEOUT, settings.DATABASE_WEB_LOCK_TIMEOUT
        )
        # runserver has already connected (its migration check) before it loads the WSGI module:
        # drop that connection and pool so the next one is opened with the limits. Under gunicorn
        # nothing has connected yet and this does nothing.
        wrapper.close()
        if options.get("pool"):
            wrapper.close_pool()
