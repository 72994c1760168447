"""A test run shares its Redis database with others: it writes under a prefix of its own and
deletes only that, so a running portal or a second run on the same database keeps its keys."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import redis
from django.conf import settings
from django.core.cache import cache

from leadsync_portal.celery import app
from tests.conftest import delete_run_keys

ROOT = Path(__file__).resolve().parents[1]


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5, socket_timeout=5)


def test_cache_and_broker_write_under_the_run_prefix():
    prefix = settings.TEST_RUN_PREFIX
    assert prefix.startswith("leadsync-test-") and prefix != "leadsync-test-"
    cache.set("isolation-probe", 1)
    assert _redis().exists(f"{prefix}:1:isolation-probe") == 1
    assert app.conf.broker_transport_options["global_keyprefix"] == f"{prefix}:celery:"
    with app.connection_for_write() as conn:  # a queue declared through the broker lands under the prefix
        conn.default_channel.client.lpush("isolation-queue", "x")
    assert _redis().exists(f"{prefix}:celery:isolation-queue") == 1


def test_cleanup_deletes_the_run_keys_and_nothing_else():
    client = _redis()
    foreign = f"leadsync:1:someone-else-{uuid.uuid4().hex}"  # what a portal on the same database writes
    neighbour = f"{settings.TEST_RUN_PREFIX}x:1:probe"  # another run whose prefix starts like ours
    try:
        client.set(foreign, "keep")
        client.set(neighbour, "keep")
        cache.set("mine", 1)
        assert delete_run_keys() == 1
        assert cache.get("mine") is None
        assert client.mget([foreign, neighbour]) == [b"keep", b"keep"]
    finally:
        client.delete(foreign, neighbour)


def test_a_whole_test_run_leaves_other_keys_in_the_same_database_alone():
    # A second pytest run on the same Redis database: it writes, cleans before and after each test
    # and at the end, and a key written by someone else survives all of it.
    client = _redis()
    foreign = f"leadsync:1:portal-snapshot-{uuid.uuid4().hex}"
    child_prefix = f"{settings.TEST_RUN_PREFIX}-child"
    client.set(foreign, "keep")
    try:
        env = {**os.environ, "LEADSYNC_TEST_RUN_PREFIX": child_prefix}
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
             "tests/test_redis_isolation.py::test_cache_and_broker_write_under_the_run_prefix"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "1 passed" in run.stdout
        assert client.get(foreign) == b"keep"
        assert list(client.scan_iter(match=f"{child_prefix}:*")) == []  # and it left nothing of its own
    finally:
        client.delete(foreign)
