"""Migrations up/down/up through ``alpha db``, bootstrap, and dump → restore of the ledger."""

from __future__ import annotations

import os
import subprocess

import psycopg
import pytest
from psycopg import sql

from core.config import Role
from core.db import scram_matches
from database import bootstrap
from devenv.system import find_binary

TABLES = {
    "bots", "fills", "orders", "funding", "bot_commands", "sync_runs", "wallet_snapshots",
    "backups", "fill_rejects", "drift_events",
}  # fmt: skip


def _tables(database, name: str) -> set[str]:
    with database.stack.admin(name) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'trading'"
        ).fetchall()
    return {r[0] for r in rows}


def test_upgrade_downgrade_upgrade_via_cli(database, services) -> None:
    name = f"{services.prefix}_mig"  # not created yet: `alpha db upgrade` bootstraps it
    env = {"POSTGRES_DB": name}
    try:
        up = database.alpha("db", "upgrade", env=env)
        assert up.returncode == 0, up.stderr
        assert f"created database {name}" in up.stdout
        assert _tables(database, name) >= TABLES
        current = database.alpha("db", "current", env=env)
        head = current.stdout.strip()
        assert current.returncode == 0 and head and head != "(empty)"

        # Base drops the ledger: without --yes (and no terminal to ask) nothing happens.
        refused = database.alpha("db", "downgrade", "base", env=env)
        assert refused.returncode == 1 and "pass --yes to confirm" in refused.stderr
        assert _tables(database, name) >= TABLES
        down = database.alpha("db", "downgrade", "base", "--yes", env=env)
        assert down.returncode == 0, down.stderr
        assert _tables(database, name) == set()
        assert database.alpha("db", "current", env=env).stdout.strip() == "(empty)"

        again = database.alpha("db", "upgrade", env=env)
        assert again.returncode == 0, again.stderr
        assert "created" not in again.stdout  # roles and database were already there
        assert _tables(database, name) >= TABLES
        assert database.alpha("db", "current", env=env).stdout.strip() == head
        with database.stack.admin(name) as conn:
            owner = conn.execute(
                "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'trading'"
            ).fetchone()
            external = conn.execute("SELECT bot_code FROM trading.bots").fetchall()
        assert owner == (f"{services.prefix}_owner",) and external == [("ext",)]
    finally:
        services.drop_database(name)


def test_db_commands_report_an_unreachable_server_in_one_line(database) -> None:
    result = database.alpha("db", "current", env={"POSTGRES_PORT": "1"})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.startswith("alpha: error: cannot connect to PostgreSQL as ")
    assert database.settings.db_roles.owner_password.get_secret_value() not in result.stderr


def test_bootstrap_creates_missing_roles_and_updates_changed_passwords(services) -> None:
    prefix = f"{services.prefix}_b"
    roles = services.role_settings().model_copy(update={"role_prefix": prefix})
    with services.admin() as admin:
        created = bootstrap.ensure_roles(admin, roles)
        assert created == [
            *(f"created role {prefix}_{r.value}" for r in Role),
            f"allowed {prefix}_backup to create its scratch databases",
        ]
        assert bootstrap.ensure_roles(admin, roles) == []  # idempotent
        changed = roles.model_copy(update={"app_password": type(roles.app_password)("new-pw-1")})
        assert bootstrap.ensure_roles(admin, changed) == [f"updated password of {prefix}_app"]
        stored = admin.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (f"{prefix}_app",)
        ).fetchone()
        assert stored is not None and scram_matches(stored[0], "new-pw-1")
        assert not scram_matches(stored[0], services.passwords[Role.APP])
        for r in Role:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(f"{prefix}_{r.value}")))


def _fill(conn: psycopg.Connection, exec_id: str) -> None:
    conn.execute(
        """INSERT INTO trading.fills (account, exec_id, bot_id, symbol, side, exec_price,
               exec_qty, exec_value, exec_fee, exec_time, source, raw)
           VALUES ('main', %s, 'external', 'BTCUSDT', 'Sell', '64321.123456789', '0.001',
                   '64.321123456789', '-0.0123', now(), 'ws', '{"execId": "x"}')""",
        (exec_id,),
    )


