"""A private PgBouncer: transaction pooling, SCRAM, one pool per role, admin console.

PgBouncer refuses to run as root, so as root it runs as an unprivileged user that owns
its run directory. Its ``auth_file`` holds the roles' SCRAM verifiers exactly as
PostgreSQL stores them (same salt and iterations): only then can PgBouncer log in to
the server with the client's SCRAM proof (``pg_authid.rolpassword``, read by the
bootstrap's admin login).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from core.db import scram_verifier
from core.errors import UserError
from devenv.ports import pid_alive, port_open, wait_until
from devenv.system import hand_over, reachable, require_binary, run_as, service_user

ADMIN_USER = "pgbouncer_admin"

#: Per-role server-connection limits (PgBouncer ``[users]``), by role suffix. The owner
#: migrates directly; through PgBouncer it only gets a small session-mode pool for ad-hoc
#: maintenance.
ROLE_POOLS: Mapping[str, str] = {
    "listener": "max_user_connections=10",
    "app": "max_user_connections=10",
    "bot": "max_user_connections=40",
    "sync": "max_user_connections=10",
    "readonly": "max_user_connections=10",
    "owner": "pool_mode=session max_user_connections=2",
    "backup": "pool_mode=session max_user_connections=2",  # direct in production
    "collector": "max_user_connections=2",
}


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@dataclass
class PgBouncer:
    """One PgBouncer process serving every database of one PostgreSQL server."""

    run_dir: Path
    server_host: str
    server_port: int
    port: int
    host: str = "127.0.0.1"
    #: ``{role_name: pool settings}`` for the ``[users]`` section.
    user_pools: Mapping[str, str] = field(default_factory=dict)
    default_pool_size: int = 5
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)

    @property
    def ini(self) -> Path:
        return self.run_dir / "pgbouncer.ini"

    @property
    def auth_file(self) -> Path:
        return self.run_dir / "userlist.txt"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "pgbouncer.pid"

    @property
    def logfile(self) -> Path:
        return self.run_dir / "pgbouncer.log"

    def config_text(self) -> str:
        # Keys in [users] cannot be quoted; role names are [a-z0-9_] (DatabaseRoleSettings).
        users = "\n".join(f"{name} = {pool}" for name, pool in self.user_pools.items())
        return f"""\
;; Written by devenv.pgbouncer: a private PgBouncer for development and tests.
[databases]
;; Any database name goes to the same server under the same name (test databases come
;; and go); pools appear on first use and are dropped when idle.
* = host={self.server_host} port={self.server_port}

[users]
{users}

[pgbouncer]
listen_addr = {self.host}
listen_port = {self.port}
;; No Unix socket: several private instances share /tmp on one machine.
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {self.auth_file}
admin_users = {ADMIN_USER}
stats_users = {ADMIN_USER}
pool_mode = transaction
max_client_conn = 500
default_pool_size = {self.default_pool_size}
reserve_pool_size = 0
server_idle_timeout = 30
autodb_idle_timeout = 60
;; psycopg and JDBC send these; PgBouncer cannot keep them per client in transaction mode.
ignore_startup_parameters = extra_float_digits,options
server_login_retry = 1
logfile = {self.logfile}
pidfile = {self.pidfile}
"""

    def write_auth_file(self, verifiers: Mapping[str, str]) -> None:
        """``verifiers``: ``{role_name: 'SCRAM-SHA-256$…'}`` as stored by PostgreSQL."""
        lines = [f"{_quote(ADMIN_USER)} {_quote(scram_verifier(self.admin_password))}"]
        lines += [f"{_quote(name)} {_quote(secret)}" for name, secret in verifiers.items()]
        tmp = self.auth_file.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.chmod(0o600)
        user = service_user()
        if user is not None:
            os.chown(tmp, user.pw_uid, user.pw_gid)
        tmp.replace(self.auth_file)  # atomic: a reload never reads half a file

    def start(self, verifiers: Mapping[str, str] | None = None) -> None:
        binary = require_binary("pgbouncer")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o700)
        self.ini.write_text(self.config_text(), encoding="utf-8")
        self.ini.chmod(0o600)
        user = service_user()
        reachable(self.run_dir, user)
        hand_over(self.run_dir, user)
        self.write_auth_file(verifiers or {})
        result = subprocess.run(
            [binary, "-d", str(self.ini)],
            cwd=self.run_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            **run_as(user),
        )
        if result.returncode != 0 or not wait_until(
            lambda: port_open(self.host, self.port), timeout=10
        ):
            raise UserError(
                f"pgbouncer did not start on {self.host}:{self.port}: "
                f"{(result.stderr or self._log_tail()).strip().splitlines()[-1:]}"
            )

    def _log_tail(self) -> str:
        try:
            return self.logfile.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return ""

    def admin(self) -> psycopg.Connection[Any]:
        """The admin console (database ``pgbouncer``): simple-query protocol only."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            dbname="pgbouncer",
            user=ADMIN_USER,
            password=self.admin_password,
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
            connect_timeout=5,
        )

    def reload(self, verifiers: Mapping[str, str] | None = None) -> None:
        """Re-read the config (and a new ``auth_file``); returns once PgBouncer has."""
        if verifiers is not None:
            self.write_auth_file(verifiers)
        with self.admin() as conn:
            conn.execute("RELOAD")

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and pid_alive(pid)

    def stop(self, timeout: float = 10) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)  # immediate shutdown; SIGINT would wait for clients
        except ProcessLookupError:
            return
        wait_until(lambda: not self.running(), timeout=timeout)
