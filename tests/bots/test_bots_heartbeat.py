"""A bot's liveness marks (bots/runtime/heartbeat.py), on the real PostgreSQL, PgBouncer
and Redis.

The database beat once opened a new connection every 30 s: a SCRAM handshake through
PgBouncer each time, and fifty bots started together did it in the same instant. It now
goes over the bot's kept connection, and its interval is spread so bots drift apart.
"""

from __future__ import annotations

from bots.runtime.heartbeat import (
    DB_HEARTBEAT_EVERY,
    DB_HEARTBEAT_SPREAD,
    HEARTBEAT_EVERY,
    Heartbeat,
)
from core import redis_keys
from core.config import Role
from core.db import KeptConnection
from tests.bots.conftest import REGISTERED as BOT
from tests.bots.conftest import Clock


def _db_beat(database):
    with database.connect(Role.OWNER, True) as conn:
        row = conn.execute(
            "SELECT last_heartbeat FROM trading.bots WHERE bot_id = %s", (BOT,)
        ).fetchone()
    return row[0]


def test_database_beats_share_the_bots_kept_connection(registered, opened):
    kept = KeptConnection(registered.settings, Role.BOT)
    clock = Clock()
    beat = Heartbeat(kept, registered.redis(), BOT, clock=clock)
    try:
        beat.beat()  # at start: both marks
        first = _db_beat(registered)
        assert first is not None
        assert registered.redis().get(redis_keys.heartbeat(BOT))
        for _ in range(4):  # four more database beats, each one interval later
            clock.now += DB_HEARTBEAT_EVERY * (1 + DB_HEARTBEAT_SPREAD)
            beat.beat()
        assert _db_beat(registered) > first
        as_bot = [user for user in opened.users if user.endswith(f"_{Role.BOT.value}")]
        assert len(as_bot) == 1, f"{len(as_bot)} connections as the bot for five beats"
    finally:
        kept.close()


def test_database_beats_are_spread_and_redis_beats_are_not(registered):
    kept = KeptConnection(registered.settings, Role.BOT)
    clock = Clock()
    beat = Heartbeat(kept, registered.redis(), BOT, clock=clock)
    key = redis_keys.heartbeat(BOT)
    redis = registered.redis()
    try:
        beat.beat()
        due = []
        for _ in range(20):
            due.append(beat._next_db_beat - clock.now)
            clock.now = beat._next_db_beat
            beat.beat()
        low, high = 1 - DB_HEARTBEAT_SPREAD, 1 + DB_HEARTBEAT_SPREAD
        assert all(DB_HEARTBEAT_EVERY * low <= d <= DB_HEARTBEAT_EVERY * high for d in due)
        assert len({round(d, 6) for d in due}) > 1  # not one fixed period for every bot
        # The Redis mark keeps its fixed period: not due again before HEARTBEAT_EVERY.
        redis.delete(key)
        clock.now += HEARTBEAT_EVERY / 2
        beat.beat()
        assert redis.get(key) is None
        clock.now += HEARTBEAT_EVERY / 2
        beat.beat()
        assert redis.get(key)
    finally:
        kept.close()
