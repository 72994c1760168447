"""A Redis that accepts connections and never answers costs a page one short timeout (issue 10, finding 3).

Before: CACHES had no timeouts and `/` and `/api/sync-metrics/` waited until gunicorn killed the
worker (30 s). Now: 0.25 s socket timeouts, no retries, and a circuit breaker that sends every cache
call to the database for a while after a failure. A refused port keeps working as before.
"""
from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.urls import reverse

from leadsync_portal.cache import reset_breakers
from monitoring.services.api_tokens import create_api_token

from .hostile_servers import closed_port, elapsed, silent_server

# Well under the 30 s hang, generous for a loaded 2-core machine.
PAGE_BUDGET_SECONDS = 2.0


@pytest.fixture
def cache_at(settings):
    """Point the cache (snapshots on, as in production) at another Redis URL."""

    def point(url: str) -> None:
        caches = {**settings.CACHES}
        caches["default"] = {**caches["default"], "LOCATION": url}
        settings.CACHES = caches  # Django's setting_changed handler rebuilds the cache connections
        settings.SELECTOR_SNAPSHOT_TTL = 180
        reset_breakers()

    yield point
    reset_breakers()


@pytest.fixture(autouse=True)
def _clean_cache():
    """Overrides conftest's: the cache under test may be unreachable on purpose."""
    yield


@pytest.mark.parametrize("hang", [True, False], ids=["hung", "refused"])
def test_pages_and_api_answer_quickly_when_redis_hangs_or_refuses(
    cache_at, viewer, viewer_client, client, sync_dataset, hang
):
    secret = create_api_token(user=viewer, name="n8n")[1]
    with silent_server() as hung_port:
        cache_at(f"redis://127.0.0.1:{hung_port if hang else closed_port()}/0")
        page, page_seconds = elapsed(viewer_client.get, reverse("monitoring:overview"))
        api, api_seconds = elapsed(
            client.get, reverse("monitoring:api-sync-metrics"), HTTP_AUTHORIZATION=f"Bearer {secret}"
        )
    # The numbers come from the database: the hand-built dataset's 8 leads, 2 in error.
    assert page.status_code == 200
    assert page.context["health"]["total_leads"] == 8
    assert api.status_code == 200
    assert {row["sync_status"]: row["count"] for row in api.json()["metrics"]}["error"] == 2
    assert page_seconds < PAGE_BUDGET_SECONDS, page_seconds
    assert api_seconds < PAGE_BUDGET_SECONDS, api_seconds


def test_after_one_timeout_the_breaker_skips_redis(cache_at):
    from redis.exceptions import RedisError

    with silent_server() as port:
        cache_at(f"redis://127.0.0.1:{port}/0")
        with pytest.raises(RedisError):
            cache.get("k")
        started_errors = []
        for _ in range(20):
            try:
                cache.get("k")
            except RedisError as exc:
                started_errors.append(type(exc).__name__)
    # The first call waited for the socket timeout; the next twenty did not touch the network.
    assert started_errors == ["CircuitOpen"] * 20


def test_the_breaker_closes_when_redis_answers_again(cache_at, settings):
    from redis.exceptions import RedisError

    good = settings.CACHES["default"]["LOCATION"]
    with silent_server() as port:
        cache_at(f"redis://127.0.0.1:{port}/0")
        with pytest.raises(RedisError):
            cache.get("k")
    cache_at(good)  # a fresh breaker for the real server (reset, as after the pause)
    cache.set("k", 1)
    assert cache.get("k") == 1


def test_the_breaker_tries_redis_again_after_its_pause(settings):
    """Open after a hang, it skips Redis for BREAKER_SECONDS; once that pause has run out (no
    reset) the next call tries Redis again, and a Redis that answers closes it."""
    from urllib.parse import urlsplit

    from redis.exceptions import RedisError

    from .hostile_servers import FaultProxy

    real = urlsplit(settings.CACHES["default"]["LOCATION"])
    pause = 0.5
    with FaultProxy((real.hostname, real.port or 6379)) as proxy:
        caches = {**settings.CACHES}
        caches["default"] = {**caches["default"], "LOCATION": f"redis://127.0.0.1:{proxy.port}{real.path or '/0'}",
                             "OPTIONS": {**caches["default"].get("OPTIONS", {}), "BREAKER_SECONDS": pause}}
        settings.CACHES = caches
        reset_breakers()
        try:
            cache.set("breaker-key", 1)
            proxy.set_mode("hang")
            with pytest.raises(RedisError) as first:
                cache.get("breaker-key")
            assert type(first.value).__name__ != "CircuitOpen"  # it tried, and timed out
            proxy.set_mode("pass")  # Redis answers again, but the breaker is open
            with pytest.raises(RedisError) as skipped:
                cache.get("breaker-key")
            assert type(skipped.value).__name__ == "CircuitOpen"
            time.sleep(pause + 0.1)
            assert cache.get("breaker-key") == 1  # tried again after the pause, and closed
            assert cache.get("breaker-key") == 1
        finally:
            reset_breakers()

