"""``alpha bots move-redis BOT_ID --to shared``: a stopped bot's keys from its own
logical DB into the shared one (``redis_keys.SHARED_DB``), its ``redis_db`` then NULL.

Every per-bot key carries the bot id (``redis_keys.bot_patterns``), so the keys of many
bots live side by side in the shared DB. The move holds the registry lock throughout, so
no registration or status change interleaves: it copies each key with ``COPY … DB …
REPLACE`` (value and TTL, on the server), commits ``redis_db = NULL`` with its audit
row, and only then deletes the originals. A failure before the commit changes nothing
in the registry (the copies are harmless: the bot still reads its own DB) and leaves a
``failed`` audit row; a failure of the final delete leaves stale copies in the old DB,
which the message names.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from core import redis_keys
from core.config import Role, Settings
from core.errors import UserError
from core.ids import EXTERNAL_BOT, BotId
from core.redis_client import redis_client, sync_reply
from database import bots

#: ``trading.bots.last_heartbeat`` newer than this: the bot may be running (it writes it
#: every 24–36 s, bots/runtime/heartbeat.py ``DB_HEARTBEAT_EVERY`` and its spread).
FRESH_DB_HEARTBEAT = timedelta(seconds=90)


def bot_keys(client: redis.Redis, bot_id: BotId) -> list[str]:
    """Every key of ``bot_id`` in ``client``'s DB, sorted."""
    found: set[str] = set()
    for pattern in redis_keys.bot_patterns(bot_id):
        found.update(client.scan_iter(match=pattern, count=1000))
    return sorted(found)


def _refuse_running(client: redis.Redis, bot: bots.Bot) -> None:
    bot_id = BotId(bot.bot_id)
    try:
        alive = sync_reply(client.exists(redis_keys.heartbeat(bot_id), f"bot:{bot_id}:lease"))
    except redis.RedisError as exc:
        raise UserError(f"move-redis {bot_id}: nothing changed, Redis unreachable: {exc}") from None
    if alive:
        raise UserError(
            f"bot {bot_id} is running (fresh heartbeat or lease in Redis db "
            f"{bot.redis_db}): stop it before moving its keys"
        )
    beat = bot.last_heartbeat
    if beat is not None and datetime.now(UTC) - beat < FRESH_DB_HEARTBEAT:
        raise UserError(
            f"bot {bot_id} is running (heartbeat at {beat:%H:%M:%S} UTC): stop it before "
            "moving its keys"
        )


def move_to_shared(settings: Settings, bot_id: str) -> str:
    """Move ``bot_id``'s keys into the shared DB; returns the line to print."""
    from core.db import connect

    if bot_id == EXTERNAL_BOT:
        raise UserError(f"bot {bot_id!r} is reserved: it has no Redis keys to move")
    if settings.redis.cluster:
        raise UserError(
            "move-redis: Redis is a cluster (REDIS_CLUSTER=true), which has no DB to move "
            "from; move every bot into the shared DB on the standalone Redis before "
            "switching (docs/redis.md#redis-cluster)"
        )
    target = redis_keys.SHARED_DB
    with connect(settings, Role.OWNER, direct=True) as conn:
        try:
            with conn.transaction():
                bots.lock(conn)
                bot = bots.get_bot(conn, bot_id)
                if bot.status == "retired":
                    raise UserError(f"bot {bot_id} is retired; its keys are not moved")
                if bot.redis_db is None:
                    raise UserError(f"bot {bot_id} already keeps its keys in the shared DB")
                source = bot.redis_db
                old = redis_client(settings, source)
                try:
                    _refuse_running(old, bot)
                    # Own DB 0 is the shared DB: the keys are already where they belong.
                    keys = [] if source == target else _copy(old, bot, target)
                    conn.execute(
                        "UPDATE trading.bots SET redis_db = NULL, updated_at = now()"
                        " WHERE bot_id = %s",
                        (bot_id,),
                    )
                    bots.audit(
                        conn, "move-redis", bot_id, f"db {source} -> shared db {target}: "
                        f"{len(keys)} keys",
                    )  # fmt: skip
                except BaseException:
                    old.close()
                    raise
        except _CopyFailed as exc:
            with conn.transaction():
                bots.audit(conn, "move-redis", bot_id, str(exc), outcome="failed")
            raise UserError(str(exc)) from None
    try:
        if keys:
            old.delete(*keys)
    except redis.RedisError as exc:
        return (
            f"{bot_id}: {len(keys)} keys moved from db {source} to the shared db {target}; "
            f"the originals in db {source} were not deleted ({exc})"
        )
    finally:
        old.close()
    return f"{bot_id}: {len(keys)} keys moved from db {source} to the shared db {target}"


class _CopyFailed(UserError):
    pass


def _copy(old: redis.Redis, bot: bots.Bot, target: int) -> list[str]:
    """COPY every key of the bot into ``target`` (REPLACE: leftovers of an earlier,
    interrupted move are overwritten); raises :class:`_CopyFailed` on a Redis error."""
    try:
        keys = bot_keys(old, BotId(bot.bot_id))
        if keys:
            pipe = old.pipeline(transaction=False)
            for key in keys:
                pipe.copy(key, key, destination_db=str(target), replace=True)
            copied: list[Any] = pipe.execute()
            missing = [k for k, done in zip(keys, copied, strict=True) if not done]
            if missing:
                raise _CopyFailed(
                    f"move-redis {bot.bot_id}: {missing[0]} vanished while copying; retry"
                )
    except redis.RedisError as exc:
        raise _CopyFailed(
            f"move-redis {bot.bot_id}: nothing changed, Redis refused the copy: {exc}"
        ) from None
    return keys
