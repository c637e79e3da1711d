"""One asyncio Redis client per logical DB (a bot's own or the shared one; infra keys
have theirs)."""

from __future__ import annotations

import redis.asyncio

from core import redis_keys
from core.config import Settings
from core.redis_client import async_redis_client
from core.redis_cluster import CLUSTER_DB

#: Seconds an operator's Redis call waits for its reply. Without a limit, a partition
#: (packets dropped, no reset) held a C2 command or an HTTP request for as long as TCP
#: retransmits, about 15 minutes, with no answer; with redis-py's retries the caller now
#: hears within half a minute. A call that blocks on purpose (BLPOP, XREAD BLOCK) takes
#: its client from :meth:`RedisPool.infra_waiting`, whose limit is its wait plus this.
READ_TIMEOUT = 5.0


class RedisPool:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[int, redis.asyncio.Redis] = {}
        #: Clients for blocking calls on the infra DB, by the longest wait they serve.
        self._waiting: dict[float, redis.asyncio.Redis] = {}

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

    def infra_waiting(self, seconds: float) -> redis.asyncio.Redis:
        """A client of the infra DB for a call that blocks up to ``seconds`` (a claim's
        answer, the API's event stream): on :attr:`infra`, a wait longer than
        ``READ_TIMEOUT`` would be taken for Redis being away."""
        if seconds not in self._waiting:
            self._waiting[seconds] = async_redis_client(
                self._settings,
                CLUSTER_DB if self._settings.redis.cluster else self._settings.redis.infra_db,
                socket_timeout=seconds + READ_TIMEOUT,
            )
        return self._waiting[seconds]

    async def close(self) -> None:
        for client in [*self._clients.values(), *self._waiting.values()]:
            await client.aclose()
        self._clients.clear()
        self._waiting.clear()
