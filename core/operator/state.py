"""Pause, resume, stop: one implementation for every channel.

A channel (the Telegram C2, the HTTP API) names a bot — or ``all`` where allowed — and
supplies its own audit transaction (``effect``); this module picks the targets, writes
the state inside that transaction, and says what changed. The audit row and the state
change therefore commit together, whichever channel asked (docs/ledger.md invariant 8).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import psycopg

from core.operator.control import Control, new_command_id
from core.operator.registry import Bot, resolve

#: The state each action sets (what bots obey, ``core/redis_keys.bot_state``).
ACTIONS = {"pause": "paused", "resume": "running", "stop": "stopped"}

#: ``all`` only moves bots out of the state the action leaves: resuming a stopped bot is a
#: deliberate, named act.
_ALL_FROM = {"paused": ("active",), "running": ("paused",)}

#: ``effect(detail, bot_id)``: the channel's audit transaction for this command.
Effect = Callable[[str, str | None], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]


@dataclass(frozen=True)
class StateChange:
    state: str
    #: The bot the command named, ``None`` for ``all`` (the audit row's ``bot_id``).
    bot_id: str | None
    detail: str
    changed: list[str]


def targets(name: str, every: list[Bot], state: str, *, allow_all: bool) -> list[Bot]:
    """The bots ``name`` means; an unknown name raises ``UnknownBotError`` (a UserError)."""
    if allow_all and name.strip().lower() == "all":
        return [b for b in every if b.status in _ALL_FROM[state]]
    return [resolve(name, every)]


async def change_state(
    control: Control,
    effect: Effect,
    name: str,
    every: list[Bot],
    state: str,
    *,
    allow_all: bool,
    requested_by: str = "operator",
) -> StateChange:
    """Set ``state`` on the bots ``name`` means, inside the caller's audit transaction."""
    chosen = targets(name, every, state, allow_all=allow_all)
    is_all = allow_all and name.strip().lower() == "all"
    bot_id = None if is_all else chosen[0].bot_id
    detail = f"{state}: {','.join(b.bot_id for b in chosen)}"
    async with effect(detail, bot_id) as conn:
        changed = await control.set_state(conn, chosen, state)
    # The key is what the bot obeys on its next decision; the notice makes a running bot
    # acknowledge it at once (bot:{id}:state_applied), so operators see it applied. It
    # goes once the transaction has committed: the bot then re-reads the registry row,
    # which it obeys too when it is the stricter (bots/runtime/obeyed_state.py).
    for bot in chosen:
        await control.send(bot, "state", requested_by, new_command_id(), state=state)
    return StateChange(state, bot_id, detail, changed)
