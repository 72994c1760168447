"""The portal under real gunicorn in a subprocess, and a plain HTTP fetch: for tests that need the
web process itself (its WSGI entry point, its database limits, its connection pool)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from .hostile_servers import closed_port

ROOT = Path(__file__).resolve().parents[1]


def portal_urls(portal: str, viewer) -> dict[str, tuple[str, dict[str, str]]]:
    """A page (the viewer's session cookie), the API (a viewer token) and /metrics, with the
    headers each needs: {"page": (url, headers), "api": ..., "metrics": ...}."""
    from django.test import Client

    from monitoring.services.api_tokens import create_api_token

    client = Client()
    client.force_login(viewer)
    cookie = {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    bearer = {"Authorization": f"Bearer {create_api_token(user=viewer, name='n8n')[1]}"}
    return {"page": (f"{portal}/", cookie), "api": (f"{portal}/api/sync-metrics/", bearer),
            "metrics": (f"{portal}/metrics", {})}


def fetch(url: str, headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict[str, str], str, float]:
    """(status, headers, body, seconds): any answer, never a redirect followed. A request still
    unanswered after `timeout` raises (TimeoutError), so a hang fails the test instead of CI."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
            return None

    opener = urllib.request.build_opener(NoRedirect)
    started = time.monotonic()
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as response:
            status, head, body = response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        status, head, body = exc.code, dict(exc.headers), exc.read().decode()
    return status, head, body, time.monotonic() - started


@contextmanager
def gunicorn_portal(database_url: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve the portal with gunicorn (1 worker, 4 threads) on `database_url`; yields its base URL."""
    port = closed_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "leadsync_portal.wsgi:application", "-b", f"127.0.0.1:{port}",
         "-w", "1", "--threads", "4", "--timeout", "60"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "leadsync_portal.settings_test",
             "SECRET_KEY": settings.SECRET_KEY,  # the sessions the test logs in with
             "DATABASE_URL": database_url, **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if fetch(f"{url}/healthz")[0] == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("gunicorn did not start")
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
