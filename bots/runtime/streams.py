"""The bot's two Redis streams — its own fills and its operators' commands — read through
one consumer group, so an entry is acknowledged only after the host handled it and a
crash in between redelivers it.

On a standalone Redis one blocking ``XREADGROUP`` waits on both streams. A Redis Cluster
refuses that (``fills:{id}`` and ``commands:{id}`` hash to different slots, CROSSSLOT),
so there each stream gets a reader thread of its own (:func:`reader_streams`): both
still wake the moment an entry arrives, and the host handles what they queue on one
thread, as before.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from typing import Any

import redis
from redis.typing import KeyT, StreamIdT

from core import redis_keys
from core.ids import BotId
from core.redis_client import ensure_group, group_lost, sync_reply

log = logging.getLogger(__name__)

GROUP = "bot"


def ensure_groups(bot_redis: redis.Redis, bot_id: BotId) -> None:
    for stream in (redis_keys.fills_stream(bot_id), redis_keys.commands_stream(bot_id)):
        # "$": fills before the group existed are already in the ledger positions.
        ensure_group(bot_redis, stream, GROUP, start="$")


def pending_fills(bot_redis: redis.Redis, bot_id: BotId) -> list[tuple[str, dict[str, str]]]:
    """Fills delivered before a crash but never acknowledged (up to 1,000)."""
    stream = redis_keys.fills_stream(bot_id)
    entries = sync_reply(bot_redis.xreadgroup(GROUP, bot_id, {stream: "0"}, count=1000))
    return [(entry_id, fields) for _, items in entries or [] for entry_id, fields in items]


def reader_streams(bot_id: BotId, *, cluster: bool) -> list[tuple[str, ...]]:
    """The streams each reader thread waits on: both in one read, or on a cluster (one
    read may not span slots) one thread per stream."""
    both = (redis_keys.fills_stream(bot_id), redis_keys.commands_stream(bot_id))
    return [(stream,) for stream in both] if cluster else [both]


def read_streams(
    bot_redis: redis.Redis,
    bot_id: BotId,
    events: queue.Queue[tuple[str, Any]],
    stop: threading.Event,
    names: Sequence[str] | None = None,
) -> None:
    """Until ``stop``: put each new entry of ``names`` (default: both streams) on
    ``events`` as ``("fill" | "command", (entry_id, fields))``. The target of the host's
    reader thread(s)."""
    if names is None:
        names = (redis_keys.fills_stream(bot_id), redis_keys.commands_stream(bot_id))
    streams: dict[KeyT, StreamIdT] = {name: ">" for name in names}
    while not stop.is_set():
        try:
            batches = sync_reply(bot_redis.xreadgroup(GROUP, bot_id, streams, count=100, block=500))
        except redis.RedisError as exc:
            if group_lost(exc):
                log.warning("the bot's consumer group is gone (Redis lost its data?): "
                            "created again, reading what the streams hold now (%s)",
                            str(exc).split(" ", 1)[0])  # fmt: skip
                try:
                    for name in names:
                        ensure_group(bot_redis, str(name), GROUP, start="0")
                    continue
                except redis.RedisError as again:
                    exc = again
            log.warning("redis stream read failed, retrying: %s", exc)
            # A fixed short pause rather than core.retry's growing one: the bot's own
            # fills (a stop that just filled) wait behind this read, and a bot backed
            # off to many seconds would react late once Redis is back. One failed read a
            # second costs a down Redis nothing. On the stop event so shutdown is prompt.
            stop.wait(1)
            continue
        for stream, items in batches or []:
            kind = "fill" if stream.startswith("fills:") else "command"
            for entry_id, fields in items:
                events.put((kind, (entry_id, fields)))
