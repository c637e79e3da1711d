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
#: The latest closed round trips of a bot, as ``analytics.round_trips`` has them, without
#: aggregating every trip the bot ever made: the view groups all of a bot's rows of
#: ``analytics.fill_pnl`` before a LIMIT can apply (5 s per request for a bot with
#: 330,000 fills in a 10-million-fill ledger, bench/api_routes.py). Here the latest
#: closing fills come from the partial index ``fill_pnl_trip_closes`` (migration 0021);
#: per symbol, the oldest wanted trip starts at or after the fill that closed the trip
#: before it, so only the rows from there on are read (``fill_pnl_order``) and grouped
#: exactly as the view groups them. Within a symbol trips close in order, so every closed
#: trip from that oldest one on is among the latest closes.
#: tests/api/test_api_operations.py checks it against the view, trip for trip.
ROUND_TRIPS = """
WITH closes AS (
    SELECT symbol, close_trip AS trip_no, exec_time
      FROM analytics.fill_pnl
     WHERE account = %(account)s AND bot_id = %(bot)s AND trip_closed
     ORDER BY exec_time DESC, seq DESC, exec_id DESC
     LIMIT %(limit)s
), firsts AS (
    SELECT symbol, min(trip_no) AS first_trip, min(exec_time) AS first_close
      FROM closes GROUP BY symbol
), bounds AS (
    SELECT f.symbol, f.first_trip,
           coalesce((SELECT p.exec_time FROM analytics.fill_pnl p
                      WHERE p.account = %(account)s AND p.bot_id = %(bot)s AND p.trip_closed
                        AND p.exec_time <= f.first_close
                        AND p.symbol = f.symbol AND p.close_trip = f.first_trip - 1
                      ORDER BY p.exec_time DESC, p.seq DESC, p.exec_id DESC LIMIT 1),
                    '-infinity') AS after
      FROM firsts f
), trip_rows AS (
    SELECT p.*, b.first_trip FROM bounds b JOIN analytics.fill_pnl p
        ON p.account = %(account)s AND p.bot_id = %(bot)s AND p.symbol = b.symbol
       AND p.exec_time >= b.after
       AND (p.open_trip >= b.first_trip OR p.close_trip >= b.first_trip)
), parts AS (  -- analytics.round_trips' own parts (migrations 0002, 0011)
    SELECT symbol, open_trip AS trip_no, exec_time, true AS opening, side,
           opened_qty AS qty, opened_qty * exec_price AS value, open_fee AS fee,
           0::numeric AS gross, false AS ends
      FROM trip_rows WHERE open_trip >= first_trip
    UNION ALL
    SELECT symbol, close_trip, exec_time, false, side, closed_qty,
           closed_qty * exec_price, close_fee, gross_pnl, trip_closed
      FROM trip_rows WHERE close_trip >= first_trip
)
SELECT symbol, trip_no,
       CASE WHEN bool_or(side = 'Buy') FILTER (WHERE opening AND qty > 0)
            THEN 'Long' ELSE 'Short' END AS side,
       min(exec_time) FILTER (WHERE opening) AS entry_time,
       max(exec_time) FILTER (WHERE NOT opening) AS exit_time,
       sum(qty) FILTER (WHERE opening) AS qty,
       sum(value) FILTER (WHERE opening) / sum(qty) FILTER (WHERE opening) AS avg_entry,
       sum(value) FILTER (WHERE NOT opening) / sum(qty) FILTER (WHERE NOT opening) AS avg_exit,
       sum(gross) AS gross_pnl, sum(fee) AS fees, sum(gross) - sum(fee) AS net_pnl,
       count(*) AS fills
  FROM parts
 GROUP BY symbol, trip_no
HAVING bool_or(ends)
 ORDER BY exit_time DESC, symbol, trip_no DESC
 LIMIT %(limit)s
"""


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
    """Closed round trips (as ``analytics.round_trips``), the latest exit first; see
    :data:`ROUND_TRIPS` for how it avoids grouping every trip of the bot."""
    ctx, bot_id = _ctx(request), request.match_info["bot_id"]
    limit = params.limit(request, 50, 500)
    bot = await _bot(ctx, bot_id)
    if bot is None:
        return _unknown_bot(bot_id)
    rows = await ctx.reader.fetch(
        ROUND_TRIPS, {"account": bot["account"], "bot": bot_id, "limit": limit}
    )
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
