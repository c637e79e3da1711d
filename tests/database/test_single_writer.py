"""Only the listener role writes the ledger — directly and via PgBouncer
(docs/ledger.md invariant 2)."""

from __future__ import annotations

import psycopg
import pytest

from core.config import Role

FILL = """
    INSERT INTO trading.fills (account, exec_id, bot_id, symbol, side, exec_price, exec_qty,
                               exec_value, exec_time, source, raw)
    VALUES ('main', %s, 'external', 'BTCUSDT', 'Buy', 100.5, 0.01, 1.005, now(), 'ws', '{}')
"""
WRITERS = [Role.APP, Role.READONLY, Role.OWNER, "superuser"]
PATHS = [pytest.param(True, id="direct"), pytest.param(False, id="pgbouncer")]


def _insert_as_listener(database, direct: bool, exec_id: str) -> None:
    with database.connect(Role.LISTENER, direct) as conn:
        conn.execute(FILL, (exec_id,))


@pytest.mark.parametrize("direct", PATHS)
def test_listener_inserts_and_updates(database, direct: bool) -> None:
    with database.connect(Role.LISTENER, direct) as conn:
        conn.execute(FILL, ("e1",))
        conn.execute("UPDATE trading.fills SET reason = 'en' WHERE exec_id = 'e1'")
    with database.connect(Role.READONLY, direct) as conn:
        row = conn.execute("SELECT reason, exec_price FROM trading.fills").fetchone()
    assert row is not None and row[0] == "en" and str(row[1]) == "100.5"


@pytest.mark.parametrize("direct", PATHS)
@pytest.mark.parametrize("role", WRITERS, ids=str)
@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(FILL, id="insert"),
        pytest.param("UPDATE trading.fills SET reason = 'x'", id="update"),
        pytest.param("DELETE FROM trading.fills", id="delete"),
    ],
)
def test_everyone_else_is_refused(database, role, direct: bool, statement: str) -> None:
    _insert_as_listener(database, True, "seed")
    with database.connect(role, direct) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            conn.execute(statement, ("e2",) if "%s" in statement else None)
        conn.rollback()
    # GRANTs refuse app/readonly; the trigger refuses the owner and superusers.
    message = str(refused.value)
    assert "permission denied" in message or "written only by the listener role" in message
    with database.connect(Role.READONLY, True) as conn:
        rows = conn.execute("SELECT exec_id, reason FROM trading.fills").fetchall()
    assert rows == [("seed", None)]


@pytest.mark.parametrize("direct", PATHS)
def test_superuser_is_stopped_by_the_trigger_not_by_grants(database, direct: bool) -> None:
    refused = pytest.raises(psycopg.errors.InsufficientPrivilege, match="only by the listener")
    with database.connect("superuser", direct) as conn, refused:
        conn.execute(FILL, ("e3",))


def test_orders_and_funding_are_guarded_too(database) -> None:
    for table in ("orders", "funding"):
        refused = pytest.raises(psycopg.errors.InsufficientPrivilege, match="only by the listener")
        with database.connect("superuser", True) as conn, refused:
            conn.execute(f"DELETE FROM trading.{table}")
