"""Who may touch the market data store (migration 0013, docs/database-roles.md#market-data):
the owner writes, bots, readonly and backup read, nobody else sees it."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from harness.services import Database

from core.config import Role

WRITES = {
    "candle": "INSERT INTO market.candles VALUES"
    " ('bybit', 'BTCUSDT', '60', now(), 1, 2, 0.5, 1.5, 10, 15)",
    "funding": "INSERT INTO market.funding_rates VALUES ('bybit', 'BTCUSDT', now(), 0.0001)",
    "rewrite": "UPDATE market.candles SET close = 0",
    "erase": "DELETE FROM market.funding_rates",
}
READERS = {Role.BOT, Role.READONLY, Role.BACKUP}
NOT_READERS = {Role.LISTENER, Role.APP, Role.SYNC}


def _conn(database: Database, role: Role) -> psycopg.Connection[Any]:
    # The backup connects directly in production; the others through PgBouncer.
    return database.connect(role, direct=role is Role.BACKUP)


@pytest.mark.parametrize("role", sorted(READERS | NOT_READERS))
def test_no_service_role_may_write_the_store(database: Database, role: Role) -> None:
    for statement in WRITES.values():
        with _conn(database, role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_readers_read_and_the_others_do_not(database: Database) -> None:
    with database.connect(Role.OWNER, direct=True) as conn:
        for statement in WRITES.values():
            conn.execute(statement)  # the owner (alpha data download) may
        conn.execute(WRITES["candle"].replace("'60'", "'D'"))
        conn.commit()
    for role in READERS:
        with _conn(database, role) as conn:
            assert conn.execute("SELECT count(*) FROM market.candles").fetchone() == (2,)
            conn.execute("SELECT count(*) FROM market.funding_rates").fetchone()
    for role in NOT_READERS:
        with _conn(database, role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM market.candles")


def test_the_store_refuses_an_interval_without_a_fixed_length(database: Database) -> None:
    with (
        database.connect(Role.OWNER, direct=True) as conn,
        pytest.raises(psycopg.errors.CheckViolation),
    ):
        conn.execute(WRITES["candle"].replace("'60'", "'M'"))


def test_the_collector_only_adds_candles(database: Database) -> None:
    """Migration 0022: ``alpha data collect``'s role inserts bars the store lacks and can
    neither change, erase nor read anything."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from core.candles import Candle
    from market_data.collect import insert_closed

    bar = Candle("BTCUSDT", "60", datetime(2025, 1, 1, tzinfo=UTC), *[Decimal(1)] * 6)
    with database.connect(Role.COLLECTOR) as conn:
        assert insert_closed(conn, "bybit", [bar]) == 1
        assert insert_closed(conn, "bybit", [bar]) == 0  # pushed twice: left alone
    for statement in [
        WRITES["funding"],
        WRITES["rewrite"],
        "DELETE FROM market.candles",
        "SELECT count(*) FROM market.candles",
        "SELECT count(*) FROM trading.fills",
    ]:
        with (
            database.connect(Role.COLLECTOR) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(statement)
    with database.connect(Role.READONLY) as conn:
        assert conn.execute("SELECT count(*) FROM market.candles").fetchone() == (1,)
