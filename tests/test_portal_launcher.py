"""./portal up as a person runs it: web, worker and beat live and die together.

It runs in a temporary copy of the repository, with its own .data/ and a .venv that reuses the
suite's virtualenv (no pip install), against a scratch database and the run's Redis key prefix:
nothing is written into the checkout, and no fixed port is used.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from tests.test_migrations import scratch_database  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("portal", "manage.py", "requirements.txt", "leadsync_portal", "monitoring", "integrations", "templates", "static")


def _copy_of_the_repository(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, target / name)
    # A .venv that is the suite's interpreter and site-packages, stamped as up to date with this
    # requirements.txt, so the launcher installs nothing (and never into the shared virtualenv).
    venv = target / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    site = Path(sysconfig.get_paths()["purelib"])
    (venv / site.relative_to(sys.prefix)).parent.mkdir(parents=True)
    (venv / site.relative_to(sys.prefix)).symlink_to(site)
    config = Path(sys.prefix) / "pyvenv.cfg"
    if config.exists():
        shutil.copy2(config, venv / "pyvenv.cfg")
    else:  # the suite runs on a plain interpreter: a minimal venv description of it
        (venv / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).parent}\ninclude-system-site-packages = true\n")
    (venv / ".requirements.sha256").write_text(hashlib.sha256((target / "requirements.txt").read_bytes()).hexdigest() + "\n")
    return target


def _one_lead_already(database_url: str, copy: Path, env: dict[str, str]) -> None:
    # Migrated, with a lead: `seed_demo --if-empty` leaves it alone (the 20,000-lead demo is
    # tested in test_seed_demo; here it would be most of the time).
    subprocess.run([str(copy / ".venv/bin/python"), "manage.py", "migrate", "--noinput", "-v", "0"],
                   cwd=copy, env=env, check=True, capture_output=True, timeout=300)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO leads (email) VALUES ('launcher@example.com')")


def _state_of(directory: Path) -> dict[str, tuple[int, int]]:
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_up_stops_worker_and_beat_when_the_web_server_cannot_start(scratch_database, tmp_path):  # noqa: F811
    checkout_data = _state_of(ROOT / ".data")
    copy = _copy_of_the_repository(tmp_path / "repo")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))  # a free port, then taken: never a fixed one
        busy.listen()
        env = {
            **os.environ,
            "DATABASE_URL": scratch_database,
            "REDIS_URL": settings.REDIS_URL,
            "CACHE_KEY_PREFIX": settings.TEST_RUN_PREFIX,  # its keys are the run's, cleaned with them
            "PORT": str(busy.getsockname()[1]),
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)  # the launcher runs the real settings
        # `./portal test` exports the checkout's data directory; the copy must use its own.
        env.pop("LEADSYNC_DATA_DIR", None)
        _one_lead_already(scratch_database, copy, env)
        portal = subprocess.Popen(
            ["./portal", "up"], cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,  # its own process group: everything it started, and only that
        )
        try:
            output, _ = portal.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            os.killpg(portal.pid, signal.SIGTERM)
            output, _ = portal.communicate()
            pytest.fail("./portal up kept running without its web server:\n" + output[-3000:])
    assert "installing requirements" not in output and "creating .venv" not in output
    assert "That port is already in use" in output
    assert "web, worker or beat exited (status 1): stopping the others" in output
    assert portal.returncode == 1
    with pytest.raises(ProcessLookupError):  # worker and beat are gone with it
        os.killpg(portal.pid, 0)
    assert (copy / ".data" / "worker-checks.log").exists()  # its data directory is the copy's (one log per queue worker)...
    assert _state_of(ROOT / ".data") == checkout_data  # ...and the checkout's is untouched
