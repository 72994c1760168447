"""Per-client request budgets kept in Redis (through the Django cache), shared by all web workers."""
from __future__ import annotations

import math
import time

from django.core.cache import cache


def throttle(key: str, *, limit: int, window: int = 60) -> int | None:
    """Count one request against `key`'s budget of `limit` per `window` seconds.

    Returns None when the request is allowed, otherwise the seconds until the budget resets
    (for Retry-After). A fixed window: one Redis key per client per window, expiring with it.
    """
    now = time.time()
    window_index = int(now // window)
    bucket = f"throttle:{key}:{window_index}"
    cache.add(bucket, 0, timeout=window + 1)  # atomic create; a no-op when the window has begun
    count = cache.incr(bucket)
    if count <= limit:
        return None
    return max(1, math.ceil((window_index + 1) * window - now))
