"""The compose PgBouncer (``deploy/pgbouncer``) run for real: this machine's
``/usr/sbin/pgbouncer`` started by the very entrypoint the compose file uses, with the
repository's ``pgbouncer.ini``, as an unprivileged user on a free port, in front of the
test database (its roles and passwords).

What differs from the container is only what the entrypoint takes from the environment:
where the auth file goes, the server (POSTGRES_HOST/PORT), the listen address and port,
and the role-name prefix (the test session's roles are not ``alpha_*``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from core.config import Role
from devenv.ports import free_port, port_open, wait_until
from devenv.system import hand_over, run_as, service_user

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "pgbouncer"
PGBOUNCER = Path("/usr/sbin/pgbouncer")
ROLES = (Role.LISTENER, Role.APP, Role.BOT, Role.SYNC, Role.COLLECTOR, Role.READONLY)

pytestmark = pytest.mark.skipif(not PGBOUNCER.exists(), reason="no /usr/sbin/pgbouncer")


class Bouncer:
    def __init__(self, database: Any, run_dir: Path) -> None:
        stack = database.stack
        pg = database.settings.postgres
        self.database = database
        self.prefix: str = stack.prefix
        self.passwords: dict[Role, str] = dict(stack.passwords)
        self.port = free_port()
        self.run_dir = run_dir
        # The files as the container mounts them: a copy the PgBouncer user can read,
        # wherever this checkout lives (a clone under a 0700 directory is unreadable).
        self.deploy = run_dir / "deploy"
        shutil.copytree(DEPLOY, self.deploy)
        self.auth_file = run_dir / "run" / "userlist.txt"
        secret_file = run_dir / "app-password"
        secret_file.write_text(self.passwords[Role.APP], encoding="utf-8")
        self.env = {
            "PATH": f"{PGBOUNCER.parent}:/usr/bin:/bin",
            "POSTGRES_DB": database.name,
            "POSTGRES_HOST": pg.host,
            "POSTGRES_PORT": str(pg.port),
            "PGBOUNCER_LISTEN_ADDR": "127.0.0.1",
            "PGBOUNCER_PORT": str(self.port),
            "PGBOUNCER_CONFIG": str(self.deploy / "pgbouncer.ini"),
            "PGBOUNCER_AUTH_FILE": str(self.auth_file),
            "ALPHA_DB_ROLE_PREFIX": self.prefix,
            "ALPHA_DB_LISTENER_PASSWORD": self.passwords[Role.LISTENER],
            # As a Docker secret would be mounted: the *_FILE twin.
            "ALPHA_DB_APP_PASSWORD_FILE": str(secret_file),
            "ALPHA_DB_BOT_PASSWORD": self.passwords[Role.BOT],
            "ALPHA_DB_SYNC_PASSWORD": self.passwords[Role.SYNC],
            "ALPHA_DB_COLLECTOR_PASSWORD": self.passwords[Role.COLLECTOR],
            "ALPHA_DB_READONLY_PASSWORD": self.passwords[Role.READONLY],
        }
        self.user = service_user()
        self.proc: subprocess.Popen[str] | None = None

    def entrypoint(self, **env: str | None) -> subprocess.Popen[str]:
        merged = {**self.env, **env}
        return subprocess.Popen(
            ["/bin/sh", str(self.deploy / "entrypoint.sh")],
            env={k: v for k, v in merged.items() if v is not None},
            cwd=self.run_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **run_as(self.user),  # type: ignore[arg-type]
        )

    def start(self) -> None:
        self.proc = self.entrypoint()
        if not wait_until(lambda: port_open("127.0.0.1", self.port) or self.proc.poll() is not None,
                          timeout=15):  # fmt: skip
            raise AssertionError("pgbouncer did not listen")
        if self.proc.poll() is not None:
            raise AssertionError(f"pgbouncer exited: {self.proc.communicate()[0]}")

    def stop(self) -> str:
        if self.proc is None:
            return ""
        self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out

    def connect(self, user: str, password: str, dbname: str | None = None) -> psycopg.Connection:
        # As the services connect (core.db): no server-side prepared statements.
        return psycopg.connect(
            host="127.0.0.1", port=self.port, dbname=dbname or self.database.name, user=user,
            password=password, autocommit=True, prepare_threshold=None, connect_timeout=10,
        )  # fmt: skip

    def role(self, role: Role) -> str:
        return f"{self.prefix}_{role.value}"


@pytest.fixture
def bouncer(database: Any) -> Iterator[Bouncer]:
    run_dir = Path(tempfile.mkdtemp(prefix="alpha-pgb-compose-"))
    run_dir.chmod(0o755)
    b = Bouncer(database, run_dir)
    hand_over(run_dir, b.user)
    try:
        yield b
    finally:
        b.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def test_each_role_logs_in_through_the_compose_pgbouncer_in_transaction_mode(bouncer) -> None:
    bouncer.start()
    # The auth file is the entrypoint's, private to the PgBouncer user.
    assert bouncer.auth_file.stat().st_mode & 0o077 == 0
    lines = bouncer.auth_file.read_text(encoding="utf-8").splitlines()
    assert [line.split()[0] for line in lines] == [f'"{bouncer.role(r)}"' for r in ROLES]

    for role in ROLES:
        with bouncer.connect(bouncer.role(role), bouncer.passwords[role]) as conn:
            user, db, one = conn.execute("SELECT current_user, current_database(), 1").fetchone()
            assert (user, db, one) == (bouncer.role(role), bouncer.database.name, 1)
            if role is Role.COLLECTOR:
                # It may only insert candles: what alpha data collect does, through here.
                from datetime import UTC, datetime
                from decimal import Decimal

                from core.candles import Candle
                from market_data.collect import insert_closed

                one, at = Decimal(1), datetime(2026, 1, 1, tzinfo=UTC)
                bar = Candle("BTCUSDT", "1", at, one, one, one, one, one, one)
                assert insert_closed(conn, "paper", [bar]) == 1
                continue
            # A real query on the schema: every other role can read the bot registry.
            assert conn.execute("SELECT count(*) FROM trading.bots").fetchone()[0] >= 1

    # Transaction pooling: two clients connected at the same time, each between
    # transactions, are served by one and the same server connection (in session mode
    # each client would hold its own backend for as long as it is connected).
    app, password = bouncer.role(Role.APP), bouncer.passwords[Role.APP]
    with bouncer.connect(app, password) as first, bouncer.connect(app, password) as second:
        pid_first = first.execute("SELECT pg_backend_pid()").fetchone()[0]
        pid_second = second.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert pid_first == pid_second
        # ...and a transaction keeps its server connection to itself until it ends.
        with first.transaction():
            held = first.execute("SELECT pg_backend_pid()").fetchone()[0]
            assert second.execute("SELECT pg_backend_pid()").fetchone()[0] != held

    # The configuration it runs: the ini's settings, with the role names and the one
    # database entry the entrypoint derived from the environment.
    runtime = (bouncer.auth_file.parent / "pgbouncer.ini").read_text()
    assert "\npool_mode = transaction\n" in runtime
    assert "\nauth_type = scram-sha-256\n" in runtime
    assert f"\nauth_file = {bouncer.auth_file}\n" in runtime
    for role in ROLES:
        assert f"\n{bouncer.role(role)} = max_user_connections=" in runtime
    assert "\n* =" not in runtime

    # Only the ledger's database is routed, and no role reads PgBouncer's console.
    readonly = (bouncer.role(Role.READONLY), bouncer.passwords[Role.READONLY])
    for other in ("postgres", "pgbouncer"):
        with pytest.raises(psycopg.OperationalError):
            bouncer.connect(*readonly, dbname=other).close()

    # The compose healthcheck passes against it.
    health = subprocess.run(
        ["/bin/sh", str(bouncer.deploy / "healthcheck.sh")],
        env={"PATH": "/usr/bin:/bin", "POSTGRES_DB": bouncer.database.name,
             "PGBOUNCER_PORT": str(bouncer.port), "ALPHA_DB_ROLE_PREFIX": bouncer.prefix,
             "ALPHA_DB_READONLY_PASSWORD": bouncer.passwords[Role.READONLY]},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert health.returncode == 0, health.stderr


def test_wrong_password_and_unknown_role_are_refused(bouncer) -> None:
    bouncer.start()
    for user, password in [
        (bouncer.role(Role.APP), bouncer.passwords[Role.APP] + "x"),
        (bouncer.role(Role.LISTENER), bouncer.passwords[Role.READONLY]),
        # A real role the auth file does not list: the owner migrates directly.
        (bouncer.role(Role.OWNER), bouncer.passwords[Role.OWNER]),
    ]:
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            bouncer.connect(user, password).close()
    # The right one still works afterwards.
    with bouncer.connect(bouncer.role(Role.APP), bouncer.passwords[Role.APP]) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_entrypoint_refuses_a_missing_password(bouncer) -> None:
    proc = bouncer.entrypoint(ALPHA_DB_READONLY_PASSWORD=None)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 64
    assert "ALPHA_DB_READONLY_PASSWORD (or ALPHA_DB_READONLY_PASSWORD_FILE) is not set" in out
    assert not port_open("127.0.0.1", bouncer.port)
