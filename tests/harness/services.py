"""The real-service test stack: PostgreSQL, a private PgBouncer, a private Redis.

One :class:`ServiceStack` per pytest session:

- PostgreSQL is the machine's (``POSTGRES_HOST/PORT/USER/PASSWORD``, default
  127.0.0.1:5432 as ``postgres``); when nothing answers there, a private cluster is
  started under a temporary directory.
- Roles are ``{prefix}_{owner,listener,app,readonly}`` plus ``{prefix}_su`` (a superuser
  that is not the writer, for the single-writer tests), with random passwords. The
  prefix ``at{pid}_{time}`` is unique per session, so concurrent sessions on one
  server never see each other's roles or databases; a crashed session's leftovers
  (its pid is gone) are dropped when the next session starts.
- A template database is migrated once; each test gets ``CREATE DATABASE … TEMPLATE``.
- PgBouncer (transaction mode, SCRAM) and Redis run privately on free ports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psycopg
import redis
from psycopg import sql
from pydantic import SecretStr
from redis.cluster import RedisCluster

from core import db
from core.config import (
    BackupSettings,
    BybitSettings,
    DatabaseRoleSettings,
    ListenerSettings,
    PgBouncerSettings,
    PostgresSettings,
    RedisSettings,
    Role,
    ServiceSettings,
    Settings,
    SyncSettings,
    TelegramSettings,
    known_variables,
)
from database import bootstrap, guard
from devenv.pgbouncer import ROLE_POOLS, PgBouncer
from devenv.ports import free_port, pid_alive
from devenv.redis_server import ClusterNodes, RedisServer
from devenv.services import postgres_answers

#: Role-name prefix of test sessions: ``at{pid}_{base36 epoch seconds}``.
PREFIX_RE = re.compile(r"^at(\d+)_([0-9a-z]+)_")
#: Leftovers of a live session older than this are dropped too (a hung, forgotten run).
STALE_AFTER_SECONDS = 12 * 3600
SUPERUSER = "superuser"
ADMIN = "admin"

RoleLike = Role | str


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def is_stale(name: str, own_prefix: str, now: float | None = None) -> bool:
    """Whether a role/database name belongs to a dead (or very old) test session."""
    match = PREFIX_RE.match(name)
    if not match or name.startswith(own_prefix + "_"):
        return False
    pid, stamp = int(match.group(1)), int(match.group(2), 36)
    age = (now or time.time()) - stamp
    return not pid_alive(pid) or age > STALE_AFTER_SECONDS


def _drop_databases(admin: psycopg.Connection[Any], names: Sequence[str]) -> None:
    for name in names:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _drop_roles(admin: psycopg.Connection[Any], names: Sequence[str]) -> None:
    if not names:
        return
    idents = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    # Privileges they hold in the admin's database (their databases are gone by now).
    admin.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(idents))
    for name in names:
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def clean_stale(admin: psycopg.Connection[Any], own_prefix: str) -> list[str]:
    """Drop databases and roles that crashed earlier sessions left behind."""
    dbs = [
        r[0] for r in admin.execute("SELECT datname FROM pg_database WHERE datname ~ '^at[0-9]+_'")
    ]
    roles = [
        r[0] for r in admin.execute("SELECT rolname FROM pg_roles WHERE rolname ~ '^at[0-9]+_'")
    ]
    stale_dbs = [n for n in dbs if is_stale(n, own_prefix)]
    stale_roles = [n for n in roles if is_stale(n, own_prefix)]
    with contextlib.suppress(psycopg.Error):
        _drop_databases(admin, stale_dbs)
    # Databases a stale role still owns (from a session that is still dropping) block it.
    for name in stale_roles:
        with contextlib.suppress(psycopg.Error):
            _drop_roles(admin, [name])
    return stale_dbs + stale_roles


@dataclass
class ServiceStack:
    """Everything one test session shares. Build with :meth:`start`; end with :meth:`stop`."""

    admin_settings: PostgresSettings
    prefix: str
    passwords: dict[Role, str] = field(repr=False)
    superuser_password: str = field(repr=False)
    pgbouncer: PgBouncer
    redis_server: RedisServer
    tmp: Path
    template: str
    private_postgres: Any = None
    #: A Redis Cluster of three nodes, started by the first test that asks (:meth:`cluster`).
    cluster_nodes: ClusterNodes | None = None
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _verifiers: dict[str, str] = field(default_factory=dict, repr=False)

    # --- construction ------------------------------------------------------------

    @classmethod
    def start(cls, *, private_postgres: bool = False) -> ServiceStack:
        """``private_postgres``: always run a private cluster (one a test may stop and
        start, never the machine's shared server)."""
        prefix = f"at{os.getpid()}_{_base36(int(time.time()))}"
        tmp = Path(tempfile.mkdtemp(prefix=f"alpha-{prefix}-"))
        tmp.chmod(0o711)  # PgBouncer runs unprivileged and must reach its own subfolder
        admin_settings, private_pg = _postgres(tmp, force_private=private_postgres)
        passwords = {role: secrets.token_urlsafe(18) for role in Role}
        su_password = secrets.token_urlsafe(18)
        roles = DatabaseRoleSettings(
            role_prefix=prefix,
            **{f"{r.value}_password": SecretStr(p) for r, p in passwords.items()},
        )
        stack = cls(
            admin_settings=admin_settings,
            prefix=prefix,
            passwords=passwords,
            superuser_password=su_password,
            pgbouncer=PgBouncer(
                run_dir=tmp / "pgbouncer",
                server_host=admin_settings.host,
                server_port=admin_settings.port,
                port=free_port(),
                user_pools={roles.name(r): ROLE_POOLS[r.value] for r in Role},
            ),
            redis_server=RedisServer(run_dir=tmp / "redis", port=free_port()),
            tmp=tmp,
            template=f"{prefix}_tpl",
            private_postgres=private_pg,
        )
        try:
            stack._bootstrap(roles)
        except BaseException:
            stack.stop()
            raise
        return stack

    def _bootstrap(self, roles: DatabaseRoleSettings) -> None:
        with self.admin() as admin:
            clean_stale(admin, self.prefix)
            bootstrap.ensure_roles(admin, roles)
            admin.execute(
                sql.SQL("CREATE ROLE {} SUPERUSER LOGIN PASSWORD {}").format(
                    sql.Identifier(self.superuser_name),
                    sql.Literal(db.scram_verifier(self.superuser_password)),
                )
            )
            bootstrap.ensure_database(admin, self.template, roles.name(Role.OWNER))
            verifiers = bootstrap.scram_verifiers(admin, [*self.role_names, self.superuser_name])
        bootstrap.upgrade(self.settings(self.template))
        guard.lock(self.settings(self.template))  # as `alpha db upgrade` does
        self.redis_server.start()
        self._start_pgbouncer(verifiers)

    def _start_pgbouncer(self, verifiers: Mapping[str, str]) -> None:
        self._verifiers = dict(verifiers)
        for _attempt in range(3):  # the free port may be taken between pick and bind
            try:
                self.pgbouncer.start(verifiers)
                return
            except Exception:
                self.pgbouncer.stop()
                self.pgbouncer.port = free_port()
        self.pgbouncer.start(verifiers)

    # --- outages (fault tests) ---------------------------------------------------

    def stop_pgbouncer(self) -> None:
        """Stop PgBouncer (clients see refused connections) until :meth:`restart_pgbouncer`."""
        self.pgbouncer.stop()

    def restart_pgbouncer(self, timeout: float = 10.0) -> None:
        """Start PgBouncer again on the same port (retrying while the old socket lingers)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.pgbouncer.start(self._verifiers)
                return
            except Exception:
                self.pgbouncer.stop()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop_postgres(self) -> None:
        """Stop the private cluster (only a stack started with ``private_postgres=True``)."""
        if self.private_postgres is None:
            raise RuntimeError("refusing to stop the machine's shared PostgreSQL")
        self.private_postgres.stop()

    def start_postgres(self) -> None:
        if self.private_postgres is None:
            raise RuntimeError("this stack uses the machine's PostgreSQL")
        self.private_postgres.start()

    # --- names and settings ------------------------------------------------------

    @property
    def superuser_name(self) -> str:
        return f"{self.prefix}_su"

    @property
    def role_names(self) -> list[str]:
        return [f"{self.prefix}_{r.value}" for r in Role]

    def role_settings(self) -> DatabaseRoleSettings:
        return DatabaseRoleSettings(
            role_prefix=self.prefix,
            **{f"{r.value}_password": SecretStr(p) for r, p in self.passwords.items()},
        )

    def cluster(self) -> ClusterNodes:
        """The session's Redis Cluster (docs/redis.md#redis-cluster): three nodes sharing
        the slots, so a test's keys live on several of them; started on first use and
        stopped with the stack."""
        if self.cluster_nodes is None:
            nodes = ClusterNodes(run_dir=self.tmp / "redis-cluster")
            try:
                nodes.start()
            except BaseException:
                nodes.stop()
                raise
            self.cluster_nodes = nodes
        return self.cluster_nodes

    def _redis_server(self, cluster: bool) -> RedisServer:
        """Where a client is pointed: the standalone server, or the cluster's seed node."""
        return self.cluster().seed if cluster else self.redis_server

    def settings(self, dbname: str, *, cluster: bool = False) -> Settings:
        """A full ``Settings`` for ``dbname`` through this stack (built, not from os.environ);
        ``cluster``: Redis is the session's one-node cluster (``REDIS_CLUSTER=true``)."""
        pg = self.admin_settings
        server = self._redis_server(cluster)
        return Settings(
            postgres=PostgresSettings(
                host=pg.host, port=pg.port, db=dbname, user=pg.user, password=pg.password
            ),
            pgbouncer=PgBouncerSettings(host=self.pgbouncer.host, port=self.pgbouncer.port),
            db_roles=self.role_settings(),
            redis=RedisSettings(
                host=server.host,
                port=server.port,
                db=0,
                password=SecretStr(server.password or ""),
                cluster=cluster,
            ),
            bybit=BybitSettings(),
            telegram=TelegramSettings(),
            service=ServiceSettings(),
            listener=ListenerSettings(),
            sync=SyncSettings(),
            backup=BackupSettings(),
            bot_id=None,
            accounts={},
        )

    def env(self, dbname: str, *, cluster: bool = False) -> dict[str, str]:
        """Environment for an ``alpha`` subprocess against ``dbname``.

        Starts from ``os.environ`` minus every variable the configuration reads, so a
        developer's own settings never leak into a test.
        """
        known = known_variables()
        base = {
            k: v
            for k, v in os.environ.items()
            if k not in known and not k.startswith(("BYBIT_ACCOUNT_", "ALPHA_", "POSTGRES_"))
        }
        pg = self.admin_settings
        server = self._redis_server(cluster)
        env = {
            **base,
            "POSTGRES_HOST": pg.host,
            "POSTGRES_PORT": str(pg.port),
            "POSTGRES_DB": dbname,
            "POSTGRES_USER": pg.user,
            "PGBOUNCER_HOST": self.pgbouncer.host,
            "PGBOUNCER_PORT": str(self.pgbouncer.port),
            "REDIS_HOST": server.host,
            "REDIS_PORT": str(server.port),
            "REDIS_DB": "0",
            "REDIS_PASSWORD": server.password or "",
            "REDIS_CLUSTER": "true" if cluster else "false",
            "ALPHA_DB_ROLE_PREFIX": self.prefix,
            "ALPHA_LOG_FORMAT": "text",
            "PYTHONUNBUFFERED": "1",
        }
        if pg.password:
            env["POSTGRES_PASSWORD"] = pg.password.get_secret_value()
        for role, password in self.passwords.items():
            env[f"ALPHA_DB_{role.value.upper()}_PASSWORD"] = password
        return env

    # --- connections -------------------------------------------------------------

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        pg = self.admin_settings
        return psycopg.connect(
            host=pg.host,
            port=pg.port,
            dbname=dbname,
            user=pg.user,
            password=pg.password.get_secret_value() if pg.password else None,
            autocommit=True,
            connect_timeout=10,
        )

    def connect(
        self, dbname: str, role: RoleLike, *, direct: bool = False, autocommit: bool = False
    ) -> psycopg.Connection[Any]:
        """As a role (``Role`` or its value), ``"superuser"`` (not the writer) or ``"admin"``."""
        if role == ADMIN:
            conn = self.admin(dbname)
            conn.autocommit = autocommit
            return conn
        if role == SUPERUSER:
            host, port = (
                (self.admin_settings.host, self.admin_settings.port)
                if direct
                else (self.pgbouncer.host, self.pgbouncer.port)
            )
            conn = psycopg.connect(
                host=host,
                port=port,
                dbname=dbname,
                user=self.superuser_name,
                password=self.superuser_password,
                autocommit=autocommit,
                connect_timeout=10,
            )
            if not direct:
                conn.prepare_threshold = None
            return conn
        return db.connect(self.settings(dbname), Role(role), direct=direct, autocommit=autocommit)

    def redis(self, db_index: int = 0, *, cluster: bool = False) -> redis.Redis:
        """A client of one DB; on the cluster a ``RedisCluster`` (typed as ``redis.Redis``
        as the services type theirs), which routes each key to the node owning it."""
        if not cluster:
            return self.redis_server.client(db_index)
        seed = self.cluster().seed
        client = RedisCluster(
            host=seed.host, port=seed.port, password=seed.password, decode_responses=True,
            socket_connect_timeout=2,
        )  # fmt: skip
        return cast(redis.Redis, client)

    # --- databases -------------------------------------------------------------

    def create_database(self) -> str:
        name = f"{self.prefix}_d{next(self._counter)}"
        owner = f"{self.prefix}_{Role.OWNER.value}"
        with self.admin() as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(self.template), sql.Identifier(owner)
                )
            )
        return name

    def empty_database(self) -> str:
        """A database with no schema at all (for migration tests), owned by the owner role."""
        name = f"{self.prefix}_e{next(self._counter)}"
        with self.admin() as admin:
            bootstrap.ensure_database(admin, name, f"{self.prefix}_{Role.OWNER.value}")
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as admin:
            _drop_databases(admin, [name])

    # --- teardown ----------------------------------------------------------------

    def stop(self) -> None:
        self.pgbouncer.stop()
        self.redis_server.stop()
        if self.cluster_nodes is not None:
            self.cluster_nodes.stop()
        with contextlib.suppress(psycopg.Error), self.admin() as admin:
            dbs = [
                r[0]
                for r in admin.execute(
                    "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
                    (self.prefix + "_",),
                )
            ]
            _drop_databases(admin, dbs)
            # Every role under the prefix: the four, the superuser, and any a test made.
            roles = [
                r[0]
                for r in admin.execute(
                    "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)",
                    (self.prefix + "_",),
                )
            ]
            _drop_roles(admin, roles)
        if self.private_postgres is not None:
            self.private_postgres.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


