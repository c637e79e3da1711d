"""Flatten, force exit, kill and lifting the kill: what happens once an admin confirmed
it, one implementation for every channel (the C2's buttons, the API's
``POST /api/v1/confirm/{id}``).

The channel supplies ``effect(detail)``: its audit transaction that starts with the
``confirmed`` row carrying ``detail``. The effect runs inside it, so the row and the
effect commit together (docs/ledger.md invariant 8); an exception rolls both back and
the channel records the failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from core.operator.control import Control, new_command_id
from core.operator.registry import Bot, resolve

#: The actions that need a confirmation, in every channel.
ACTIONS = frozenset({"flatten", "forceexit", "kill", "unkill"})

ConfirmedEffect = Callable[[str], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]


@dataclass(frozen=True)
class Confirmed:
    """What a confirmed action did: ``action`` and ``bot_id`` as asked, ``detail`` the
    sentence the audit row and the reply carry."""

    action: str
    bot_id: str | None
    detail: str


async def execute(
    control: Control,
    effect: ConfirmedEffect,
    *,
    action: str,
    bots: list[Bot],
    bot_id: str | None,
    args: Sequence[str],
    requested_by: str,
    at: datetime,
) -> Confirmed:
    """Do the confirmed ``action``. ``bots`` is the registry now (a bot retired while the
    confirmation waited is an ``UnknownBotError``); ``args`` are the command's own (the
    symbol of a force exit is ``args[1]``)."""
    if action == "flatten":
        assert bot_id is not None
        bot = resolve(bot_id, bots)
        command_id = new_command_id()
        text = f"Flatten sent to {bot.bot_id} (command {command_id})."
        async with effect(text):
            await control.flatten(bot, requested_by, command_id)
        return Confirmed(action, bot.bot_id, text)
    if action == "forceexit":
        assert bot_id is not None
        bot = resolve(bot_id, bots)
        symbol = args[1].upper()
        command_id = new_command_id()
        text = f"Exit of {symbol} sent to {bot.bot_id} (command {command_id})."
        async with effect(text):
            await control.exit(bot, symbol, requested_by, command_id)
        return Confirmed(action, bot.bot_id, text)
    if action == "unkill":
        text = "Kill switch lifted; every bot is still paused until it is resumed."
        async with effect(text):
            if not await control.lift_kill():
                text = "The kill switch was already lifted; nothing was done."
        return Confirmed(action, None, text)
    if action == "kill":
        ids = [new_command_id() for _ in bots]
        paused = sum(1 for b in bots if b.status != "stopped")
        text = f"Kill flag set; {paused} bot(s) paused; {len(ids)} flatten command(s) sent."
        async with effect(text) as conn:
            await control.kill(conn, bots, requested_by, at, ids)
        return Confirmed(action, None, text)
    raise ValueError(f"not a confirmable action: {action!r}")
