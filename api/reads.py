"""Read routes beyond the first set: open drift, backups, a bot's registration history,
its equity curve, round trips and open orders. All as the readonly role."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api import params
from api.context import CONTEXT, PREFIX, ApiContext
from api.jsonio import error, reply
from api.queries import BOT_COLUMNS
from core.fills import TERMINAL_ORDER_STATUSES
from core.ids import EXTERNAL_BOT


EQUITY = (
    "SELECT day, net_pnl, %s::numeric + sum(net_pnl) OVER (ORDER BY day) AS equity"
    " FROM analytics.bot_daily_pnl WHERE bot_id = %s ORDER BY day"
)
ROUND_TRIPS = (
    "SELECT symbol, trip_no, side, entry_time, exit_time, qty, avg_entry, avg_exit,"
    " gross_pnl, fees, net_pnl, fills FROM analytics.round_trips"
    " WHERE account = %s AND bot_id = %s ORDER BY exit_time DESC, symbol, trip_no DESC"
    " LIMIT %s"
)


def _ctx(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


def _unknown_bot(bot_id: str) -> web.Response:
    return error(404, f"unknown bot {bot_id!r} (GET {PREFIX}/bots lists them)")


async def _bot(ctx: ApiContext, bot_id: str) -> dict[str, Any] | None:
    rows = await ctx.reader.fetch(
        f"SELECT {BOT_COLUMNS}, config FROM trading.bots"
        " WHERE bot_id = %s AND bot_id <> %s AND status <> 'retired'",
        (bot_id, str(EXTERNAL_BOT)),
    )
    return rows[0] if rows else None


async def list_drift(request: web.Request) -> web.StreamResponse:
    """Open drift per account and symbol, as trade sync's position check recorded it."""
    where, values = ["cleared_at IS NULL"], []
    for column in ("account", "symbol"):
        value = params.text(request, column)
        if value is not None:
            where.append(f"{column} = %s")
            values.append(value)
    rows = await _ctx(request).reader.fetch(
        "SELECT id, account, symbol, exchange_qty, ledger_qty,"
        " exchange_qty - ledger_qty AS difference, per_bot, detected_at, last_seen_at"
        " FROM trading.drift_events WHERE " + " AND ".join(where)
        + " ORDER BY account, symbol",
        values,
    )  # fmt: skip
    for row in rows:
        row["per_bot"] = {bot: str(qty) for bot, qty in row["per_bot"].items()}
    return reply({"drift": rows})


async def list_backups(request: web.Request) -> web.StreamResponse:
    """The newest backups with their verification status (``trading.backups``)."""
    rows = await _ctx(request).reader.fetch(
        "SELECT id, backup_date, kind, status, status = 'verified' AS verified, started_at,"
        " finished_at, verified_at, size_bytes, sha256, error FROM trading.backups"
        " ORDER BY started_at DESC, id DESC LIMIT %s",
        (params.limit(request, 30, 500),),
    )
    return reply({"backups": rows})


async def bot_history(request: web.Request) -> web.StreamResponse:
    """The bot's registration as it stands and every version of it, oldest first (what
    ``alpha bots history`` prints)."""
    ctx, bot_id = _ctx(request), request.match_info["bot_id"]
    bot = await _bot(ctx, bot_id)
    if bot is None:
        return _unknown_bot(bot_id)
    versions = await ctx.reader.fetch(
        "SELECT version, changed_at, changed_by, changes FROM trading.bot_versions"
        " WHERE bot_id = %s ORDER BY version",
        (bot_id,),
    )
    current = {
        "bot_name": bot["bot_name"],
        "mode": bot["mode"],
        "symbols": bot["symbols"],
        "config": bot["config"],
        "initial_capital": bot["initial_capital"],
    }
    return reply({"bot_id": bot_id, "current": current, "versions": versions})


async def bot_equity(request: web.Request) -> web.StreamResponse:
    """The equity curve by UTC day: the registered initial capital plus the running sum
    of the day's net P&L (``analytics.bot_daily_pnl``), summed in SQL as numerics."""
    ctx, bot_id = _ctx(request), request.match_info["bot_id"]
    bot = await _bot(ctx, bot_id)
    if bot is None:
        return _unknown_bot(bot_id)
    start = bot["initial_capital"] or 0
    points = await ctx.reader.fetch(EQUITY, (start, bot_id))
    return reply({"bot_id": bot_id, "initial_capital": bot["initial_capital"], "points": points})


async def bot_round_trips(request: web.Request) -> web.StreamResponse:
    """Closed round trips (``analytics.round_trips``), the latest exit first. Filtered by
    the bot's account too: the view's rows come from ``analytics.fill_pnl``, whose index
    leads with the account, so the filter reaches it instead of a scan of every fill."""
    ctx, bot_id = _ctx(request), request.match_info["bot_id"]
    limit = params.limit(request, 50, 500)
    bot = await _bot(ctx, bot_id)
    if bot is None:
        return _unknown_bot(bot_id)
    rows = await ctx.reader.fetch(ROUND_TRIPS, (bot["account"], bot_id, limit))
    return reply({"bot_id": bot_id, "round_trips": rows})


async def bot_orders(request: web.Request) -> web.StreamResponse:
    """The bot's open orders as the listener last recorded them (``trading.orders`` in
    a non-terminal status), newest first."""
    ctx, bot_id = _ctx(request), request.match_info["bot_id"]
    if await _bot(ctx, bot_id) is None:
        return _unknown_bot(bot_id)
    rows = await ctx.reader.fetch(
        "SELECT order_id, order_link_id, symbol, side, order_type, status, price, qty,"
        " cum_exec_qty, trigger_price, reduce_only, created_time, updated_time"
        " FROM trading.orders WHERE bot_id = %s AND status <> ALL (%s)"
        " ORDER BY created_time DESC NULLS LAST, order_id LIMIT 500",
        (bot_id, sorted(TERMINAL_ORDER_STATUSES)),
    )
    return reply({"bot_id": bot_id, "orders": rows})
