"""Clients for a Redis Cluster (``REDIS_CLUSTER=true``, docs/redis.md#redis-cluster).

redis-py's ``RedisCluster`` answers the same commands as ``redis.Redis`` for one key,
routes each to the node owning the key's slot, and splits ``DEL``/``EXISTS`` over several
keys per slot. What it cannot do is what a cluster refuses: one command, transaction or
script over keys of different slots. Alpha's callers keep every such operation on one
key (the places that had more are noted where they are).

A cluster has only DB 0: a client for any other DB is refused here, in one place, with
one message, whoever asks.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from core.errors import ConfigError

#: The only logical DB a Redis Cluster has.
CLUSTER_DB = 0


def check_db(db: int) -> None:
    """Refuses a logical DB other than 0: a cluster has no others."""
    if db != CLUSTER_DB:
        raise ConfigError(
            f"redis db {db}: a Redis Cluster (REDIS_CLUSTER=true) has only DB 0; a bot"
            " registered with --redis-db must be moved first (alpha bots move-redis BOT"
            " --to shared, against the standalone Redis), and REDIS_DB must be 0"
        )


class LazyCluster:
    """A ``RedisCluster`` built on first use.

    ``RedisCluster()`` asks a node for the slot map while it is constructed, so a
    cluster that is down at that moment raises from a constructor — where the services
    build their clients at start, outside the ``except redis.RedisError`` that makes a
    down standalone Redis a retry (the listener keeps recording fills without Redis).
    Built on first use, a failed discovery is a ``redis.ConnectionError`` from the
    command that needed it, and the next command tries again.
    """

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self._kwargs = kwargs
        self._client: RedisCluster | None = None
        self._lock = threading.Lock()

    def _real(self) -> RedisCluster:
        with self._lock:
            if self._client is None:
                try:
                    self._client = RedisCluster(**self._kwargs)
                except RedisClusterException as exc:
                    raise redis.ConnectionError(f"redis cluster unreachable: {exc}") from exc
            return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def is_cluster_client(client: object) -> bool:
    """True for a client of a Redis Cluster (from :func:`sync_cluster` or
    :func:`async_cluster`), for the few callers whose standalone way a cluster refuses."""
    return isinstance(client, LazyCluster | RedisCluster | AsyncRedisCluster)


def sync_cluster(kwargs: dict[str, Any]) -> LazyCluster:
    return LazyCluster(kwargs)


def async_cluster(kwargs: dict[str, Any]) -> AsyncRedisCluster:
    # The asyncio client discovers the slot map on its first command already.
    return AsyncRedisCluster(**kwargs)
