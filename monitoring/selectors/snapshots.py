"""Serve a selector's answer from Redis so dashboards stay fast at millions of rows.

A snapshotted selector computes from the database on a miss and stores (taken_at, value) for
SELECTOR_SNAPSHOT_TTL seconds; the beat task monitoring.refresh_snapshots recomputes every
registered selector each minute, so readers almost never pay for a miss. With the TTL at 0
every call reads the database (tests, or a deployment that prefers fresh over fast).
"""
from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# name -> the wrapped selector; refresh_snapshots() walks this.
REGISTRY: dict[str, Callable[..., Any]] = {}


def _key(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    digest = hashlib.sha1(repr((args, sorted(kwargs.items()))).encode()).hexdigest()[:16]
    return f"snapshot:{name}:{digest}"


# Redis down must not take the dashboards down with it: a failed read is a miss, a failed
# write is skipped, and the selector answers from the database (slower, still correct).
def _cache_get(key: str) -> tuple[datetime, Any] | None:
    try:
        return cache.get(key)
    except RedisError:
        logger.warning("snapshot cache unavailable; reading %s from the database", key)
        return None


def _cache_set(key: str, value: Any, ttl: int) -> None:
    try:
        cache.set(key, (timezone.now(), value), ttl)
    except RedisError:
        logger.warning("snapshot cache unavailable; %s not stored", key)


def snapshotted(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorate a selector whose answer may be up to SELECTOR_SNAPSHOT_TTL seconds old."""
    name = f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        ttl = settings.SELECTOR_SNAPSHOT_TTL
        if ttl <= 0:
            return fn(*args, **kwargs)
        key = _key(name, args, kwargs)
        hit = _cache_get(key)
        if hit is not None:
            return hit[1]
        value = fn(*args, **kwargs)
        _cache_set(key, value, ttl)
        return value

    def taken_at(*args: Any, **kwargs: Any) -> datetime | None:
        """When the snapshot a call with these arguments would return was computed (None: live)."""
        if settings.SELECTOR_SNAPSHOT_TTL <= 0:
            return None
        hit = _cache_get(_key(name, args, kwargs))
        return hit[0] if hit is not None else None

    def refresh(*args: Any, **kwargs: Any) -> T:
        """Recompute from the database and store, whatever the cache holds."""
        value = fn(*args, **kwargs)
        if settings.SELECTOR_SNAPSHOT_TTL > 0:
            _cache_set(_key(name, args, kwargs), value, settings.SELECTOR_SNAPSHOT_TTL)
        return value

    wrapper.taken_at = taken_at  # type: ignore[attr-defined]
    wrapper.refresh = refresh  # type: ignore[attr-defined]
    wrapper.uncached = fn  # type: ignore[attr-defined]
    REGISTRY[name] = wrapper
    return wrapper


def refresh_all() -> dict[str, float]:
    """Recompute every registered snapshot with its default arguments; returns seconds per selector."""
    timings: dict[str, float] = {}
    for name, selector in REGISTRY.items():
        started = timezone.now()
        try:
            selector.refresh()  # type: ignore[attr-defined]
        except Exception:  # one broken selector must not starve the others
            logger.exception("snapshot refresh failed for %s", name)
            continue
        timings[name] = (timezone.now() - started).total_seconds()
    return timings
