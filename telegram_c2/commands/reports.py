"""/profit, /daily, /weekly, /monthly, /performance, /trades, /count: P&L reports with
Freqtrade's command names, read from the ``analytics`` views (telegram_c2/reports.py).
Days are UTC days; weeks start on Monday. Money is net of fees unless it says gross."""

from __future__ import annotations

from datetime import date, timedelta

from telegram_c2 import fmt, reports
from telegram_c2.access import Level
from telegram_c2.commands.base import Command, Invocation, Result, UsageError
from telegram_c2.ledger import ZERO

#: Default and largest N of /daily, /weekly, /monthly (Freqtrade's defaults).
PERIOD_DEFAULTS = {"daily": 7, "weekly": 8, "monthly": 6}
MAX_PERIODS = 60
MAX_TRADES = 50


def _count(inv: Invocation, default: int, most: int) -> int:
    if not inv.args:
        return default
    if len(inv.args) != 1 or not inv.args[0].isdigit() or int(inv.args[0]) < 1:
        raise UsageError(f"Usage: /{inv.command} [N] (1 to {most})")
    return min(int(inv.args[0]), most)


async def profit(inv: Invocation) -> Result:
    if len(inv.args) > 1:
        raise UsageError("Usage: /profit [BOT]")
    bot = await inv.bot(inv.args[0]) if inv.args else None
    bot_id = bot.bot_id if bot else None
    p = await reports.profit(inv.c2.db, bot_id)
    if not p["fills"] and not p["trades"]:
        await inv.reply(f"{bot_id or 'All bots'}: no trades yet.")
        return Result(bot_id=bot_id)
    lines = [
        f"Profit — {bot_id or 'all bots'} ({p['first_day']} to {p['last_day']} UTC)",
        f"Realized (net of fees): {fmt.money(p['realized'])}",
        f"Fees: {fmt.money(p['fees'], signed=False)}; funding paid: {fmt.money(p['funding'])}",
        f"Net (after funding): {fmt.money(p['net'])}",
        f"Closed round trips: {p['trades']} ({p['wins']} won, win rate "
        f"{fmt.percent(p['wins'], p['trades'])}); fills: {p['fills']}",
    ]
    if p["last_exit"]:
        lines.append(f"Last exit: {fmt.when(p['last_exit'])}")
    await inv.reply("\n".join(lines))
    return Result(bot_id=bot_id)


def _period_starts(today: date, unit: str, n: int) -> list[date]:
    """The first day of each of the last ``n`` periods, newest first."""
    if unit == "day":
        return [today - timedelta(days=i) for i in range(n)]
    if unit == "week":
        monday = today - timedelta(days=today.weekday())
        return [monday - timedelta(weeks=i) for i in range(n)]
    out, year, month = [], today.year, today.month
    for _ in range(n):
        out.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


async def _periods(inv: Invocation) -> Result:
    name = inv.command
    unit = reports.UNITS[name]
    n = _count(inv, PERIOD_DEFAULTS[name], MAX_PERIODS)
    starts = _period_starts(inv.c2.clock().date(), unit, n)
    rows, trips = await reports.periods(inv.c2.db, unit, starts[-1])
    label = {"day": "Day", "week": "Week of", "month": "Month"}[unit]
    lines = [f"{label} (UTC) — net P&L, round trips closed, fills (every bot)"]
    total = ZERO
    for start in starts:
        row = rows.get(start, {})
        net = row.get("net") or ZERO
        total += net
        when = start.strftime("%Y-%m") if unit == "month" else start.isoformat()
        lines.append(
            f"{when}: {fmt.money(net)}, {trips.get(start, 0)} trip(s), {row.get('fills') or 0}"
            " fill(s)"
        )
    lines.append(f"Total: {fmt.money(total)}")
    await inv.reply("\n".join(lines))
    return Result()


async def performance(inv: Invocation) -> Result:
    if inv.args:
        raise UsageError("Usage: /performance")
    rows = await reports.performance(inv.c2.db)
    lines = [
        f"{i}. {r['symbol']}: {fmt.money(r['realized'])} ({r['trades']} trip(s), "
        f"win rate {fmt.percent(r['wins'], r['trades'])})"
        for i, r in enumerate(rows, 1)
    ]
    head = "Performance per symbol (realized, net of fees, every bot):"
    await inv.reply("\n".join([head, *lines]) if rows else "No trades yet.")
    return Result()


async def trades(inv: Invocation) -> Result:
    limit = _count(inv, 10, MAX_TRADES)
    rows = await reports.trades(inv.c2.db, None, limit)
    lines = [
        f"• {fmt.when(r['exit_time'])} {r['bot_id']} {r['symbol']} {r['side']} "
        f"{fmt.qty(r['qty'])} @ {fmt.qty(r['avg_entry'])} → {fmt.qty(r['avg_exit'])}: "
        f"{fmt.money(r['net_pnl'])} (fees {fmt.money(r['fees'], signed=False)})"
        for r in rows
    ]
    await inv.reply("\n".join(lines) if rows else "No closed round trips yet.")
    return Result()


async def count(inv: Invocation) -> Result:
    if inv.args:
        raise UsageError("Usage: /count")
    bots = await inv.bots()
    rows = await reports.open_positions(inv.c2.db)
    per_bot: dict[str, int] = {}
    for r in rows:
        per_bot[r["bot_id"]] = per_bot.get(r["bot_id"], 0) + 1
    active = sum(1 for b in bots if b.status == "active")
    lines = [
        f"Open positions: {len(rows)}, held by {len(per_bot)} of {len(bots)} bot(s) "
        f"({active} active)"
    ]
    lines += [f"• {b.bot_id}: {per_bot.get(b.bot_id, 0)} open ({b.status})" for b in bots]
    await inv.reply("\n".join(lines))
    return Result()


COMMANDS = [
    Command("profit", Level.READ, "/profit [BOT]", "realized P&L, round trips, win rate", profit),
    Command("daily", Level.READ, "/daily [N]", "net P&L per UTC day", _periods),
    Command("weekly", Level.READ, "/weekly [N]", "net P&L per week (Monday start)", _periods),
    Command("monthly", Level.READ, "/monthly [N]", "net P&L per month", _periods),
    Command("performance", Level.READ, "/performance", "realized P&L per symbol", performance),
    Command("trades", Level.READ, "/trades [N]", "the last closed round trips", trades),
    Command("count", Level.READ, "/count", "open positions against bots", count),
]
