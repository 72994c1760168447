"""Embedded PostgreSQL/Redis: pid files, adopting a running server, cleaning a stale one, stopping."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

import psycopg
import pytest
import redis

from leadsync_portal import localservices
from leadsync_portal.localservices import EmbeddedPostgres, EmbeddedRedis


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_stale_pid_files_are_removed(tmp_path: Path):
    pg = EmbeddedPostgres(tmp_path, 1)
    rd = EmbeddedRedis(tmp_path, 1)
    pg.pgdata.mkdir(parents=True)
    rd.base.mkdir(parents=True)
    (pg.pgdata / "postmaster.pid").write_text(f"{_dead_pid()}\n/data\n0\n55432\n")
    rd.pid_file.write_text(str(_dead_pid()))
    assert pg.running_pid() is None and not (pg.pgdata / "postmaster.pid").exists()
    assert rd.running_pid() is None and not rd.pid_file.exists()


def test_a_live_pid_of_another_program_is_not_taken_for_our_server(tmp_path: Path):
    rd = EmbeddedRedis(tmp_path, 1)
    rd.base.mkdir(parents=True)
    rd.pid_file.write_text(str(os.getpid()))  # alive, but pytest, not redis-server
    assert rd.running_pid() is None


def test_start_does_nothing_when_both_urls_are_set(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://example/db")
    monkeypatch.setenv("REDIS_URL", "redis://example/0")
    out = io.StringIO()
    with redirect_stdout(out):
        assert localservices.start(tmp_path) == 0
    assert out.getvalue() == "export LEADSYNC_EMBEDDED_STARTED=''\n"
    assert not (tmp_path / "postgres").exists()


@pytest.fixture
def data_dir():
    # Not pytest's tmp_path: its parents are private to root, and as root PostgreSQL runs as an
    # unprivileged user that must reach the data dir (localservices opens up only the dir itself).
    path = Path(tempfile.mkdtemp(prefix="leadsync-test-embedded-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_start_adopt_and_stop_embedded_servers(data_dir: Path, monkeypatch):
    tmp_path = data_dir
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    pg_port, redis_port = localservices._free_port(), localservices._free_port()
    first, second = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(first):
            assert localservices.start(tmp_path, pg_port=pg_port, redis_port=redis_port) == 0
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in first.getvalue().splitlines()
        )
        assert exports["DATABASE_URL"] == f"postgres://postgres@127.0.0.1:{pg_port}/leadsync"
        assert exports["REDIS_URL"] == f"redis://127.0.0.1:{redis_port}/0"
        assert exports["LEADSYNC_EMBEDDED_STARTED"] == "'postgres redis'"
        with psycopg.connect(exports["DATABASE_URL"]) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("leadsync",)
        assert redis.Redis.from_url(exports["REDIS_URL"]).ping() is True
        # A second start adopts the running servers and says it started nothing.
        with redirect_stdout(second):
            assert localservices.start(tmp_path, pg_port=pg_port, redis_port=redis_port) == 0
        assert "export LEADSYNC_EMBEDDED_STARTED=''" in second.getvalue()
        assert f"127.0.0.1:{pg_port}/leadsync" in second.getvalue()
    finally:
        localservices.stop(tmp_path)
    pg, rd = EmbeddedPostgres(tmp_path, pg_port), EmbeddedRedis(tmp_path, redis_port)
    assert pg.running_pid() is None and rd.running_pid() is None
    assert not localservices._port_in_use(pg_port) and not localservices._port_in_use(redis_port)
