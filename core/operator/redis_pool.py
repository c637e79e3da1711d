"""One asyncio Redis client per logical DB (a bot's own or the shared one; infra keys
have theirs)."""

from __future__ import annotations

import redis.asyncio

from core import redis_keys
from core.config import Settings
from core.redis_client import async_redis_client
from core.redis_cluster import CLUSTER_DB

#: Seconds an operator's Redis call waits for its reply. Every call here is a small read
#: or write, never a blocking read; without a limit, a partition (packets dropped, no
#: reset) held a C2 command or an HTTP request for as long as TCP retransmits, about 15
#: minutes, with no answer. With redis-py's retries the caller hears within half a minute.
READ_TIMEOUT = 5.0


class RedisPool:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[int, redis.asyncio.Redis] = {}

    def db(self, number: int | None) -> redis.asyncio.Redis:
        """The client for a bot's ``redis_db`` (``None``: ``redis_keys.SHARED_DB``, where
        the keys of a bot registered without ``--redis-db`` live)."""
        chosen = redis_keys.bot_db(number)
        if self._settings.redis.cluster:
            # A bot left registered with a DB of its own cannot run on a cluster (its host
            # refuses to start). What the C2 or the API writes for it goes to DB 0 under
            # its id, harmless, so that a /kill over every bot never stops halfway.
            chosen = CLUSTER_DB
        if chosen not in self._clients:
            self._clients[chosen] = async_redis_client(
                self._settings, chosen, socket_timeout=READ_TIMEOUT
            )
        return self._clients[chosen]

    @property
    def infra(self) -> redis.asyncio.Redis:
        return self.db(self._settings.redis.infra_db)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
