"""/pause, /resume, /stop: a bot's state in Redis (what it obeys) and ``trading.bots``;
/resetrisk: lift a bot's risk halt."""

from __future__ import annotations

from core.operator.control import new_command_id
from core.operator.state import change_state
from telegram_c2.access import Level
from telegram_c2.commands.base import Command, Invocation, Result, UsageError


async def _change(inv: Invocation, state: str, *, allow_all: bool) -> Result:
    if len(inv.args) != 1:
        target = "BOT|all" if allow_all else "BOT"
        raise UsageError(f"Usage: /{inv.command} {target}")
    done = await change_state(
        inv.c2.control, inv.effect, inv.args[0], await inv.bots(), state,
        allow_all=allow_all, requested_by=inv.requested_by,
    )  # fmt: skip
    text = ", ".join(done.changed) if done.changed else "no bot needed it"
    await inv.reply(f"{state.capitalize()}: {text}.")
    return Result(detail=done.detail, bot_id=done.bot_id)


async def pause(inv: Invocation) -> Result:
    return await _change(inv, "paused", allow_all=True)


async def resume(inv: Invocation) -> Result:
    return await _change(inv, "running", allow_all=True)


async def stop(inv: Invocation) -> Result:
    return await _change(inv, "stopped", allow_all=False)


async def reset_risk(inv: Invocation) -> Result:
    """The bot lifts its loss-limit halt and re-anchors its day and peak on its equity now
    (bots/runtime/loss_limits.py); a halt otherwise lifts at the next UTC period."""
    if len(inv.args) != 1:
        raise UsageError("Usage: /resetrisk BOT")
    bot = await inv.bot(inv.args[0])
    command_id = new_command_id()
    detail = f"reset-risk sent (command {command_id})"
    async with inv.effect(detail, bot.bot_id):
        await inv.c2.control.send(bot, "reset-risk", inv.requested_by, command_id)
    await inv.reply(
        f"Risk reset sent to {bot.bot_id} (command {command_id}): its halt lifts and its "
        "limits count from its equity now."
    )
    return Result(detail=detail, bot_id=bot.bot_id)


COMMANDS = [
    Command("pause", Level.WRITE, "/pause BOT|all", "no new entries; exits still managed", pause),
    Command("stopentry", Level.WRITE, "/stopentry BOT|all", "alias of /pause", pause),
    Command("resume", Level.WRITE, "/resume BOT|all", "back to running", resume),
    Command("stop", Level.WRITE, "/stop BOT", "no orders at all", stop),
    Command("resetrisk", Level.WRITE, "/resetrisk BOT", "lift a bot's risk halt", reset_risk),
]
