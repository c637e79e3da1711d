"""Real PostgreSQL (behind a real PgBouncer in transaction mode) and a real Redis for the
C2 tests.

Until the shared fixtures (``tests/conftest.py``) land, this starts its own PgBouncer and
redis-server on free ports in front of the local PostgreSQL (127.0.0.1:5432, trust for
the admin login), with roles under a unique prefix and a fresh migrated database per test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from core.config import Role, Settings, load_settings
from core.db import admin_connect, engine
from database import migrate

PG_HOST, PG_PORT, PG_ADMIN = "127.0.0.1", 5432, "postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


@dataclass
class Infra:
    prefix: str
    passwords: dict[Role, str]
    pgbouncer_port: int
    redis_port: int

    def env(self, dbname: str) -> dict[str, str]:
        env = {
            "POSTGRES_HOST": PG_HOST,
            "POSTGRES_PORT": str(PG_PORT),
            "POSTGRES_USER": PG_ADMIN,
            "POSTGRES_DB": dbname,
            "PGBOUNCER_HOST": "127.0.0.1",
            "PGBOUNCER_PORT": str(self.pgbouncer_port),
            "ALPHA_DB_ROLE_PREFIX": self.prefix,
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(self.redis_port),
            "REDIS_INFRA_DB": "15",
        }
        for role, password in self.passwords.items():
            env[f"ALPHA_DB_{role.value.upper()}_PASSWORD"] = password
        return env


@pytest.fixture(scope="session")
def c2_infra() -> Iterator[Infra]:
    prefix = f"c2t{secrets.token_hex(3)}"
    passwords = {role: secrets.token_hex(12) for role in Role}
    workdir = Path(tempfile.mkdtemp(prefix="c2infra-"))
    os.chmod(workdir, 0o777)
    procs: list[subprocess.Popen[bytes]] = []
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_ADMIN, dbname="postgres",
                         autocommit=True) as conn:
        for role, password in passwords.items():
            conn.execute(
                f'CREATE ROLE "{prefix}_{role.value}" LOGIN PASSWORD \'{password}\''
            )
    try:
        pgb_port, redis_port = free_port(), free_port()
        auth = workdir / "users.txt"
        auth.write_text(
            "".join(f'"{prefix}_{r.value}" "{p}"\n' for r, p in passwords.items())
        )
        ini = workdir / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host={PG_HOST} port={PG_PORT}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {pgb_port}\n"
            f"unix_socket_dir =\nauth_type = scram-sha-256\nauth_file = {auth}\n"
            "pool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = 10\n"
            f"logfile = {workdir}/pgbouncer.log\n"
        )
        for path in (auth, ini):
            os.chmod(path, 0o644)
        # PgBouncer refuses to run as root; -u drops to the postgres user.
        user = ["-u", "postgres"] if os.geteuid() == 0 else []
        procs.append(
            subprocess.Popen(
                [shutil.which("pgbouncer") or "pgbouncer", *user, str(ini)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait_port(pgb_port, procs[-1], "pgbouncer")
        procs.append(
            subprocess.Popen(
                ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
            )
        )
        _wait_port(redis_port, procs[-1], "redis-server")
        yield Infra(prefix, passwords, pgb_port, redis_port)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_ADMIN, dbname="postgres",
                             autocommit=True) as conn:
            for db, in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{prefix}%",)
            ).fetchall():
                conn.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
            for role in Role:
                conn.execute(f'DROP ROLE IF EXISTS "{prefix}_{role.value}"')
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class C2Env:
    settings: Settings
    environ: dict[str, str]
    dbname: str

    def connect(self, role: Role) -> psycopg.Connection:  # type: ignore[type-arg]
        from core.db import connect

        return connect(self.settings, role, autocommit=True)

    def redis(self, db: int) -> redis.Redis:
        from core.redis_client import redis_client

        return redis_client(self.settings, db)


@pytest.fixture
def c2_env(c2_infra: Infra, monkeypatch: pytest.MonkeyPatch) -> Iterator[C2Env]:
    dbname = f"{c2_infra.prefix}_{secrets.token_hex(4)}"
    environ = c2_infra.env(dbname)
    for name in list(os.environ):
        if name.startswith(("C2_TELEGRAM_", "POSTGRES_", "PGBOUNCER_", "REDIS_", "ALPHA_DB_")):
            monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    with admin_connect(settings) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}" OWNER "{c2_infra.prefix}_owner"')
    eng = engine(settings, Role.OWNER, direct=True)
    with eng.begin() as conn:
        migrate.upgrade(conn, {r.value: f"{c2_infra.prefix}_{r.value}" for r in Role})
    eng.dispose()
    redis.Redis(port=c2_infra.redis_port).flushall()
    yield C2Env(settings, environ, dbname)
    with admin_connect(settings) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
