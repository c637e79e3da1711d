"""The only effects the C2 has on bots (docs/ledger.md invariant 7): their state key, their
``commands:{id}`` stream, the global kill flag, and ``trading.bots.status``. Bots obey
these; the C2 never talks to the exchange."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime

from core import redis_keys
from core.ids import BotId
from telegram_c2.db import Database
from telegram_c2.redis_pool import RedisPool
from telegram_c2.registry import Bot

#: Redis state → ``trading.bots.status``.
DB_STATUS = {"running": "active", "paused": "paused", "stopped": "stopped"}


class Control:
    def __init__(self, db: Database, redis: RedisPool) -> None:
        self._db = db
        self._redis = redis

    async def set_state(self, bots: Iterable[Bot], state: str) -> list[str]:
        """Set each bot's state in ``trading.bots`` and in Redis; returns the bot ids.

        The Redis write (what the bot obeys) happens inside the database transaction,
        so a Redis failure rolls the registry back and the two never disagree because
        of us; a commit failure after it is retried by the operator.
        """
        status = DB_STATUS[state]
        changed: list[str] = []
        async with self._db.transaction() as conn:
            for bot in bots:
                await conn.execute(
                    "UPDATE trading.bots SET status = %s, updated_at = now() WHERE bot_id = %s",
                    (status, bot.bot_id),
                )
                await self._redis.db(bot.redis_db).set(
                    redis_keys.bot_state(BotId(bot.bot_id)), state
                )
                changed.append(bot.bot_id)
        return changed

    async def flatten(self, bot: Bot, requested_by: str) -> str:
        """Put exactly one ``flatten`` on the bot's command stream; returns its id."""
        command_id = uuid.uuid4().hex
        await self._redis.db(bot.redis_db).xadd(
            redis_keys.commands_stream(BotId(bot.bot_id)),
            {"command": "flatten", "requested_by": requested_by, "id": command_id},
        )
        return command_id

    async def kill(self, bots: list[Bot], requested_by: str, at: datetime) -> list[str]:
        """Kill switch: the global flag first (every risk gate refuses new entries at
        once), then pause every bot, then flatten every bot."""
        await self._redis.infra.set(
            redis_keys.KILL_FLAG,
            json.dumps({"requested_by": requested_by, "at": at.isoformat()}),
        )
        await self.set_state([b for b in bots if b.status != "stopped"], "paused")
        return [await self.flatten(bot, requested_by) for bot in bots]
