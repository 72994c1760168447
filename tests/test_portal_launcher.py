"""./portal up as a person runs it: web, worker and beat live and die together."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from tests.test_migrations import scratch_database  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_up_stops_worker_and_beat_when_the_web_server_cannot_start(scratch_database):  # noqa: F811
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = {
            **os.environ,
            "DATABASE_URL": scratch_database,
            "REDIS_URL": settings.REDIS_URL,
            "PORT": str(busy.getsockname()[1]),
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)  # the launcher runs the real settings
        portal = subprocess.Popen(
            ["./portal", "up"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,  # its own process group: everything it started, and only that
        )
        try:
            output, _ = portal.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            os.killpg(portal.pid, signal.SIGTERM)
            output, _ = portal.communicate()
            pytest.fail("./portal up kept running without its web server:\n" + output[-3000:])
    assert "That port is already in use" in output
    assert "web, worker or beat exited (status 1): stopping the others" in output
    assert portal.returncode == 1
    with pytest.raises(ProcessLookupError):  # worker and beat are gone with it
        os.killpg(portal.pid, 0)
