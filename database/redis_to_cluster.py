"""``alpha redis copy-to-cluster --from HOST:PORT``: move a deployment from one standalone
Redis onto the Redis Cluster this process is configured for (``REDIS_CLUSTER=true``,
docs/redis.md#redis-cluster).

No key is renamed for a cluster, so moving is copying: every key of the standalone's
shared DB (0) and of its infrastructure DB (``--from-infra-db``, default 15) goes into
the cluster's one DB with ``DUMP``/``RESTORE … REPLACE`` — the value exactly, streams
with their consumer groups and pending entries, and each key's remaining TTL. Key names
never collide between the two DBs (infrastructure names carry no bot id, per-bot names
all do).

Refused, with nothing copied, while a bot still has a DB of its own (move it first with
``alpha bots move-redis BOT --to shared`` against the standalone Redis) and while
anything seems to run against the standalone Redis (a bot's heartbeat or lease key, a
listener heartbeat younger than a minute): keys written after the copy would be lost.
The standalone Redis is only read; it can be kept until the cluster is trusted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from core import redis_keys
from core.config import Role, Settings
from core.errors import UserError
from core.redis_client import redis_client, sync_reply

#: A listener heartbeat this recent means a listener still writes to the standalone Redis.
LISTENER_ALIVE = timedelta(minutes=1)


def _source(host: str, port: int, db: int, password: str | None) -> redis.Redis:
    # Bytes, not text: DUMP's payload is binary.
    return redis.Redis(host=host, port=port, db=db, password=password, socket_timeout=30)


def _bots_with_own_db(settings: Settings) -> list[str]:
    from core.db import connect

    with connect(settings, Role.OWNER, direct=True) as conn:
        rows = conn.execute(
            "SELECT bot_id FROM trading.bots WHERE redis_db IS NOT NULL"
            " AND status <> 'retired' ORDER BY bot_id"
        ).fetchall()
    return [str(r[0]) for r in rows]


def _refuse_running(shared: redis.Redis, infra: redis.Redis) -> None:
    for pattern in ("bot:*:heartbeat", "bot:*:lease"):
        for key in shared.scan_iter(match=pattern, count=1000):
            raise UserError(
                f"copy-to-cluster: {key.decode()} exists on the standalone Redis: a bot is"
                " running; stop every bot and service first"
            )
    beat: Any = sync_reply(infra.hget(redis_keys.LISTENER_STATUS, "heartbeat"))  # bytes
    if beat:
        at = datetime.fromisoformat(beat.decode())
        if datetime.now(UTC) - at < LISTENER_ALIVE:
            raise UserError(
                f"copy-to-cluster: the listener's heartbeat on the standalone Redis is from"
                f" {at:%H:%M:%S} UTC: stop every service first"
            )


def _copy(source: redis.Redis, target: Any) -> int:
    copied = 0
    for key in source.scan_iter(count=1000):
        payload = source.dump(key)
        if payload is None:
            continue  # expired since the scan
        ttl = int(sync_reply(source.pttl(key)))
        target.restore(key, max(ttl, 0), payload, replace=True)
        copied += 1
    return copied


def copy_to_cluster(
    settings: Settings, host: str, port: int, infra_db: int, password: str | None
) -> str:
    """Copy the standalone Redis at ``host:port`` into the configured cluster; returns
    the line to print."""
    if not settings.redis.cluster:
        raise UserError(
            "copy-to-cluster: the target is the Redis Cluster of REDIS_HOST/REDIS_PORT with"
            " REDIS_CLUSTER=true, which is not set"
        )
    own = _bots_with_own_db(settings)
    if own:
        raise UserError(
            f"copy-to-cluster: {', '.join(own)} still keep their keys in a DB of their own;"
            " on the standalone Redis, `alpha bots move-redis BOT --to shared` each first"
        )
    shared = _source(host, port, redis_keys.SHARED_DB, password)
    infra = _source(host, port, infra_db, password)
    target = redis_client(settings)
    try:
        _refuse_running(shared, infra)
        counts = [_copy(source, target) for source in (shared, infra)]
    except redis.RedisError as exc:
        raise UserError(f"copy-to-cluster: stopped, Redis failed: {exc}") from None
    finally:
        for client in (shared, infra, target):
            client.close()
    return (
        f"copied {sum(counts)} keys into the cluster: {counts[0]} from DB"
        f" {redis_keys.SHARED_DB}, {counts[1]} from DB {infra_db}"
    )
