"""/pause, /resume, /stop: a bot's state in Redis (what it obeys) and ``trading.bots``."""

from __future__ import annotations

from telegram_c2.access import Level
from telegram_c2.commands.base import Command, Invocation, Result, UsageError


async def _change(inv: Invocation, state: str, *, allow_all: bool) -> Result:
    if len(inv.args) != 1:
        target = "BOT|all" if allow_all else "BOT"
        raise UsageError(f"Usage: /{inv.command} {target}")
    name = inv.args[0]
    if allow_all and name.lower() == "all":
        every = await inv.bots()
        # "all" never touches a stopped bot: resuming one is a deliberate, named act.
        wanted = {"paused": ("active",), "running": ("paused",)}[state]
        targets = [b for b in every if b.status in wanted]
        bot_id = None
    else:
        targets = [await inv.bot(name)]
        bot_id = targets[0].bot_id
    detail = f"{state}: {','.join(b.bot_id for b in targets)}"
    async with inv.effect(detail, bot_id) as conn:
        changed = await inv.c2.control.set_state(conn, targets, state)
    text = ", ".join(changed) if changed else "no bot needed it"
    await inv.reply(f"{state.capitalize()}: {text}.")
    return Result(detail=detail, bot_id=bot_id)


async def pause(inv: Invocation) -> Result:
    return await _change(inv, "paused", allow_all=True)


async def resume(inv: Invocation) -> Result:
    return await _change(inv, "running", allow_all=True)


async def stop(inv: Invocation) -> Result:
    return await _change(inv, "stopped", allow_all=False)


COMMANDS = [
    Command("pause", Level.WRITE, "/pause BOT|all", "no new entries; exits still managed", pause),
    Command("resume", Level.WRITE, "/resume BOT|all", "back to running", resume),
    Command("stop", Level.WRITE, "/stop BOT", "no orders at all", stop),
]
