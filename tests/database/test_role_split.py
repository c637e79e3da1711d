"""One database role per kind of service (migration 0008): each may write only the
operations tables its service owns, through PgBouncer as in production."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from core.config import Role

#: Every ops-table write a service makes, one statement each.
WRITES = {
    "heartbeat": "UPDATE trading.bots SET last_heartbeat = now() WHERE bot_id = 'external'",
    "bot status": "UPDATE trading.bots SET status = 'paused', updated_at = now()"
    " WHERE bot_id = 'nobody'",
    "audit": "INSERT INTO trading.bot_commands (channel, command, outcome)"
    " VALUES ('telegram', 'pause', 'accepted')",
    "sync run": "INSERT INTO trading.sync_runs (job, started_at, finished_at, duration_ms, status)"
    " VALUES ('execution_audit', now(), now(), 0, 'ok')",
    "drift": "INSERT INTO trading.drift_events (account, symbol, exchange_qty, ledger_qty)"
    " VALUES ('main', 'BTCUSDT', 1, 0)",
    "wallet": "INSERT INTO trading.wallet_snapshots (account, equity, wallet_balance)"
    " VALUES ('main', 100, 100)",
    # The ledger's fencing row (migration 0023): the listener's alone.
    "ledger writer": "UPDATE trading.ledger_writer SET holder = 'intruder'",
}
#: Which service role may make which write; every other pair must be refused.
ALLOWED = {
    Role.BOT: {"heartbeat"},
    Role.SYNC: {"sync run", "drift", "wallet"},
    Role.APP: {"bot status", "audit"},
    # The backup service reads everything and records its own runs, nothing else.
    Role.BACKUP: set(),
}


def _run(database: Any, role: Role, statement: str) -> None:
    with database.connect(role) as conn:
        conn.execute(statement)
        conn.rollback()  # nothing kept: each case starts from the same tables


@pytest.mark.parametrize("role", list(ALLOWED))
def test_each_service_role_writes_only_its_own_tables(database: Any, role: Role) -> None:
    for name, statement in WRITES.items():
        if name in ALLOWED[role]:
            _run(database, role, statement)
        else:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                _run(database, role, statement)


@pytest.mark.parametrize("role", [Role.BOT, Role.SYNC])
def test_bots_and_sync_read_the_ledger_and_the_analytics(database: Any, role: Role) -> None:
    with database.connect(role) as conn:
        conn.execute("SELECT count(*) FROM trading.fills").fetchone()
        conn.execute("SELECT count(*) FROM trading.bots").fetchone()
        conn.execute("SELECT count(*) FROM analytics.fill_pnl").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM trading.sync_runs")


def test_the_backup_role_records_its_runs_but_writes_nothing_else(database: Any) -> None:
    with database.connect(Role.BACKUP, direct=True) as conn:
        conn.execute(
            "INSERT INTO trading.backups (backup_date, kind, status)"
            " VALUES (current_date, 'manual', 'running')"
        )
        conn.execute("SELECT count(*) FROM trading.fills, analytics.fill_pnl").fetchone()
        conn.commit()
        for statement in (
            "DELETE FROM trading.fills",
            "UPDATE trading.bots SET status = 'paused'",
            "ALTER TABLE trading.fills DISABLE TRIGGER ALL",
            "SELECT rolpassword FROM pg_authid",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
