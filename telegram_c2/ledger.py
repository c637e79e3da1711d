"""What the C2 reads from the ledger: positions and daily net P&L (from the
``analytics`` views, which fold fills in ledger order — docs/ledger.md invariant 4), and the
latest fills."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from core.operator.db import Database

ZERO = Decimal(0)


@dataclass
class Position:
    bot_id: str
    symbol: str
    qty: Decimal = ZERO  # signed: long > 0, short < 0
    avg_price: Decimal = ZERO
    realized: Decimal = ZERO  # net of fees and funding


@dataclass
class LedgerView:
    #: Keyed by (bot_id, symbol, account): ``external`` has a position per account.
    positions: dict[tuple[str, str, str], Position]
    #: Net P&L (realized − fees − funding paid) per (bot_id, UTC day).
    daily: dict[tuple[str, date], Decimal]

    def open_positions(self, bot_id: str | None = None) -> list[Position]:
        return [
            p
            for (b, *_), p in sorted(self.positions.items())
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
    """Positions and daily net P&L from the analytics views (the ledger's one fold)."""
    where, params = ("WHERE bot_id = %s", (bot_id,)) if bot_id else ("", ())
    rows = await db.fetch(
        "SELECT bot_id, symbol, account, qty, avg_price, realized_pnl"
        f" FROM analytics.bot_positions {where}",
        params,
    )
    positions = {
        (r["bot_id"], r["symbol"], r["account"]): Position(
            r["bot_id"], r["symbol"], r["qty"], r["avg_price"], r["realized_pnl"]
        )
        for r in rows
    }
    days = await db.fetch(
        f"SELECT bot_id, day, net_pnl FROM analytics.bot_daily_pnl {where}", params
    )
    return LedgerView(positions, {(r["bot_id"], r["day"]): r["net_pnl"] for r in days})


async def recent_fills(db: Database, bot_id: str | None, limit: int) -> list[dict[str, Any]]:
    where, params = ("WHERE bot_id = %s", (bot_id, limit)) if bot_id else ("", (limit,))
    return await db.fetch(
        "SELECT bot_id, symbol, side, exec_price, exec_qty, exec_fee, exec_time, reason"
        f" FROM trading.fills {where} ORDER BY exec_time DESC, seq DESC, exec_id DESC LIMIT %s",
        params,
    )
