"""The running bot's liveness marks: a Redis key with a TTL and a PostgreSQL column.

The Redis key (``bot:{id}:heartbeat``) is what the health endpoint and the Telegram
alerts read: it expires on its own when the process dies. The database column
(``trading.bots.last_heartbeat``) says when a bot was last seen once the key is gone; it
is written less often because a write per bot every few seconds would load the database
for a value nobody needs to the second.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import redis

from core import redis_keys
from core.config import Role, Settings
from core.ids import BotId

log = logging.getLogger(__name__)

HEARTBEAT_TTL = 30
HEARTBEAT_EVERY = 5.0
DB_HEARTBEAT_EVERY = 30.0


class Heartbeat:
    """Call :meth:`beat` from the decision loop; it writes only when one is due."""

    def __init__(self, settings: Settings, bot_redis: redis.Redis, bot_id: BotId) -> None:
        self._settings = settings
        self._redis = bot_redis
        self._bot_id = bot_id
        self._last_beat = 0.0
        self._last_db_beat = 0.0

    def beat(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_EVERY:
            self._last_beat = now
            self._redis.set(
                redis_keys.heartbeat(self._bot_id),
                datetime.now(UTC).isoformat(),
                ex=HEARTBEAT_TTL,
            )
        if now - self._last_db_beat >= DB_HEARTBEAT_EVERY:
            self._last_db_beat = now
            self._db_heartbeat()

    def _db_heartbeat(self) -> None:
        from core.db import connect

        try:
            with connect(self._settings, Role.BOT) as conn:
                conn.execute(
                    "UPDATE trading.bots SET last_heartbeat = now() WHERE bot_id = %s",
                    (self._bot_id,),
                )
        except Exception as exc:
            # A missed database beat is not worth stopping a trading bot for.
            log.warning("heartbeat not written to PostgreSQL: %s", exc)
