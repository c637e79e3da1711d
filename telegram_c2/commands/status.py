"""/status and /bots: one screen an operator can trust at a glance."""

from __future__ import annotations

from core.operator.registry import Bot
from telegram_c2 import fmt, ledger
from telegram_c2.access import Level
from telegram_c2.commands.base import Command, Invocation, Result


async def _bot_line(inv: Invocation, bot: Bot, view: ledger.LedgerView) -> str:
    now = inv.c2.clock()
    state = await inv.c2.ops.bot_state(bot) or f"{bot.status} (no state key)"
    beat = await inv.c2.ops.heartbeat(bot) or bot.last_heartbeat
    heartbeat = fmt.age(now - beat) + " ago" if beat else "no heartbeat"
    open_positions = len(view.open_positions(bot.bot_id))
    today = view.net_on(bot.bot_id, now.date())
    return (
        f"• {bot.bot_id} ({bot.bot_code}): {state}, heartbeat {heartbeat}, "
        f"{open_positions} open, today {fmt.money(today)}"
    )


async def status(inv: Invocation) -> Result:
    c2 = inv.c2
    bots = await inv.bots()
    view = await ledger.load(c2.db)
    lines = ["Bots:"] + [await _bot_line(inv, bot, view) for bot in bots]
    if not bots:
        lines.append("• none registered")
    health = await c2.ops.listener()
    if health.connected is None:
        lines.append("Listener: no status reported")
    else:
        seen = fmt.age(c2.clock() - health.last_message_at) if health.last_message_at else "?"
        lines.append(
            f"Listener: {'connected' if health.connected else 'DISCONNECTED'}, "
            f"lag {health.lag or '?'}, last message {seen} ago"
        )
    sync = await c2.ops.last_sync()
    drift = await c2.ops.open_drift()
    sync_text = (
        f"{sync['job']} {sync['status']} at {fmt.when(sync['finished_at'])}" if sync else "never"
    )
    lines.append(f"Last sync: {sync_text}; open drift: {len(drift) or 'none'}")
    backup = await c2.ops.last_backup()
    backup_text = (
        f"#{backup['id']} {backup['status']} ({fmt.when(backup['started_at'])})"
        if backup
        else "none yet"
    )
    lines.append(f"Last backup: {backup_text}")
    await inv.reply("\n".join(lines))
    return Result()


async def bots(inv: Invocation) -> Result:
    rows = await inv.bots()
    held = await inv.c2.ops.held_by_drift()

    def line(b: Bot) -> str:
        text = f"• {b.bot_id} ({b.bot_code}) — {b.bot_name}: {b.status}"
        if b.bot_id in held:
            text += f"; entries held: open drift on {held[b.bot_id]}"
        return text

    text = "\n".join(line(b) for b in rows)
    await inv.reply(text or "No bots registered.")
    return Result()


COMMANDS = [
    Command(
        "status", Level.READ, "/status", "every bot, the listener, sync, drift, backup", status
    ),
    Command("bots", Level.READ, "/bots", "registered bots and their status", bots),
]
