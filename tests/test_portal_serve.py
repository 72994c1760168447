"""`./portal serve`, `./portal up` and `./portal manage` run as a person runs them: real processes
on free ports, a database of their own, and nothing left running afterwards."""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[1]
HOST = "portal.test.example"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def launcher_database() -> Iterator[str]:
    """An empty database of the test's own: the launcher migrates it like a fresh install. One per
    test, not per module: `up` seeds demo data, and `serve` checks that a production run has none,
    whatever order they run in (a random order once ran `up` first)."""
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_launcher"[:63]
    admin = make_conninfo(dbname="postgres", host=db.get("HOST") or "127.0.0.1", port=str(db.get("PORT") or 5432),
                          user=db.get("USER") or "", password=db.get("PASSWORD") or "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    yield f"postgres://{db.get('USER') or ''}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG"}}
    env.update({
        "LEADSYNC_DATA_DIR": str(tmp_path / "data"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "PORTAL_NO_INSTALL": "1",  # the shared .venv is installed already; never pip in a test
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": f"leadsync-launcher-{os.getpid()}",
    })
    env.update(extra)
    return env


def _session_pids(sid: int) -> set[int]:
    """Every live process of a session (the launcher runs in a session of its own)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":  # fields: state, ppid, pgrp, session
            found.add(int(entry.name))
    return found


def _cmdlines(pids: set[int]) -> list[str]:
    lines = []
    for pid in pids:
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass
    return lines


def _get(port: int, path: str, *, https: bool = True, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": HOST})
    if https:  # what the reverse proxy adds; BEHIND_TLS_PROXY=1 believes it
        request.add_header("X-Forwarded-Proto", "https")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _wait_for(predicate, timeout: float, what: str, process: subprocess.Popen, log: Path):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the launcher exited ({process.returncode}) while waiting for {what}:\n{log.read_text()[-4000:]}")
        try:
            value = predicate()
            if value:
                return value
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout} s waiting for {what}:\n{log.read_text()[-4000:]}")


def _as_in_a_terminal() -> None:
    """SIGINT handled as it is for a command typed in a terminal. A test run started in the
    background of a non-interactive shell (`pytest ... &`) ignores SIGINT, the launcher inherits
    that, and bash cannot trap a signal ignored on entry: Ctrl-C would then prove nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop_with_sigint(process: subprocess.Popen, log: Path) -> None:
    """Ctrl-C as a signal to the launcher alone (its children ignore SIGINT in a script): it must
    stop every process it started, and leave none behind."""
    started = _session_pids(process.pid)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("the launcher did not stop within 90 s of SIGINT:\n" + log.read_text()[-4000:])
    time.sleep(0.5)
    left = _session_pids(process.pid)
    if left:
        names = _cmdlines(left)
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"left running after SIGINT: {names}")
    assert len(started) >= 6, _cmdlines(started)  # it did start something worth stopping


# --- serve ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("variables,message", [
    ({"ALLOWED_HOSTS": HOST}, "SECRET_KEY is not set"),
    ({"ALLOWED_HOSTS": HOST, "SECRET_KEY": "change-me"}, "SECRET_KEY is too weak (9 characters"),
    ({"ALLOWED_HOSTS": HOST, "SECRET_KEY": "django-insecure-" + "k" * 50}, "SECRET_KEY is too weak"),
    ({"SECRET_KEY": secrets.token_urlsafe(50)}, "ALLOWED_HOSTS is not set"),
    ({"SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS contains '*'"),
])
def test_serve_refuses_to_start_without_a_real_secret_key_and_host_names(tmp_path: Path, variables, message):
    env = _env(tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:1/never-reached", **variables)
    env.pop("ALLOWED_HOSTS", None) if "ALLOWED_HOSTS" not in variables else None
    result = subprocess.run(["./portal", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"refusing to serve: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "secret_key").exists()  # no key is made up for it


@pytest.mark.slow
def test_serve_runs_gunicorn_workers_and_beat_serves_static_files_and_stops_on_sigint(tmp_path: Path, launcher_database):
    port = _free_port()
    log = tmp_path / "serve.log"
    env = _env(
        tmp_path, DATABASE_URL=launcher_database, SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=f"{HOST},127.0.0.1", BEHIND_TLS_PROXY="1", PORT=str(port), WEB_CONCURRENCY="2",
        DEBUG="1",  # serve turns it off whatever the environment says
    )
    with log.open("w") as out:
        portal = subprocess.Popen(["./portal", "serve"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True, preexec_fn=_as_in_a_terminal)
    try:
        assert _wait_for(lambda: _get(port, "/healthz", https=False)[0] == 200, 240, "/healthz", portal, log)
        status, _, body = _get(port, "/healthz", https=False)
        assert json.loads(body) == {"status": "ok"}

        # The first alert check runs at start-up, so readiness does not wait for beat's first 5 minutes.
        def ready() -> bool:
            return _get(port, "/readyz", https=False)[0] == 200
        _wait_for(ready, 120, "/readyz to say ready", portal, log)
        checks = json.loads(_get(port, "/readyz", https=False)[2])["checks"]
        assert checks["database"]["ok"] is True and checks["redis"]["ok"] is True, checks

        # collectstatic ran once: hashed names, served by WhiteNoise with a year's cache.
        manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())["paths"]
        css = next(name for name in manifest if name.endswith(".css") and name.startswith("monitoring/"))
        status, headers, body = _get(port, f"/static/{manifest[css]}")
        assert status == 200 and body
        cache = headers.get("Cache-Control", "")
        assert "max-age=315360000" in cache and "immutable" in cache, cache

        # DEBUG is off: no debug page, and plain http is sent to https (the proxy terminates TLS).
        status, _, body = _get(port, "/no-such-page/")
        assert status == 404 and b"URLconf" not in body
        assert _get(port, "/", https=False)[0] == 301
        status, headers, _ = _get(port, "/")
        assert status == 302 and "/accounts/login/" in headers["Location"]

        processes = _cmdlines(_session_pids(portal.pid))
        for queues in ["-Q checks -c 1", "-Q deliveries -c 4", "-Q rollups -c 1", "-Q maintenance,celery -c 1"]:
            assert any(queues in line for line in processes), (queues, processes)
        assert any(" beat " in line for line in processes)
        # With setproctitle installed (a dependency of mutmut) gunicorn renames its processes "gunicorn: ...".
        gunicorn = [line for line in processes
                    if "-m gunicorn -c deploy/gunicorn.conf.py" in line or line.startswith("gunicorn: ")]
        assert len(gunicorn) == 3, gunicorn  # master + WEB_CONCURRENCY workers
        assert not any("runserver" in line or "seed_demo" in line for line in processes)
    finally:
        if portal.poll() is None:
            _stop_with_sigint(portal, log)
    assert portal.returncode == 0
    with psycopg.connect(launcher_database) as conn:  # no demo data in a production run
        assert conn.execute("SELECT count(*) FROM leads").fetchone() == (0,)


def test_gunicorn_workers_follow_the_cpu_count(monkeypatch):
    import runpy

    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    config = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    assert config["workers"] == 2 * len(os.sched_getaffinity(0)) + 1
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))["workers"] == 3


# --- up ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_up_runs_one_worker_per_queue_and_the_simulator_when_there_is_one(tmp_path: Path, launcher_database):
    port = _free_port()
    log = tmp_path / "up.log"
    env = _env(tmp_path, DATABASE_URL=launcher_database, PORT=str(port), ALLOWED_HOSTS=f"{HOST},127.0.0.1")
    with log.open("w") as out:
        portal = subprocess.Popen(["./portal", "up"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True, preexec_fn=_as_in_a_terminal)
    try:
        _wait_for(lambda: _get(port, "/healthz", https=False)[0] == 200, 240, "/healthz", portal, log)
        processes = _cmdlines(_session_pids(portal.pid))
        for queues in ["-Q checks -c 1", "-Q deliveries -c 4", "-Q rollups -c 1", "-Q maintenance,celery -c 1"]:
            assert any(queues in line for line in processes), (queues, processes)
        simulator = (ROOT / "monitoring" / "management" / "commands" / "simulate_sync.py").exists()
        assert any("simulate_sync" in line for line in processes) is simulator
        if not simulator:
            assert "sync simulator not available in this version" in log.read_text()
    finally:
        if portal.poll() is None:
            _stop_with_sigint(portal, log)
    assert portal.returncode == 0


# --- manage --------------------------------------------------------------------------------------


def test_manage_runs_a_command_with_the_launchers_secret_key_and_a_clean_stdout(tmp_path: Path):
    env = _env(tmp_path, DATABASE_URL=os.environ["DATABASE_URL"])
    result = subprocess.run(
        ["./portal", "manage", "shell", "-v", "0", "-c", "from django.conf import settings; print(len(settings.SECRET_KEY))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # stdout is the command's alone (mcp_server speaks its protocol there); the key is the one
    # the launcher keeps in the data directory.
    key = (tmp_path / "data" / "secret_key").read_text().strip()
    assert result.stdout == f"{len(key)}\n"


def test_manage_passes_on_the_commands_exit_status(tmp_path: Path):
    env = _env(tmp_path, DATABASE_URL=os.environ["DATABASE_URL"])
    result = subprocess.run(["./portal", "manage", "no_such_command"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert "Unknown command: 'no_such_command'" in result.stderr
    result = subprocess.run(["./portal", "manage"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "usage: ./portal manage COMMAND" in result.stderr


# --- port clash ----------------------------------------------------------------------------------


@pytest.fixture
def busy_port(request) -> Iterator[int]:
    """A port another program holds: listening, or only bound (a server still starting up)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        if request.param == "listening":
            sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("busy_port", ["listening", "bound"], indirect=True)
@pytest.mark.parametrize("server,port_variable,url_variable", [
    ("PostgreSQL", "EMBEDDED_PG_PORT", "DATABASE_URL"),
    ("Redis", "EMBEDDED_REDIS_PORT", "REDIS_URL"),
])
def test_a_taken_embedded_port_says_which_port_and_how_to_pick_another(
    tmp_path: Path, busy_port: int, server: str, port_variable: str, url_variable: str
):
    env = _env(tmp_path, **{port_variable: str(busy_port), "DATABASE_URL": os.environ["DATABASE_URL"]})
    env.pop(url_variable, None)  # only this server is embedded
    result = subprocess.run(["./portal", "manage", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert f"the embedded {server} cannot listen on 127.0.0.1:{busy_port}: another program already uses that port" in result.stderr
    assert f"Pick another port with {port_variable}, e.g." in result.stderr
    assert f"{port_variable}=" in result.stderr and "./portal up" in result.stderr
    assert "Traceback" not in result.stderr and "pg_ctl" not in result.stderr
    assert not (tmp_path / "data" / "postgres" / "data" / "PG_VERSION").exists()  # refused before initdb
