"""What the bot reads of the ledger: its own positions (Redis) and its fills (PostgreSQL).

The listener writes ``position:{bot}:{symbol}`` after each committed fill, so these
hashes are the bot's own position — never the exchange's netted one, which on a shared
account holds every bot's trades.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import psycopg
import redis

from core import redis_keys
from core.db import KeptConnection
from core.ids import BotId
from core.strategy import PositionView

log = logging.getLogger(__name__)

ZERO = Decimal(0)


def decimal_or_zero(value: str | None) -> Decimal:
    return Decimal(value) if value else ZERO


class Holdings(NamedTuple):
    """The bot's positions and its realized P&L over them, as one read saw them."""

    positions: dict[str, PositionView]
    realized: Decimal


class LedgerView:
    """One bot's view of the ledger."""

    def __init__(self, reads: KeptConnection, bot_redis: redis.Redis, bot_id: BotId) -> None:
        self._reads = reads
        self._redis = bot_redis
        self._bot_id = bot_id

    def holdings(self, symbols: list[str], *, also_get: str | None = None) -> tuple[Holdings, Any]:
        """Positions and realized P&L of ``symbols`` in one round trip (a decision reads
        them before every order, so each trip is on the path from candle to order);
        with ``also_get``, that key's value is read in the same trip and returned too."""
        pipe = self._redis.pipeline(transaction=False)
        if also_get is not None:
            pipe.get(also_get)
        for symbol in symbols:
            pipe.hgetall(redis_keys.position(self._bot_id, symbol))
        replies = pipe.execute()
        extra = replies.pop(0) if also_get is not None else None
        positions: dict[str, PositionView] = {}
        realized = ZERO
        for symbol, row in zip(symbols, replies, strict=True):
            positions[symbol] = PositionView(
                symbol, decimal_or_zero(row.get("qty")), decimal_or_zero(row.get("avg_price"))
            )
            realized += decimal_or_zero(row.get("realized_pnl"))
        return Holdings(positions, realized), extra

    def held(self) -> list[str]:
        """Symbols where the ledger's position for this bot is open (from Redis)."""
        held = []
        for key in self._redis.scan_iter(redis_keys.position_pattern(self._bot_id)):
            name = key.decode() if isinstance(key, bytes) else str(key)
            qty: Any = self._redis.hget(name, "qty")  # a sync client: a str or bytes
            if qty is not None and decimal_or_zero(qty.decode() if isinstance(qty, bytes) else qty):
                held.append(name.rsplit(":", 1)[1])
        return sorted(held)

    def opened_at(self, symbol: str, qty: Decimal) -> datetime | None:
        """When the ledger position of ``qty`` last opened from flat (or flipped): walk
        this bot's fills newest first, undoing each, until the quantity before a fill
        was zero or of the other sign. ``None`` if the ledger cannot be read or the
        position is built from more than 10,000 fills (the strategy then counts it as
        opened now)."""
        remaining = qty
        try:
            with self._reads.use() as conn:
                cur = conn.execute(
                    "SELECT side, exec_qty, exec_time FROM trading.fills"
                    " WHERE bot_id = %s AND symbol = %s"
                    " ORDER BY exec_time DESC, seq DESC, exec_id DESC LIMIT 10000",
                    (self._bot_id, symbol),
                )
                for side, exec_qty, exec_time in cur:
                    before = remaining - (exec_qty if side == "Buy" else -exec_qty)
                    if before == 0 or (before > 0) != (qty > 0):
                        return exec_time
                    remaining = before
        except Exception as exc:
            log.warning("open time of %s not read from the ledger: %s", symbol, exc)
        return None

    def account_notional(self, account: str, prices: Mapping[str, Decimal]) -> Decimal | None:
        """Every bot's open notional on ``account``, from the ledger's positions (other
        bots' Redis keys are not this bot's to read), at the last prices known here,
        else at each position's average price. ``None`` (and a warning) when the ledger
        cannot be read: the risk gate then refuses the entry rather than the decision
        dying of a PostgreSQL restart."""
        try:
            with self._reads.use() as conn:
                rows = conn.execute(
                    "SELECT p.symbol, p.qty, p.avg_price FROM analytics.bot_positions p"
                    " JOIN trading.bots b USING (bot_id) WHERE b.account = %s AND p.qty <> 0"
                    " AND p.bot_id <> 'external'",  # its account is not one column
                    (account,),
                ).fetchall()
        except psycopg.Error as exc:
            log.warning("account notional not read from the ledger: %s", exc)
            return None
        return sum((abs(qty) * (prices.get(symbol) or avg) for symbol, qty, avg in rows), ZERO)
