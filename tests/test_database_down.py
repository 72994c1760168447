"""Database down: 503 with a message and Retry-After, then recovery without a restart (issue 10, finding 5).

The real thing: gunicorn serves the portal in a subprocess whose DATABASE_URL points at a local
TCP proxy in front of PostgreSQL (the test database). Stopping the proxy cuts every pooled
connection and refuses new ones, as a PostgreSQL restart does; starting it again is the recovery.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.db import connection

from .hostile_servers import TcpProxy
from .portal_server import fetch, gunicorn_portal, portal_urls

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    db = connection.settings_dict
    tcp = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    tcp.start()
    yield tcp
    tcp.stop()


@pytest.fixture
def portal(proxy: TcpProxy) -> Iterator[str]:
    """The portal under gunicorn, reaching PostgreSQL only through the proxy. /readyz judges only
    the database and Redis here (no workers run, so the checks' ages are not looked at)."""
    db = connection.settings_dict
    with gunicorn_portal(
        f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}",
        {"READYZ_ALERT_CHECK_MAX_AGE": "0", "READYZ_DELIVERY_BACKLOG_MAX_AGE": "0"},
    ) as url:
        yield url


def test_database_outage_gives_503s_then_recovers_without_restart(portal, proxy, viewer, sync_dataset):
    urls = {**portal_urls(portal, viewer), "readyz": (f"{portal}/readyz", {})}

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
    # The very first request of each kind succeeds: the pool's health check replaces the dead
    # connections when a request takes one (leadsync_portal/postgresql/base.py), and a pool left empty by the outage
    # connects at once instead of at its next backoff retry (reconnect_timeout 0).
    first = {name: fetch(url, headers) for name, (url, headers) in urls.items() if name != "metrics"}
    assert {name: answer[0] for name, answer in first.items()} == {"page": 200, "api": 200, "readyz": 200}
    assert "Leads now</a></h2>" in first["page"][2]
    assert json.loads(first["readyz"][2])["checks"]["database"]["ok"] is True
    assert fetch(*urls["metrics"])[0] == 200


def test_a_restart_while_idle_costs_no_request_a_503(portal, proxy, viewer, sync_dataset):
    """A PostgreSQL restart between two requests (nobody asking meanwhile) leaves the pool holding
    only dead connections; the next request must not be the one that finds out."""
    page, cookie = portal_urls(portal, viewer)["page"]
    assert fetch(page, cookie)[0] == 200  # the pool now holds a live connection
    proxy.stop()
    proxy.start()
    assert [fetch(page, cookie)[0], fetch(f"{portal}/readyz")[0]] == [200, 200]
