"""The running bot's liveness marks: a Redis key with a TTL and a PostgreSQL column.

The Redis key (``bot:{id}:heartbeat``) is what the health endpoint and the Telegram
alerts read: it expires on its own when the process dies. The database column
(``trading.bots.last_heartbeat``) says when a bot was last seen once the key is gone; it
is written less often because a write per bot every few seconds would load the database
for a value nobody needs to the second.

The database beat goes through the bot's kept connection (``core.db.KeptConnection``),
not a new one: a new connection through PgBouncer is a SCRAM handshake, and fifty bots
started together opened fifty at once every 30 s — a burst the listener's commits had to
queue behind (docs/fleet.md). Each interval is also drawn between 0.8 and 1.2 times
:data:`DB_HEARTBEAT_EVERY`, so bots started together drift apart instead of beating in
step.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis

from core import redis_keys
from core.db import KeptConnection
from core.ids import BotId

log = logging.getLogger(__name__)

HEARTBEAT_TTL = 30
HEARTBEAT_EVERY = 5.0
DB_HEARTBEAT_EVERY = 30.0
#: How far one database beat's interval may stray from DB_HEARTBEAT_EVERY, each way.
DB_HEARTBEAT_SPREAD = 0.2


class Heartbeat:
    """Call :meth:`beat` from the decision loop; it writes only when one is due."""

    def __init__(
        self,
        reads: KeptConnection,
        bot_redis: redis.Redis,
        bot_id: BotId,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_status: Callable[[str], None] = lambda status: None,
    ) -> None:
        """``on_status``: given the bot's ``trading.bots.status``, read by each database
        beat in the same statement (bots/runtime/obeyed_state.py)."""
        self._reads = reads
        self._on_status = on_status
        self._redis = bot_redis
        self._bot_id = bot_id
        self._clock = clock
        self._last_beat = float("-inf")
        self._next_db_beat = float("-inf")  # the first one at start

    def beat(self) -> None:
        now = self._clock()
        if now - self._last_beat >= HEARTBEAT_EVERY:
            self._last_beat = now
            self._redis.set(
                redis_keys.heartbeat(self._bot_id),
                datetime.now(UTC).isoformat(),
                ex=HEARTBEAT_TTL,
            )
        if now >= self._next_db_beat:
            spread = random.uniform(1 - DB_HEARTBEAT_SPREAD, 1 + DB_HEARTBEAT_SPREAD)
            self._next_db_beat = now + DB_HEARTBEAT_EVERY * spread
            self._db_heartbeat()

    def _db_heartbeat(self) -> None:
        try:
            with self._reads.use() as conn:
                row = conn.execute(
                    "UPDATE trading.bots SET last_heartbeat = now() WHERE bot_id = %s"
                    " RETURNING status",
                    (self._bot_id,),
                ).fetchone()
        except Exception as exc:
            # A missed database beat is not worth stopping a trading bot for.
            log.warning("heartbeat not written to PostgreSQL: %s", exc)
            return
        if row is not None:
            self._on_status(row[0])
