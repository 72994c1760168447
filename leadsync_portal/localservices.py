"""Make sure PostgreSQL and Redis answer at DATABASE_URL / REDIS_URL before the portal or tests start.

Run as `python -m leadsync_portal.localservices ensure`. It never imports Django settings.
"""
from __future__ import annotations

import os
import sys
import time

import psycopg
import redis


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
            print(f"[portal] created database {name}")


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
        print(f"[portal] PostgreSQL at DATABASE_URL does not answer: {problem}", file=sys.stderr)
        return 1
    problem = _redis_ok(redis_url)
    if problem:
        print(f"[portal] Redis at REDIS_URL does not answer: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "ensure"
    if command != "ensure":
        sys.exit(f"unknown command {command!r}; use: ensure")
    sys.exit(ensure())
