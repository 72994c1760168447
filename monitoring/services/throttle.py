"""Per-client request budgets kept in Redis (through the Django cache), shared by all web workers."""
from __future__ import annotations

import logging
import math
import time

from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def throttle(key: str, *, limit: int, window: int = 60) -> int | None:
    """Count one request against `key`'s budget of `limit` per `window` seconds.

    Returns None when the request is allowed, otherwise the seconds until the budget resets
    (for Retry-After). A fixed window: one Redis key per client per window, expiring with it.
    With Redis unreachable every request is allowed (logged).
    """
    now = time.time()
    window_index = int(now // window)
    bucket = f"throttle:{key}:{window_index}"
    try:
        cache.add(bucket, 0, timeout=window + 1)  # atomic create; a no-op when the window has begun
        count = cache.incr(bucket)
    except RedisError:
        # Fail open: a Redis outage must not lock monitoring out; /readyz reports Redis down.
        logger.warning("throttle store unavailable; request for %s let through", key)
        return None
    if count <= limit:
        return None
    return max(1, math.ceil((window_index + 1) * window - now))
