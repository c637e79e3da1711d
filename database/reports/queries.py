"""Reads of the analytics views, as the readonly role (through PgBouncer by default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from core import db
from core.config import Role, Settings


@dataclass(frozen=True)
class DailyRow:
    day: date
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    net_pnl: Decimal
    volume: Decimal
    fills: int


def daily_pnl(
    settings: Settings,
    *,
    bot_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
    direct: bool = False,
) -> list[DailyRow]:
    """Daily P&L of one bot, or summed over all bots, for ``start ≤ day ≤ end``."""
    query = (
        "SELECT day, sum(realized_pnl), sum(fees), sum(funding), sum(net_pnl), sum(volume),"
        " sum(fills)::bigint FROM analytics.bot_daily_pnl"
        " WHERE (%(bot)s::text IS NULL OR bot_id = %(bot)s)"
        " AND (%(start)s::date IS NULL OR day >= %(start)s)"
        " AND (%(end)s::date IS NULL OR day <= %(end)s)"
        " GROUP BY day ORDER BY day"
    )
    params: dict[str, Any] = {"bot": bot_id, "start": start, "end": end}
    with db.connect(settings, Role.READONLY, direct=direct) as conn:
        return [DailyRow(*r) for r in conn.execute(query, params).fetchall()]


def bot_exists(settings: Settings, bot_id: str, *, direct: bool = False) -> bool:
    with db.connect(settings, Role.READONLY, direct=direct) as conn:
        row = conn.execute("SELECT 1 FROM trading.bots WHERE bot_id = %s", (bot_id,)).fetchone()
    return row is not None