@pytest.mark.skipif(not find_binary("pg_restore"), reason="pg_restore not installed")
def test_dump_and_restore_keeps_the_ledger_and_the_guard(database, services, tmp_path) -> None:
    with database.connect(Role.LISTENER) as conn:
        for i in range(3):
            _fill(conn, f"e{i}")
    pg = database.settings.postgres
    env = {**os.environ, "PGPASSWORD": services.passwords[Role.OWNER]}
    owner = f"{services.prefix}_owner"
    dump = tmp_path / "db.dump"
    common = ["-h", pg.host, "-p", str(pg.port), "-U", owner]
    subprocess.run(
        [find_binary("pg_dump"), *common, "-Fc", "-f", str(dump), database.name],
        env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    target = services.empty_database()
    # Restored as the admin login, as `alpha backup restore` does: the dump carries the
    # guard's lock (an admin-owned guard function and an event trigger, database/guard.py),
    # which only a superuser may recreate.
    admin = services.admin_settings
    as_admin = ["-h", admin.host, "-p", str(admin.port), "-U", admin.user]
    if admin.password:
        env["PGPASSWORD"] = admin.password.get_secret_value()
    try:
        result = subprocess.run(
            [find_binary("pg_restore"), *as_admin, "--exit-on-error", "-d", target, str(dump)],
            env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        with services.connect(target, Role.READONLY) as conn:
            rows = conn.execute(
                "SELECT exec_id, exec_price::text, exec_fee::text FROM trading.fills ORDER BY 1"
            ).fetchall()
        assert rows == [(f"e{i}", "64321.123456789", "-0.0123") for i in range(3)]
        # The restored database still has the single-writer guard and the grants.
        refused = pytest.raises(psycopg.errors.InsufficientPrivilege)
        with services.connect(target, "superuser", direct=True) as conn, refused:
            _fill(conn, "late")
        with services.connect(target, Role.LISTENER) as conn:
            _fill(conn, "e9")
        # And its lock: the owner cannot disable it there either.
        with services.connect(target, Role.OWNER, direct=True) as conn, refused:
            conn.execute("ALTER TABLE trading.fills DISABLE TRIGGER ALL")
    finally:
        services.drop_database(target)


def _raw_types(database) -> dict[str, str]:
    with database.stack.admin(database.name) as conn:
        rows = conn.execute(
            "SELECT table_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'trading' AND column_name = 'raw'"
            " AND table_name IN ('fills', 'funding', 'orders')"
        ).fetchall()
    return dict(rows)


def test_0004_keeps_execution_messages_as_json_and_back(database) -> None:
    from tests.websocket_listener.helpers import SHARED, random_executions, register_bots
    from websocket_listener.envelope import Envelope
    from websocket_listener.records import Recorder
    from websocket_listener.writer import write_batch

    assert _raw_types(database) == {"fills": "json", "funding": "json", "orders": "jsonb"}
    register_bots(database, SHARED)
    items = random_executions(SHARED, 40, start_ms=1_790_000_000_000, seed=11)
    env = Envelope.from_ws("main", {"topic": "execution", "data": items})
    with database.connect("listener") as conn:
        write_batch(conn, Recorder().to_batch(conn, [env]))

    def stored() -> list[object]:
        with database.connect("readonly") as conn:
            return [r[0] for r in conn.execute("SELECT raw FROM trading.fills ORDER BY seq")]

    before = stored()
    assert before == sorted(items, key=lambda it: it["seq"])  # the items, as sent
    down = database.alpha("db", "downgrade", "0003")
    assert down.returncode == 0, down.stderr
    assert _raw_types(database) == {"fills": "jsonb", "funding": "jsonb", "orders": "jsonb"}
    assert stored() == before
    up = database.alpha("db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert _raw_types(database) == {"fills": "json", "funding": "json", "orders": "jsonb"}
    assert stored() == before
