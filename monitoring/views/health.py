"""Health endpoints for load balancers, orchestrators and uptime checks (no login, no data)."""
from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from monitoring.alerts.rules import ALERT_CHECK_TASK, DEADMAN_TASK
from monitoring.selectors.alerts import last_completed_run, oldest_waiting_delivery_seconds
from monitoring.selectors.rollups import pending_deltas


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """GET /healthz: the process answers (liveness); touches neither the database nor Redis."""
    return JsonResponse({"status": "ok"})


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not ready"; the class name is enough to act on
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def _check_redis() -> dict[str, Any]:
    # A client of its own (no circuit breaker: the probe must see Redis as it is now), with the
    # cache's short timeouts and no retries, so a hung Redis cannot hang the probe.
    timeout = max(settings.REDIS_SOCKET_TIMEOUT, 0.5)
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    finally:
        client.close()
    return {"ok": True}


def _check_scheduled(task_name: str, database_ok: bool) -> dict[str, Any]:
    # If the alert check (or the dead-man check on it) stops, nobody hears about a broken sync.
    # The dead-man rule reads the same last_completed_run(), so the probe and the alert agree.
    max_age = settings.READYZ_ALERT_CHECK_MAX_AGE
    if max_age <= 0:
        return {"ok": True, "skipped": "READYZ_ALERT_CHECK_MAX_AGE is 0"}
    if not database_ok:
        return {"ok": False, "age_seconds": None, "max_age_seconds": max_age, "error": "database unavailable"}
    finished_at = last_completed_run(task_name)
    if finished_at is None:
        return {"ok": False, "age_seconds": None, "max_age_seconds": max_age, "error": "never completed"}
    age = round((timezone.now() - finished_at).total_seconds(), 1)
    result = {"ok": age <= max_age, "age_seconds": age, "max_age_seconds": max_age, "last_completed_at": finished_at}
    if not result["ok"]:
        result["error"] = f"late: last completed {age:.0f} s ago (limit {max_age} s)"
    return result


def _check_delivery_backlog(database_ok: bool) -> dict[str, Any]:
    # A message that should have gone out long ago: the deliveries workers are down, stuck or
    # far behind (issue 10: a hung endpoint held every worker and /readyz still said ready).
    max_age = settings.READYZ_DELIVERY_BACKLOG_MAX_AGE
    if max_age <= 0:
        return {"ok": True, "skipped": "READYZ_DELIVERY_BACKLOG_MAX_AGE is 0"}
    if not database_ok:
        return {"ok": False, "max_age_seconds": max_age, "error": "database unavailable"}
    waiting = oldest_waiting_delivery_seconds()
    result: dict[str, Any] = {"ok": waiting is None or waiting <= max_age, "oldest_waiting_seconds": waiting,
                              "max_age_seconds": max_age}
    if not result["ok"]:
        result["error"] = f"a delivery has waited {waiting:.0f} s to be sent (limit {max_age} s)"
    return result


def _check_rollup_backlog(database_ok: bool) -> dict[str, Any]:
    # The compactor folds every 5 s on the `rollups` worker; with that worker gone the deltas pile
    # up and every page adds them up on each read: exact still, but slower by the minute.
    limit = settings.READYZ_ROLLUP_BACKLOG_MAX
    if limit <= 0:
        return {"ok": True, "skipped": "READYZ_ROLLUP_BACKLOG_MAX is 0"}
    if not database_ok:
        return {"ok": False, "max_deltas": limit, "error": "database unavailable"}
    waiting = sum(pending_deltas(cap=limit + 1).values())
    result: dict[str, Any] = {"ok": waiting <= limit, "pending_deltas": waiting, "max_deltas": limit}
    if not result["ok"]:
        result["error"] = (f"over {limit} deltas wait for the compactor (limit {limit}): "
                           "is the rollups worker running?")
    return result


@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """GET /readyz: database, Redis, recent alert and dead-man checks, no old delivery backlog, the
    compactor keeping up; 503 when any is not ok."""
    database = _check_database()
    checks = {
        "database": database,
        "redis": _check_redis(),
        "alert_check": _check_scheduled(ALERT_CHECK_TASK, database["ok"]),
        "deadman_check": _check_scheduled(DEADMAN_TASK, database["ok"]),
        "delivery_backlog": _check_delivery_backlog(database["ok"]),
        "rollup_backlog": _check_rollup_backlog(database["ok"]),
    }
    ready = all(check["ok"] for check in checks.values())
    response = JsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)
    if not ready:
        response["Retry-After"] = "30"  # probes and load balancers: look again in half a minute
    return response
