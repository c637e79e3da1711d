"""What the C2 reads from the ledger: positions, daily net P&L, recent fills.

Interim: computed here from ``trading.fills`` and ``trading.funding`` by folding each
(bot, symbol) in ledger order ``(exec_time, seq, exec_id)`` (DESIGN invariant 4), until
the ``analytics`` views (``bot_daily_pnl``, ``bot_positions``) land; then the three
public functions below become plain SELECTs on them and nothing else changes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from telegram_c2.db import Database

ZERO = Decimal(0)


@dataclass
class Position:
    bot_id: str
    symbol: str
    qty: Decimal = ZERO  # signed: long > 0, short < 0
    avg_price: Decimal = ZERO
    realized: Decimal = ZERO  # net of fees and funding

    def apply(self, side: str, price: Decimal, size: Decimal) -> Decimal:
        """Fold one fill; returns the gross P&L it realized (before fees)."""
        signed = size if side == "Buy" else -size
        realized = ZERO
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            total = abs(self.qty) + size
            self.avg_price = (self.avg_price * abs(self.qty) + price * size) / total
            self.qty += signed
            return realized
        closed = min(size, abs(self.qty))
        direction = 1 if self.qty > 0 else -1
        realized = closed * (price - self.avg_price) * direction
        self.qty += signed
        if self.qty == 0:
            self.avg_price = ZERO
        elif (self.qty > 0) != (direction > 0):  # flipped through zero: the rest opens
            self.avg_price = price
        return realized


@dataclass
class LedgerView:
    positions: dict[tuple[str, str], Position]
    #: Net P&L (realized − fees − funding paid) per (bot_id, UTC day).
    daily: dict[tuple[str, date], Decimal]

    def open_positions(self, bot_id: str | None = None) -> list[Position]:
        return [
            p
            for (b, _), p in sorted(self.positions.items())
            if p.qty != 0 and (bot_id is None or b == bot_id)
        ]

    def net_on(self, bot_id: str, day: date) -> Decimal:
        return self.daily.get((bot_id, day), ZERO)

    def series(self, bot_id: str | None, start: date, end: date) -> list[tuple[date, Decimal]]:
        """Net P&L per day from ``start`` to ``end`` inclusive (bots summed if ``None``)."""
        per_day: dict[date, Decimal] = defaultdict(lambda: ZERO)
        for (b, day), amount in self.daily.items():
            if (bot_id is None or b == bot_id) and start <= day <= end:
                per_day[day] += amount
        out = []
        day = start
        while day <= end:
            out.append((day, per_day[day]))
            day = date.fromordinal(day.toordinal() + 1)
        return out


async def load(db: Database, bot_id: str | None = None) -> LedgerView:
    where, params = ("WHERE bot_id = %s", (bot_id,)) if bot_id else ("", ())
    fills = await db.fetch(
        "SELECT bot_id, symbol, side, exec_price, exec_qty, exec_fee, exec_time"
        f" FROM trading.fills {where} ORDER BY bot_id, symbol, exec_time, seq, exec_id",
        params,
    )
    funding = await db.fetch(
        f"SELECT bot_id, symbol, funding_fee, exec_time FROM trading.funding {where}", params
    )
    positions: dict[tuple[str, str], Position] = {}
    daily: dict[tuple[str, date], Decimal] = defaultdict(lambda: ZERO)
    for row in fills:
        key = (row["bot_id"], row["symbol"])
        pos = positions.setdefault(key, Position(*key))
        gross = pos.apply(row["side"], row["exec_price"], row["exec_qty"])
        net = gross - row["exec_fee"]
        pos.realized += net
        daily[(row["bot_id"], _day(row["exec_time"]))] += net
    for row in funding:
        key = (row["bot_id"], row["symbol"])
        # Bybit: a positive funding fee was paid by us.
        positions.setdefault(key, Position(*key)).realized -= row["funding_fee"]
        daily[(row["bot_id"], _day(row["exec_time"]))] -= row["funding_fee"]
    return LedgerView(positions, dict(daily))


async def recent_fills(db: Database, bot_id: str | None, limit: int) -> list[dict[str, Any]]:
    where, params = ("WHERE bot_id = %s", (bot_id, limit)) if bot_id else ("", (limit,))
    return await db.fetch(
        "SELECT bot_id, symbol, side, exec_price, exec_qty, exec_fee, exec_time, reason"
        f" FROM trading.fills {where} ORDER BY exec_time DESC, seq DESC, exec_id DESC LIMIT %s",
        params,
    )


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()
