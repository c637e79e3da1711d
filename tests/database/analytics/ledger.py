"""Ledger rows for the analytics tests, inserted the way the single-writer rule demands.

Fills and funding go in as the listener role (the trigger refuses everyone else);
bots are registered as the owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.config import Role

# --- ledger rows -----------------------------------------------------------------------

FILL_COLUMNS = (
    "account", "exec_id", "bot_id", "symbol", "side", "exec_price", "exec_qty",
    "exec_value", "exec_fee", "exec_time", "seq", "source", "raw",
)  # fmt: skip


def add_bot(database: Any, bot_id: str, code: str | None = None) -> None:
    with database.connect(Role.OWNER, True) as conn:
        conn.execute(
            "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name, mode)"
            " VALUES (%s, %s, %s, 'test', 'test', 'paper')",
            (bot_id, code or bot_id.replace("_", "")[:8], bot_id),
        )


@dataclass(frozen=True)
class Fill:
    exec_id: str
    bot_id: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    fee: Decimal
    time: datetime
    seq: int = 0

    def row(self) -> tuple[Any, ...]:
        return (
            "main", self.exec_id, self.bot_id, self.symbol, self.side, self.price, self.qty,
            self.price * self.qty, self.fee, self.time, self.seq, "ws", "{}",
        )  # fmt: skip


def insert_fills(database: Any, fills: Sequence[Fill], *, one_statement: bool = True) -> None:
    """Insert as the listener role, the only role the single-writer trigger lets in.

    ``one_statement``: all rows in one INSERT, as the listener's group commit does;
    otherwise one INSERT per fill (each fires the analytics trigger on its own).
    """
    cols = ", ".join(FILL_COLUMNS)
    group = "(" + ", ".join(["%s"] * len(FILL_COLUMNS)) + ")"
    with database.connect(Role.LISTENER, True) as conn:
        if one_statement:
            values = ", ".join([group] * len(fills))
            params = [v for f in fills for v in f.row()]
            conn.execute(f"INSERT INTO trading.fills ({cols}) VALUES {values}", params)
        else:
            for f in fills:
                conn.execute(f"INSERT INTO trading.fills ({cols}) VALUES {group}", f.row())


def insert_funding(database: Any, rows: Sequence[tuple[str, str, str, Decimal, datetime]]) -> None:
    """``(exec_id, bot_id, symbol, funding_fee, time)`` as the listener."""
    with database.connect(Role.LISTENER, True) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO trading.funding (account, exec_id, bot_id, symbol, side, funding_fee,"
            " exec_time, source, raw) VALUES ('main', %s, %s, %s, 'Buy', %s, %s, 'ws', '{}')",
            list(rows),
        )
