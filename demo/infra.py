"""The demo's own PostgreSQL database, PgBouncer and Redis, like the compose topology.

PostgreSQL is the machine's when its admin login (``POSTGRES_*``) answers, else a private
cluster from the devenv library. The demo never touches the operator's ``alpha`` roles or
database: its roles carry a unique prefix and its database a unique name, both dropped
at the end unless ``--keep``. PgBouncer (transaction mode, one pool per role) and Redis
(password, AOF) run privately on free ports under the demo's output folder.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from core import redis_acl
from core.config import PostgresSettings, Role, known_variables
from core.errors import UserError
from core.ids import BotId
from demo.services import alpha_command
from devenv.pgbouncer import ROLE_POOLS, PgBouncer
from devenv.ports import free_port
from devenv.redis_server import RedisServer
from devenv.system import reachable, service_user

_ACCOUNT_VAR = re.compile(r"^BYBIT_ACCOUNT_\w+$")


@dataclass
class Infra:
    out: Path
    stamp: str
    admin: PostgresSettings
    private_postgres: Any = None
    passwords: dict[Role, str] = field(
        default_factory=lambda: {r: secrets.token_urlsafe(18) for r in Role}, repr=False
    )
    pgbouncer: PgBouncer | None = None
    redis: RedisServer | None = None
    #: Redis ACL user -> password: every service and bot logs in as in production.
    redis_passwords: dict[str, str] = field(default_factory=dict, repr=False)
    scratch: Path | None = None  # PgBouncer's folder when the output is out of its reach

    @property
    def prefix(self) -> str:
        return f"dm{self.stamp}"

    @property
    def database(self) -> str:
        return f"alpha_demo_{self.stamp}"

    def role(self, role: Role) -> str:
        return f"{self.prefix}_{role.value}"

    # --- environment of every child ----------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        """A child's environment: the caller's, minus any Alpha setting (so an operator's
        own .env or shell never points a demo process at real services), plus the demo's."""
        known = known_variables()
        env = {k: v for k, v in os.environ.items() if k not in known and not _ACCOUNT_VAR.match(k)}
        env.update(
            POSTGRES_HOST=self.admin.host,
            POSTGRES_PORT=str(self.admin.port),
            POSTGRES_DB=self.database,
            POSTGRES_USER=self.admin.user,
            ALPHA_DB_ROLE_PREFIX=self.prefix,
            ALPHA_LOG_FORMAT="text",
        )
        if self.admin.password:
            env["POSTGRES_PASSWORD"] = self.admin.password.get_secret_value()
        if self.pgbouncer is not None:  # not yet while migrating
            env.update(PGBOUNCER_HOST=self.pgbouncer.host, PGBOUNCER_PORT=str(self.pgbouncer.port))
        if self.redis is not None:
            env.update(REDIS_HOST=self.redis.host, REDIS_PORT=str(self.redis.port))
            if self.redis.password:
                env["REDIS_PASSWORD"] = self.redis.password
        for role, password in self.passwords.items():
            env[f"ALPHA_DB_{role.value.upper()}_PASSWORD"] = password
        env.update(extra)
        return env

    # --- lifecycle -------------------------------------------------------------------

    def admin_connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.admin.host,
            port=self.admin.port,
            user=self.admin.user,
            password=self.admin.password.get_secret_value() if self.admin.password else None,
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
        )

    def start_postgres(self) -> None:
        try:
            self.admin_connect().close()
            return
        except psycopg.OperationalError:
            pass
        from devenv.postgres import PrivatePostgres

        private = PrivatePostgres(run_dir=self.out / "postgres", port=free_port())
        private.start()
        self.private_postgres = private
        self.admin = PostgresSettings(host=private.host, port=private.port, user=private.user)

    def migrate(self, log: Path) -> None:
        """``alpha db upgrade`` as a child, as the compose ``migrate`` one-shot does."""
        with log.open("ab") as out:
            result = subprocess.run(
                [*alpha_command(), "db", "upgrade"],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        if result.returncode != 0:
            raise UserError(f"alpha db upgrade failed (exit {result.returncode}); see {log}")

    def redis_login(self, user: str | None) -> dict[str, str]:
        """``REDIS_USERNAME``/``REDIS_PASSWORD`` of ``user`` (None: the operator's)."""
        if user is None or self.redis is None:
            return {}
        return {"REDIS_USERNAME": user, "REDIS_PASSWORD": self.redis_passwords[user]}

    def start_pool_and_cache(self, bot_ids: Sequence[BotId] = ()) -> None:
        from database import bootstrap

        with self.admin_connect() as admin:
            verifiers = bootstrap.scram_verifiers(admin, [self.role(r) for r in Role])
        users = redis_acl.service_users(bot_ids)
        self.redis_passwords = {u.name: secrets.token_urlsafe(18) for u in users}
        self.redis = RedisServer(
            run_dir=self.out / "redis",
            port=free_port(),
            users=[(u, self.redis_passwords[u.name]) for u in users],
        )
        self.redis.start()
        run_dir = self._pgbouncer_dir()
        for _attempt in range(3):  # a free port can be taken between pick and bind
            self.pgbouncer = PgBouncer(
                run_dir=run_dir,
                server_host=self.admin.host,
                server_port=self.admin.port,
                port=free_port(),
                user_pools={self.role(r): ROLE_POOLS[r.value] for r in Role},
            )
            try:
                self.pgbouncer.start(verifiers)
                return
            except UserError:
                raise  # a clear refusal (binary missing, folder unreachable): no retry
            except Exception:
                self.pgbouncer.stop()
        raise UserError(f"PgBouncer did not start; see {run_dir}")

    def _pgbouncer_dir(self) -> Path:
        """``<output>/pgbouncer``, unless PgBouncer's unprivileged user (we are root) cannot
        enter the output's parents — pytest's ``/tmp/pytest-of-root`` is 0700 — then a
        scratch folder of its own under the system temp directory."""
        wanted = self.out / "pgbouncer"
        try:
            reachable(wanted, service_user())
            return wanted
        except UserError:
            self.scratch = Path(tempfile.mkdtemp(prefix=f"alpha-demo-{self.stamp}-"))
            self.scratch.chmod(0o711)
            return self.scratch / "pgbouncer"

    def stop(self, *, keep: bool) -> None:
        if self.pgbouncer is not None:
            self.pgbouncer.stop()
        if self.scratch is not None and not keep:
            shutil.rmtree(self.scratch, ignore_errors=True)
        if self.redis is not None and not keep:
            self.redis.stop()
        if not keep:
            self.drop()
        if self.private_postgres is not None and not keep:
            self.private_postgres.stop()

    def drop(self) -> None:
        try:
            with self.admin_connect() as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.database)
                    )
                )
                for role in Role:
                    admin.execute(
                        sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(self.role(role)))
                    )
        except psycopg.Error as exc:
            print(f"demo: could not drop {self.database}: {type(exc).__name__}")


def infra_summary(infra: Infra) -> Mapping[str, str]:
    assert infra.pgbouncer is not None and infra.redis is not None
    return {
        "postgres": f"{infra.admin.host}:{infra.admin.port} database {infra.database}",
        "pgbouncer": f"{infra.pgbouncer.host}:{infra.pgbouncer.port}",
        "redis": f"{infra.redis.host}:{infra.redis.port}",
    }
