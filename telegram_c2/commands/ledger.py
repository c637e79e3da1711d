"""/positions, /pnl (with a PNG equity chart), /fills — all derived from the ledger."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from database.reports.charts import pnl_chart_png
from telegram_c2 import fmt, ledger, reports
from telegram_c2.access import Level
from telegram_c2.commands.base import Command, Invocation, Result, UsageError

PERIODS = {"day": 1, "week": 7, "month": 30}
MAX_FILLS = 50


async def positions(inv: Invocation) -> Result:
    bot = await inv.bot(inv.args[0]) if inv.args else None
    view = await ledger.load(inv.c2.db, bot.bot_id if bot else None)
    rows = view.open_positions(bot.bot_id if bot else None)
    marks = await reports.last_prices(inv.c2.db, sorted({p.symbol for p in rows}))
    lines = [
        f"• {p.bot_id} {p.symbol}: {'LONG' if p.qty > 0 else 'SHORT'} {fmt.qty(abs(p.qty))}"
        f" @ {fmt.qty(p.avg_price)}, realized {fmt.money(p.realized)}, {_unrealized(p, marks)}"
        for p in rows
    ]
    await inv.reply("\n".join(lines) or "No open positions.")
    return Result(bot_id=bot.bot_id if bot else None)


def _unrealized(p: ledger.Position, marks: dict[str, tuple[Decimal, datetime]]) -> str:
    """At the last price the ledger saw for the symbol (any bot's latest fill): the C2
    does not ask the exchange, so the mark is as old as that fill, and said so."""
    if p.symbol not in marks:
        return "mark unknown"
    price, at = marks[p.symbol]
    return (
        f"unrealized {fmt.money((price - p.avg_price) * p.qty)} at last fill price "
        f"{fmt.qty(price)} ({fmt.when(at)})"
    )


async def pnl(inv: Invocation) -> Result:
    args = list(inv.args)
    period = "week"
    if args and args[-1].lower() in PERIODS:
        period = args.pop().lower()
    if len(args) > 1:
        raise UsageError("Usage: /pnl [BOT] [day|week|month]")
    bot = await inv.bot(args[0]) if args else None
    bot_id = bot.bot_id if bot else None
    end = inv.c2.clock().date()
    start = end - timedelta(days=PERIODS[period] - 1)
    view = await ledger.load(inv.c2.db, bot_id)
    series = view.series(bot_id, start, end)
    total = sum((amount for _, amount in series), ledger.ZERO)
    who = bot_id or "all bots"
    caption = f"{who}, {period} ({start} to {end} UTC): net {fmt.money(total)}"
    await inv.reply_photo(pnl_chart_png(series, f"Net P&L — {who}"), caption)
    return Result(bot_id=bot_id, detail=caption)


async def fills(inv: Invocation) -> Result:
    args = list(inv.args)
    limit = 10
    if args and args[-1].isdigit():
        limit = min(int(args.pop()), MAX_FILLS)
    if len(args) > 1:
        raise UsageError("Usage: /fills [BOT] [N]")
    bot = await inv.bot(args[0]) if args else None
    rows = await ledger.recent_fills(inv.c2.db, bot.bot_id if bot else None, limit)
    lines = [
        f"• {fmt.when(r['exec_time'])} {r['bot_id']} {r['symbol']} {r['side']} "
        f"{fmt.qty(r['exec_qty'])} @ {fmt.qty(r['exec_price'])} fee {fmt.qty(r['exec_fee'])}"
        for r in rows
    ]
    await inv.reply("\n".join(lines) or "No fills.")
    return Result(bot_id=bot.bot_id if bot else None)


COMMANDS = [
    Command(
        "positions",
        Level.READ,
        "/positions [BOT]",
        "open positions, unrealized at the last price",
        positions,
    ),
    Command("pnl", Level.READ, "/pnl [BOT] [day|week|month]", "net P&L with a chart", pnl),
    Command("fills", Level.READ, "/fills [BOT] [N]", "the latest fills", fills),
]
