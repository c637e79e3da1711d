"""/balance, /stats, /version: the wallet per account (latest trade-sync snapshot) and
each bot's capital and equity; per-bot trade statistics; the installed version."""

from __future__ import annotations

from core.cli import installed_version
from telegram_c2 import fmt, reports
from telegram_c2.access import Level
from telegram_c2.commands.base import Command, Invocation, Result, UsageError


async def balance(inv: Invocation) -> Result:
    if inv.args:
        raise UsageError("Usage: /balance")
    wallets = await reports.wallets(inv.c2.db)
    lines = ["Wallets (latest snapshot per account):"]
    for w in wallets:
        unrealised = w["unrealised_pnl"]
        extra = f", unrealized {fmt.money(unrealised)}" if unrealised is not None else ""
        coin = w["coin"]
        equity = fmt.money(w["equity"], signed=False, unit=coin)
        wallet = fmt.money(w["wallet_balance"], signed=False, unit=coin)
        lines.append(
            f"• {w['account']} {coin}: equity {equity}, wallet {wallet}{extra} "
            f"({fmt.when(w['taken_at'])})"
        )
    if not wallets:
        lines.append("• no snapshot yet (trade sync writes them)")
    lines.append("Bots (capital + realized P&L net of fees = equity, unrealized not included):")
    for b in await reports.capital(inv.c2.db):
        if b["initial_capital"] is None:
            lines.append(
                f"• {b['bot_id']} [{b['account']}]: capital not set (the account's equity), "
                f"realized {fmt.money(b['realized'])}"
            )
            continue
        capital = fmt.money(b["initial_capital"], signed=False)
        equity = fmt.money(b["initial_capital"] + b["realized"], signed=False)
        lines.append(
            f"• {b['bot_id']} [{b['account']}]: capital {capital}, "
            f"realized {fmt.money(b['realized'])}, equity {equity}"
        )
    await inv.reply("\n".join(lines))
    return Result()


async def stats(inv: Invocation) -> Result:
    if inv.args:
        raise UsageError("Usage: /stats")
    rows = await reports.stats(inv.c2.db)
    lines = ["Per bot (closed round trips, net of fees; drawdown on end-of-day net P&L):"]
    for r in rows:
        trades = r["trades"]
        factor = r["gross_win"] / r["gross_loss"] if trades and r["gross_loss"] else None
        expectancy = fmt.money(r["total"] / trades) if trades else "n/a"
        lines.append(
            f"• {r['bot_id']}: {trades} trip(s), win rate {fmt.percent(r['wins'], trades)}, "
            f"profit factor {fmt.ratio(factor)}, expectancy {expectancy}, "
            f"max drawdown {fmt.money(r['max_drawdown'], signed=False)}"
        )
    await inv.reply("\n".join(lines) if rows else "No trades yet.")
    return Result()


async def version(inv: Invocation) -> Result:
    await inv.reply(f"Alpha {installed_version()}")
    return Result()


COMMANDS = [
    Command("balance", Level.READ, "/balance", "wallet per account; each bot's equity", balance),
    Command("stats", Level.READ, "/stats", "win rate, profit factor, drawdown per bot", stats),
    Command("version", Level.READ, "/version", "the installed Alpha version", version),
]
