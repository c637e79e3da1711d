"""``alpha dev services up|status|down`` and the private PgBouncer's admin console."""

from __future__ import annotations

import json
import os

import psycopg
import pytest
import redis as redis_lib
from psycopg import sql

from core.db import scram_verifier
from devenv.ports import free_port, port_open


def _run_dir(services, name: str):
    path = services.tmp / name  # services.tmp is reachable by the unprivileged user
    path.mkdir()
    return path


def test_up_status_down_round_trip(database, services) -> None:
    run_dir = _run_dir(services, "dev")
    redis_port, bouncer_port = free_port(), free_port()
    env = {
        **{k: v for k, v in database.env().items() if not k.startswith("ALPHA_DB_")},
        "ALPHA_DB_ROLE_PREFIX": f"{services.prefix}_dv",
        "POSTGRES_DB": f"{services.prefix}_dvdb",
        "REDIS_PORT": str(redis_port),
        "PGBOUNCER_PORT": str(bouncer_port),
    }
    env.pop("REDIS_PASSWORD")
    up = database.alpha("dev", "services", "up", "--run-dir", str(run_dir), "--json", env=env)
    try:
        assert up.returncode == 0, up.stderr
        printed = json.loads(up.stdout)
        assert printed["REDIS_PORT"] == str(redis_port)
        assert printed["PGBOUNCER_PORT"] == str(bouncer_port)
        assert printed["POSTGRES_PORT"] == str(services.admin_settings.port)  # reused
        assert len(printed["ALPHA_DB_APP_PASSWORD"]) >= 16  # generated, kept in secrets.json
        assert oct((run_dir / "secrets.json").stat().st_mode & 0o777) == "0o600"

        status = database.alpha("dev", "services", "status", "--run-dir", str(run_dir), "--json",
                                env=env)  # fmt: skip
        assert status.returncode == 0, status.stdout
        state = json.loads(status.stdout)
        assert state["postgres"]["managed"] is False and state["redis"]["managed"] is True
        assert all(info["answers"] for info in state.values())

        # The printed environment is enough to migrate and use the registry through it.
        ready = {**env, **printed}
        upgrade = database.alpha("db", "upgrade", env=ready)
        assert upgrade.returncode == 0, upgrade.stderr
        listing = database.alpha("bots", "list", env=ready)
        assert listing.returncode == 0 and "external" in listing.stdout
        with psycopg.connect(
            host="127.0.0.1", port=bouncer_port, dbname=ready["POSTGRES_DB"],
            user=f"{services.prefix}_dv_app", password=ready["ALPHA_DB_APP_PASSWORD"],
            prepare_threshold=None,
        ) as conn:  # fmt: skip
            assert conn.execute("SELECT count(*) FROM trading.bots").fetchone() == (1,)

        # Its Redis has the services' ACL users, as production does (docs/redis.md#access).
        listener = redis_lib.Redis(port=redis_port, username="listener",
                                   password=printed["REDIS_LISTENER_PASSWORD"])  # fmt: skip
        assert listener.hset("position:mom_001:BTCUSDT", "qty", "1") == 1
        with pytest.raises(redis_lib.exceptions.NoPermissionError):
            listener.set("bot:mom_001:state", "stopped")
        c2 = redis_lib.Redis(port=redis_port, username="c2", password=printed["REDIS_C2_PASSWORD"])
        assert c2.set("bot:mom_001:state", "paused")
        with pytest.raises(redis_lib.exceptions.NoPermissionError):
            c2.flushall()

        # A second `up` reuses what the first one started.
        again = database.alpha("dev", "services", "up", "--run-dir", str(run_dir), "--json",
                               env=env)  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout) == printed
    finally:
        down = database.alpha("dev", "services", "down", "--run-dir", str(run_dir), env=env)
    assert down.returncode == 0 and "pgbouncer, redis" in down.stdout
    assert not port_open("127.0.0.1", redis_port) and not port_open("127.0.0.1", bouncer_port)
    assert "postgres" not in down.stdout  # a reused server is never stopped
    stopped = database.alpha("dev", "services", "status", "--run-dir", str(run_dir), env=env)
    assert stopped.returncode == 1


def test_pgbouncer_learns_new_roles_on_reload(database, services) -> None:
    name, password = f"{services.prefix}_late", "late-pw-123"
    with services.admin() as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(scram_verifier(password))
            )
        )
        verifiers = dict(
            admin.execute(
                "SELECT rolname, rolpassword FROM pg_authid WHERE starts_with(rolname, %s)",
                (services.prefix + "_",),
            ).fetchall()
        )

    def login() -> None:
        psycopg.connect(host="127.0.0.1", port=services.pgbouncer.port, dbname=database.name,
                        user=name, password=password, connect_timeout=5).close()  # fmt: skip

    with pytest.raises(psycopg.OperationalError):
        login()  # not in the auth_file yet
    services.pgbouncer.reload(verifiers)
    login()
    with services.pgbouncer.admin() as console:
        pools = console.execute("SHOW POOLS").fetchall()
        config = dict((row[0], row[1]) for row in console.execute("SHOW CONFIG").fetchall())
    assert any(row[0] == database.name for row in pools)
    assert config["pool_mode"] == "transaction" and config["auth_type"] == "scram-sha-256"
    assert "extra_float_digits" in config["ignore_startup_parameters"]
    assert os.geteuid() != 0 or services.pgbouncer.pidfile.stat().st_uid != 0  # never root
