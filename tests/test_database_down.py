"""Database down: 503 with a message and Retry-After, then recovery without a restart (issue 10, finding 5).

The real thing: gunicorn serves the portal in a subprocess whose DATABASE_URL points at a local
TCP proxy in front of PostgreSQL (the test database). Stopping the proxy cuts every pooled
connection and refuses new ones, as a PostgreSQL restart does; starting it again is the recovery.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from monitoring.services.api_tokens import create_api_token

from .hostile_servers import TcpProxy, closed_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str, float]:
    """(status, headers, body, seconds): any answer, never a redirect followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
            return None

    opener = urllib.request.build_opener(NoRedirect)
    started = time.monotonic()
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
            status, head, body = response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        status, head, body = exc.code, dict(exc.headers), exc.read().decode()
    return status, head, body, time.monotonic() - started


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    db = connection.settings_dict
    tcp = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    tcp.start()
    yield tcp
    tcp.stop()


@pytest.fixture
def portal(proxy: TcpProxy) -> Iterator[str]:
    """The portal under gunicorn, reaching PostgreSQL only through the proxy."""
    db = connection.settings_dict
    port = closed_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "leadsync_portal.wsgi:application", "-b", f"127.0.0.1:{port}",
         "-w", "1", "--threads", "4", "--timeout", "60"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "leadsync_portal.settings_test",
             "SECRET_KEY": settings.SECRET_KEY,  # the sessions the test logs in with
             "DATABASE_URL": f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}"},
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
    yield url
    process.terminate()
    process.wait(15)


def test_database_outage_gives_503s_then_recovers_without_restart(portal, proxy, viewer, sync_dataset):
    client = Client()
    client.force_login(viewer)
    cookie = {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    bearer = {"Authorization": f"Bearer {create_api_token(user=viewer, name='n8n')[1]}"}
    urls = {"page": (f"{portal}/", cookie), "api": (f"{portal}/api/sync-metrics/", bearer),
            "metrics": (f"{portal}/metrics", {}), "readyz": (f"{portal}/readyz", {})}

    up = {name: fetch(url, headers) for name, (url, headers) in urls.items()}
    assert {name: answer[0] for name, answer in up.items() if name != "readyz"} == {
        "page": 200, "api": 200, "metrics": 200}
    assert "Leads now</a></h2>" in up["page"][2]

    proxy.stop()  # every pooled connection cut, new ones refused
    down = {name: fetch(url, headers) for name, (url, headers) in urls.items()}
    for name, (status, headers, _body, seconds) in down.items():
        assert status == 503, (name, status)
        assert headers.get("Retry-After") == "30", name
        assert seconds < 3, (name, seconds)  # the pool does not wait long for a connection
    page_body = down["page"][2]
    assert "Database unreachable" in page_body and "cannot show sync data" in page_body
    assert down["page"][1]["Content-Type"].startswith("text/html")
    assert json.loads(down["api"][2])["error"].startswith("The database is unreachable")
    assert down["metrics"][1]["Content-Type"].startswith("text/plain")
    assert down["metrics"][2].startswith("# The database is unreachable")
    assert json.loads(down["readyz"][2])["checks"]["database"]["ok"] is False

    proxy.start()  # PostgreSQL is back; the portal process was never restarted
    deadline = time.monotonic() + 20
    statuses: list[int] = []
    while time.monotonic() < deadline:
        statuses = [fetch(url, headers)[0] for name, (url, headers) in urls.items() if name != "readyz"]
        if statuses == [200, 200, 200]:
            break
        time.sleep(0.5)
    assert statuses == [200, 200, 200]
    assert "Leads now</a></h2>" in fetch(*urls["page"])[2]
