"""The state a running bot obeys: the stricter of its Redis key and its registry row.

Operators change a bot's state in both places: ``trading.bots.status`` (durable, in
the same transaction as the audit row) and ``bot:{id}:state`` in Redis, which the bot
reads before every decision because it is fast. Redis alone is not enough to obey:
a key that is gone reads as ``running`` (an unset key is a bot never paused), and Redis
can lose a write it acknowledged — a flush, a restart within its last second of AOF, a
replica promoted before it received the write. A paused bot would then trade again.

So the bot also keeps the registry's status: read at start, with every database
heartbeat (about every 30 s, in the same statement), and whenever the two disagree in
the registry's stricter direction (at most once a second, so a resume whose registry
commit is still in flight is seen within a second of it). A ``state`` notice — sent
after the operator's transaction commits — re-reads it at once. The bot obeys the
stricter of the two; a key that is gone is put back from the registry (``SET NX``: a
value an operator wrote since always wins).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from core import redis_keys
from core.db import KeptConnection
from core.ids import BotId
from core.redis_client import sync_reply
from core.risk import BotState

log = logging.getLogger(__name__)

#: ``trading.bots.status`` → the state it means for a running bot.
REGISTRY_STATE = {
    "active": BotState.RUNNING,
    "paused": BotState.PAUSED,
    "stopped": BotState.STOPPED,
    "retired": BotState.STOPPED,
}
_STRICTNESS = {BotState.RUNNING: 0, BotState.PAUSED: 1, BotState.STOPPED: 2}
#: The least time between two registry reads caused by a disagreement.
REREAD_SECONDS = 1.0


def parse_state(value: str | None) -> BotState:
    """The bot's state key's value: running when unset, paused when unreadable."""
    try:
        return BotState(value) if value else BotState.RUNNING
    except ValueError:
        log.warning("unknown bot state %r: treating as paused", value)
        return BotState.PAUSED


class ObeyedState:
    def __init__(
        self,
        reads: KeptConnection,
        bot_redis: redis.Redis,
        bot_id: BotId,
        registry_status: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reads = reads
        self._redis = bot_redis
        self._bot_id = bot_id
        self._clock = clock
        self.registry = REGISTRY_STATE.get(registry_status, BotState.PAUSED)
        self._read_at = clock()
        self._disagreeing_since: float | None = None
        self._warned = False

    def registry_read(self, status: str) -> None:
        """The registry's status, as a heartbeat just read it."""
        self.registry = REGISTRY_STATE.get(status, BotState.PAUSED)
        self._read_at = self._clock()

    def reread(self) -> None:
        """Read the registry's status now (a ``state`` notice: the operator's change has
        committed). A database that does not answer keeps the last status read."""
        try:
            with self._reads.use() as conn:
                row = conn.execute(
                    "SELECT status FROM trading.bots WHERE bot_id = %s", (self._bot_id,)
                ).fetchone()
        except Exception as exc:
            log.warning("registry status not read (keeping %s): %s", self.registry.value, exc)
            self._read_at = self._clock()
            return
        self.registry_read(row[0] if row else "retired")

    def obey(self, key_value: str | None) -> BotState:
        """The state to obey, given the Redis key's value (``None``: the key is gone)."""
        keyed = parse_state(key_value)
        if _STRICTNESS[self.registry] <= _STRICTNESS[keyed]:
            self._disagreeing_since = None
            return keyed
        now = self._clock()
        if now - self._read_at >= REREAD_SECONDS:
            self.reread()  # a resume may just have committed
            if _STRICTNESS[self.registry] <= _STRICTNESS[keyed]:
                self._disagreeing_since = None
                return keyed
        if self._disagreeing_since is None:
            self._disagreeing_since = now
            self._warned = False
        # A resume in flight disagrees for a moment; a lost key, or a disagreement that
        # lasts, is worth a line in the log (once).
        lasting = now - self._disagreeing_since >= 2 * REREAD_SECONDS
        if not self._warned and (key_value is None or lasting):
            self._warned = True
            log.warning(
                "redis says %s but the registry says %s: obeying %s%s",
                key_value or "nothing (the state key is gone)", self.registry.value,
                self.registry.value, "; putting the key back" if key_value is None else "",
            )  # fmt: skip
        if key_value is None:
            self._restore()
        return self.registry

    def _restore(self) -> None:
        key = redis_keys.bot_state(self._bot_id)
        try:
            sync_reply(self._redis.set(key, self.registry.value, nx=True))
        except redis.RedisError as exc:
            log.warning("state key not restored: %s", exc)
