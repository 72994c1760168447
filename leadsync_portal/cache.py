"""The Redis cache backend with a circuit breaker: a hung Redis costs one short timeout, not every call.

Every cache user here (selector snapshots, API throttles) already treats a RedisError as "read the
database / let the request through". Short socket timeouts (settings CACHES OPTIONS) bound one
call; the breaker bounds a page: after a connection or timeout error, every call in this process
fails at once for CACHE_BREAKER_SECONDS, without touching the network, so a page that asks the
cache ten times waits for one timeout, not ten. After the pause the next call tries Redis again;
success closes the breaker, another failure opens it for another pause.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)


class CircuitOpen(RedisConnectionError):
    """Redis failed a moment ago; this call did not try it. A RedisError, so callers' fallbacks apply."""


class CircuitBreaker:
    """Open for `pause` seconds after a failure; shared by every thread of the process."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.open_until = 0.0
        self._lock = threading.Lock()

    def check(self) -> None:
        if time.monotonic() < self.open_until:
            raise CircuitOpen("Redis failed recently; not trying again yet")

    def failed(self, exc: Exception) -> None:
        with self._lock:
            if time.monotonic() >= self.open_until:
                logger.warning("cache Redis failed (%s); using the database for %.0f s", exc, self.pause)
            self.open_until = time.monotonic() + self.pause

    def succeeded(self) -> None:
        if self.open_until:
            with self._lock:
                self.open_until = 0.0

    def reset(self) -> None:
        self.succeeded()


# One breaker per Redis location and process: Django builds a cache backend per thread.
_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(location: str, pause: float) -> CircuitBreaker:
    with _breakers_lock:
        if location not in _breakers:
            _breakers[location] = CircuitBreaker(pause)
        return _breakers[location]


def reset_breakers() -> None:
    """Close every breaker (tests; a fresh start)."""
    for breaker in list(_breakers.values()):
        breaker.reset()


class CircuitBreakerRedisCache(RedisCache):
    """django.core.cache's RedisCache whose calls go through a per-process circuit breaker.

    OPTIONS: BREAKER_SECONDS (the pause after a failure, default 10); the rest go to redis-py as
    with RedisCache (socket_connect_timeout, socket_timeout, retry...).
    """

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS") or {})
        pause = float(options.pop("BREAKER_SECONDS", 10))
        super().__init__(server, {**params, "OPTIONS": options})
        self.breaker = breaker_for(str(server), pause)


def _guarded(name: str) -> Callable[..., Any]:
    method = getattr(RedisCache, name)

    @functools.wraps(method)
    def call(self: CircuitBreakerRedisCache, *args: Any, **kwargs: Any) -> Any:
        self.breaker.check()
        try:
            result = method(self, *args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if not isinstance(exc, CircuitOpen):
                self.breaker.failed(exc)
            raise
        self.breaker.succeeded()
        return result

    return call


for _name in ("add", "get", "set", "touch", "delete", "get_many", "has_key", "incr", "set_many", "delete_many", "clear"):
    setattr(CircuitBreakerRedisCache, _name, _guarded(_name))
