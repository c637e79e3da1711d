"""Reads behind the report commands (/profit, /daily, /trades, /balance, /stats …):
all from the ``analytics`` views (database/migrations/versions/0002_analytics.py), which
fold fills in ledger order, and from ``trading.wallet_snapshots``. The reserved
``external`` bot (executions no bot can claim) is never counted as a bot's P&L."""

from __future__ import annotations

from datetime import date
from typing import Any

from core.ids import EXTERNAL_BOT
from core.operator.db import Database

EXTERNAL = str(EXTERNAL_BOT)
#: The ``date_trunc`` unit of each period command.
UNITS = {"daily": "day", "weekly": "week", "monthly": "month"}


def _bot_filter(bot_id: str | None, column: str = "bot_id") -> tuple[str, tuple[Any, ...]]:
    if bot_id:
        return f"{column} = %s", (bot_id,)
    return f"{column} <> %s", (EXTERNAL,)


async def profit(db: Database, bot_id: str | None) -> dict[str, Any]:
    """Totals over the bot (or every bot): realized net of fees, fees, funding, net, and
    the closed round trips (net of fees) with their wins."""
    where, params = _bot_filter(bot_id)
    [totals] = await db.fetch(
        "SELECT coalesce(sum(realized_pnl), 0) AS realized, coalesce(sum(fees), 0) AS fees,"
        " coalesce(sum(funding), 0) AS funding, coalesce(sum(net_pnl), 0) AS net,"
        " coalesce(sum(fills), 0) AS fills, min(day) AS first_day, max(day) AS last_day"
        f" FROM analytics.bot_daily_pnl WHERE {where}",
        params,
    )
    [trips] = await db.fetch(
        "SELECT count(*) AS trades, count(*) FILTER (WHERE net_pnl > 0) AS wins,"
        " max(exit_time) AS last_exit"
        f" FROM analytics.round_trips WHERE {where}",
        params,
    )
    return {**totals, **trips}


async def periods(
    db: Database, unit: str, since: date
) -> tuple[dict[date, dict[str, Any]], dict[date, int]]:
    """Per period starting on or after ``since`` (UTC; weeks start on Monday): net P&L,
    fees, fills (every bot), and the round trips closed in it."""
    where, params = _bot_filter(None)
    rows = await db.fetch(
        "SELECT date_trunc(%s, day::timestamp)::date AS period, sum(net_pnl) AS net,"
        " sum(fees) AS fees, sum(fills) AS fills FROM analytics.bot_daily_pnl"
        f" WHERE {where} AND day >= %s GROUP BY 1",
        (unit, *params, since),
    )
    trips = await db.fetch(
        "SELECT date_trunc(%s, exit_time AT TIME ZONE 'UTC')::date AS period,"
        f" count(*) AS trades FROM analytics.round_trips WHERE {where}"
        " AND exit_time >= %s::date::timestamp AT TIME ZONE 'UTC' GROUP BY 1",
        (unit, *params, since),
    )
    return {r["period"]: r for r in rows}, {r["period"]: r["trades"] for r in trips}


async def performance(db: Database) -> list[dict[str, Any]]:
    """Per symbol, every bot: realized P&L net of fees and closed round trips."""
    where, params = _bot_filter(None)
    return await db.fetch(
        "WITH p AS (SELECT symbol, sum(realized_pnl) AS realized, sum(fills) AS fills"
        f"  FROM analytics.bot_positions WHERE {where} GROUP BY symbol),"
        " t AS (SELECT symbol, count(*) AS trades, count(*) FILTER (WHERE net_pnl > 0) AS wins"
        f"  FROM analytics.round_trips WHERE {where} GROUP BY symbol)"
        " SELECT p.symbol, p.realized, p.fills, coalesce(t.trades, 0) AS trades,"
        " coalesce(t.wins, 0) AS wins FROM p LEFT JOIN t USING (symbol)"
        " ORDER BY p.realized DESC, p.symbol",
        (*params, *params),
    )


async def trades(db: Database, bot_id: str | None, limit: int) -> list[dict[str, Any]]:
    """The last closed round trips, newest first."""
    where, params = _bot_filter(bot_id)
    return await db.fetch(
        "SELECT bot_id, symbol, trip_no, side, qty, avg_entry, avg_exit, net_pnl, fees,"
        f" entry_time, exit_time FROM analytics.round_trips WHERE {where}"
        " ORDER BY exit_time DESC, bot_id, symbol, trip_no DESC LIMIT %s",
        (*params, limit),
    )


async def open_positions(db: Database) -> list[dict[str, Any]]:
    where, params = _bot_filter(None)
    return await db.fetch(
        "SELECT bot_id, symbol, qty, avg_price FROM analytics.bot_positions"
        f" WHERE {where} AND qty <> 0 ORDER BY bot_id, symbol",
        params,
    )


async def last_prices(db: Database, symbols: list[str]) -> dict[str, tuple[Any, Any]]:
    """The last price the ledger saw per symbol (its latest fill's execution price, any
    bot's) and when: (price, exec_time). The C2 never asks the exchange."""
    if not symbols:
        return {}
    rows = await db.fetch(
        "SELECT DISTINCT ON (symbol) symbol, exec_price AS price,"
        " exec_time FROM trading.fills WHERE symbol = ANY(%s)"
        " ORDER BY symbol, exec_time DESC, seq DESC, exec_id DESC",
        (symbols,),
    )
    return {r["symbol"]: (r["price"], r["exec_time"]) for r in rows}


async def wallets(db: Database) -> list[dict[str, Any]]:
    """The latest snapshot per (account, coin)."""
    return await db.fetch(
        "SELECT DISTINCT ON (account, coin) account, coin, equity, wallet_balance, available,"
        " unrealised_pnl, taken_at FROM trading.wallet_snapshots"
        " ORDER BY account, coin, taken_at DESC, id DESC"
    )


async def capital(db: Database) -> list[dict[str, Any]]:
    """Each bot's capital (its allocation) and its realized P&L net of fees."""
    return await db.fetch(
        "SELECT b.bot_id, b.account, b.initial_capital,"
        " coalesce(sum(p.realized_pnl), 0) AS realized"
        " FROM trading.bots b LEFT JOIN analytics.bot_positions p USING (bot_id)"
        " WHERE b.status <> 'retired' AND b.bot_id <> %s"
        " GROUP BY b.bot_id, b.account, b.initial_capital ORDER BY b.bot_id",
        (EXTERNAL,),
    )


async def stats(db: Database) -> list[dict[str, Any]]:
    """Per bot: closed round trips, win rate, profit factor, expectancy (mean net P&L of
    a trip), and max drawdown (end-of-day cumulative net P&L, ``analytics.bot_summary``)."""
    return await db.fetch(
        "WITH t AS (SELECT bot_id, count(*) AS trades,"
        "  count(*) FILTER (WHERE net_pnl > 0) AS wins,"
        "  coalesce(sum(net_pnl) FILTER (WHERE net_pnl > 0), 0) AS gross_win,"
        "  coalesce(-sum(net_pnl) FILTER (WHERE net_pnl < 0), 0) AS gross_loss,"
        "  sum(net_pnl) AS total FROM analytics.round_trips GROUP BY bot_id)"
        " SELECT s.bot_id, s.net_pnl, s.max_drawdown, coalesce(t.trades, 0) AS trades,"
        " coalesce(t.wins, 0) AS wins, t.gross_win, t.gross_loss, t.total"
        " FROM analytics.bot_summary s LEFT JOIN t USING (bot_id)"
        " WHERE s.bot_id <> %s ORDER BY s.bot_id",
        (EXTERNAL,),
    )