@dataclass
class Database:
    """One fresh, migrated database for one test (the ``database`` fixture)."""

    name: str
    stack: ServiceStack
    #: Redis is the session's one-node Redis Cluster (``REDIS_CLUSTER=true``).
    cluster: bool = False
    settings: Settings = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.settings = self.stack.settings(self.name, cluster=self.cluster)

    def env(self) -> dict[str, str]:
        return self.stack.env(self.name, cluster=self.cluster)

    def redis(self, db_index: int = 0) -> redis.Redis:
        """A client of this database's Redis (the cluster's DB 0 when ``cluster``)."""
        return self.stack.redis(db_index, cluster=self.cluster)

    def connect(
        self, role: RoleLike, direct: bool = False, *, autocommit: bool = False
    ) -> psycopg.Connection[Any]:
        return self.stack.connect(self.name, role, direct=direct, autocommit=autocommit)

    def alpha(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``alpha ARGS`` as a subprocess against this database (no stdin, no .env)."""
        return subprocess.run(
            [*alpha_command(), *args],
            env={**self.env(), **(env or {})},
            cwd=self.stack.tmp,  # no stray .env from the developer's checkout
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def alpha_command() -> list[str]:
    """The installed ``alpha`` script of this interpreter's environment."""
    script = Path(sys.executable).with_name("alpha")
    return [str(script)] if script.exists() else [sys.executable, "-m", "core.cli"]


def _postgres(tmp: Path, *, force_private: bool = False) -> tuple[PostgresSettings, Any]:
    """The machine's PostgreSQL if its admin login answers (and ``force_private`` is off),
    else a private cluster."""
    configured = PostgresSettings()
    if not force_private and postgres_answers(configured):
        return configured, None
    from devenv.postgres import PrivatePostgres

    private = PrivatePostgres(run_dir=tmp / "postgres", port=free_port())
    private.start()
    return (
        PostgresSettings(host=private.host, port=private.port, user=private.user, password=None),
        private,
    )


def settings_without(settings: Any, service: str) -> Any:
    """``settings`` with ``service``'s port (``"redis"`` or ``"database"``) moved to one
    nothing listens on: the service is away."""
    if service == "redis":
        return dataclasses.replace(
            settings, redis=settings.redis.model_copy(update={"port": free_port()})
        )
    return dataclasses.replace(
        settings,
        postgres=settings.postgres.model_copy(update={"port": free_port()}),
        pgbouncer=settings.pgbouncer.model_copy(update={"port": free_port()}),
    )
