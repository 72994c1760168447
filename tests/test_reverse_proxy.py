"""The portal behind a real nginx on this machine (Debian's nginx-light): whose address counts.

nginx listens on 127.0.0.1 and forwards to the test's live server with the configuration
docs/security.md shows (X-Forwarded-For: $proxy_add_x_forwarded_for). Clients connect from other
loopback addresses (127.0.0.5, 127.0.0.6: all of 127/8 is this machine), so nginx sees a client
address that is not the proxy's own, as it would see a remote one. TRUSTED_PROXIES is 127.0.0.1.
Skipped where nginx is not installed.
"""
from __future__ import annotations

import http.client
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode, urlparse

import pytest

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = [
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx-light)"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CONFIG = """
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def proxy(live_server, tmp_path, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    settings.ALLOWED_HOSTS = ["*"]
    port = _free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(CONFIG.format(dir=tmp_path, port=port, upstream=urlparse(live_server.url).netloc))
    process = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "startup.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail(f"nginx did not start: {process.stderr.read().decode() if process.stderr else ''}")
    yield port
    process.terminate()
    process.wait(timeout=10)


class Browser:
    """A cookie-keeping HTTP client that connects from a chosen loopback address."""

    def __init__(self, port: int, source: str) -> None:
        self.port, self.source, self.cookies = port, source, {}

    def request(self, method: str, path: str, data: dict | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30, source_address=(self.source, 0))
        body = urlencode(data, doseq=True) if data is not None else None
        all_headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **(headers or {})}
        if body is not None:
            all_headers |= {"Content-Type": "application/x-www-form-urlencoded",
                            "Referer": f"http://127.0.0.1:{self.port}/"}
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        connection.close()
        return response.status, text

    def login(self, username: str, password: str) -> int:
        _, page = self.request("GET", "/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        status, _ = self.request("POST", "/accounts/login/", {"username": username, "password": password,
                                                              "csrfmiddlewaretoken": token})
        return status


# (connect from, X-Forwarded-For the client sends, /metrics status without a token)
METRICS_THROUGH_NGINX = [
    ("127.0.0.1", None, 200),  # a scraper on the proxy host itself
    ("127.0.0.5", None, 401),  # anyone else: before issue 11 this was 200 (every client was the proxy)
    ("127.0.0.5", "127.0.0.1", 401),  # forging the allowed address: nginx appends the real one
]


@pytest.mark.parametrize(("source", "forged", "status"), METRICS_THROUGH_NGINX)
def test_metrics_through_nginx(proxy, source, forged, status):
    headers = {"X-Forwarded-For": forged} if forged else {}
    assert Browser(proxy, source).request("GET", "/metrics", headers=headers)[0] == status


def test_lockout_through_nginx_locks_the_stranger_not_the_operator(proxy, viewer):
    from axes.models import AccessAttempt

    from tests.conftest import PASSWORD

    stranger = Browser(proxy, "127.0.0.5")
    statuses = [stranger.login("viewer", "wrong") for _ in range(6)]
    assert statuses[-1] == 429
    assert Browser(proxy, "127.0.0.6").login("viewer", PASSWORD) == 302
    assert list(AccessAttempt.objects.values_list("username", "ip_address")) == [("viewer", "127.0.0.5")]
