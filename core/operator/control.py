"""The only effects the C2 has on bots (docs/ledger.md invariant 7): their state key,
their ``commands:{id}`` stream, the global kill flag, and ``trading.bots.status``. Bots
obey these; the C2 never talks to the exchange.

Every effect runs inside the caller's audit transaction (``Auditor.effect``): the audit
row is written first, the Redis writes happen before the commit, so a Redis failure
rolls back the row and the registry change together. What remains is a commit that
fails after a Redis write: the caller then records the command as ``failed``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import psycopg

from core import kill_switch, redis_keys
from core.ids import BotId
from core.operator.redis_pool import RedisPool
from core.operator.registry import Bot

#: Redis state → ``trading.bots.status``.
DB_STATUS = {"running": "active", "paused": "paused", "stopped": "stopped"}


def new_command_id() -> str:
    """Chosen before the effect, so the audit row written first can name it."""
    return uuid.uuid4().hex


def command_entry(command: str, requested_by: str, command_id: str, **extra: str) -> dict[str, str]:
    """One entry of a bot's ``commands:{id}`` stream, as the bot reads it
    (bots/runtime/commands.py): what, who asked, the id the audit row names, and the
    command's own fields."""
    return {"command": command, "requested_by": requested_by, "id": command_id, **extra}


class Control:
    def __init__(self, redis: RedisPool) -> None:
        self._redis = redis

    async def set_state(
        self, conn: psycopg.AsyncConnection[Any], bots: Iterable[Bot], state: str
    ) -> list[str]:
        """Set each bot's state in ``trading.bots`` (in ``conn``'s transaction) and in
        Redis; returns the bot ids."""
        status = DB_STATUS[state]
        changed: list[str] = []
        for bot in bots:
            await conn.execute(
                "UPDATE trading.bots SET status = %s, updated_at = now() WHERE bot_id = %s",
                (status, bot.bot_id),
            )
            await self._redis.db(bot.redis_db).set(redis_keys.bot_state(BotId(bot.bot_id)), state)
            changed.append(bot.bot_id)
        return changed

    async def flatten(self, bot: Bot, requested_by: str, command_id: str) -> None:
        """Put exactly one ``flatten`` on the bot's command stream."""
        await self.send(bot, "flatten", requested_by, command_id)

    async def exit(self, bot: Bot, symbol: str, requested_by: str, command_id: str) -> None:
        """Put exactly one ``exit`` of ``symbol`` on the bot's command stream."""
        await self.send(bot, "exit", requested_by, command_id, symbol=symbol)

    async def send(
        self, bot: Bot, command: str, requested_by: str, command_id: str, **extra: str
    ) -> None:
        """One entry on the bot's command stream (docs/redis.md: ``flatten``, ``exit``,
        ``cancel-all``, ``reset-risk``)."""
        fields = command_entry(command, requested_by, command_id, **extra)
        await self._redis.db(bot.redis_db).xadd(
            redis_keys.commands_stream(BotId(bot.bot_id)),
            fields,  # type: ignore[arg-type]
        )

    async def kill(
        self,
        conn: psycopg.AsyncConnection[Any],
        bots: list[Bot],
        requested_by: str,
        at: datetime,
        command_ids: list[str],
    ) -> None:
        """Kill switch: the global flag first (every risk gate refuses new entries at
        once), then pause every bot, then flatten every bot (``command_ids[i]`` for
        ``bots[i]``)."""
        await self._redis.infra.set(redis_keys.KILL_FLAG, kill_switch.flag_value(requested_by, at))
        await self.set_state(conn, [b for b in bots if b.status != "stopped"], "paused")
        for bot, command_id in zip(bots, command_ids, strict=True):
            await self.flatten(bot, requested_by, command_id)

    async def kill_flag(self) -> dict[str, str] | None:
        """Who set the kill flag and when, or None when it is not set."""
        return kill_switch.parse_flag(await self._redis.infra.get(redis_keys.KILL_FLAG))

    async def lift_kill(self) -> bool:
        """Clears the kill flag; the bots stay paused until each is resumed. True when
        there was a flag to clear."""
        return bool(await self._redis.infra.delete(redis_keys.KILL_FLAG))
