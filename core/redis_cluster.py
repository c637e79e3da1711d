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
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

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


#: How redis-py words a cluster none of whose nodes answers, and what it says when a
#: failed rediscovery left it no node to send to. It raises both as a
#: ``RedisClusterException``, which is not a ``redis.RedisError``: every service's
#: ``except redis.RedisError`` (retry, rebuild later, keep recording fills) would miss
#: them and a thread would die. Translated into ``redis.ConnectionError`` below; a test
#: stops the cluster to hold redis-py to this wording.
_UNREACHABLE = ("Redis Cluster cannot be connected", "No targets were found")


class _Breakable:
    #: Set when the cluster was unreachable: redis-py empties its slot map when a
    #: rediscovery fails and some commands then never rediscover (SCAN finds no node),
    #: so :class:`LazyCluster` builds a fresh client for the next command.
    broken = False

    def _raise_if_unreachable(self, exc: RedisClusterException) -> None:
        """Raises ``redis.ConnectionError`` for an unreachable cluster; otherwise returns
        and the caller re-raises ``exc`` as it is (a refused command is a bug to see)."""
        if str(exc).startswith(_UNREACHABLE):
            self.broken = True
            raise redis.ConnectionError(f"redis cluster unreachable: {exc}") from exc


class _Pipeline:
    """A cluster pipeline whose ``execute`` reports an unreachable cluster as
    ``redis.ConnectionError``; everything else is the pipeline's own."""

    def __init__(self, pipe: Any, owner: _Breakable) -> None:
        self._pipe = pipe
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipe, name)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._pipe.execute(*args, **kwargs)
        except RedisClusterException as exc:
            self._owner._raise_if_unreachable(exc)
            raise


class _AsyncPipeline(_Pipeline):
    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await self._pipe.execute(*args, **kwargs)
        except RedisClusterException as exc:
            self._owner._raise_if_unreachable(exc)
            raise


class Cluster(_Breakable, RedisCluster):
    """``RedisCluster`` with an unreachable cluster reported as ``redis.ConnectionError``
    (see :data:`_UNREACHABLE`) by every command and pipeline."""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().execute_command(*args, **kwargs)  # type: ignore[no-untyped-call]
        except RedisClusterException as exc:
            self._raise_if_unreachable(exc)
            raise
        except AttributeError as exc:
            # redis-py 6.4 asks a node for some commands' keys (XREADGROUP's, for one).
            # A thread whose command failed on that node sets its connection to None
            # before rediscovering, and a second thread then asks None: the unreachable
            # cluster too, seen from another thread.
            if "'NoneType' object has no attribute" not in str(exc):
                raise
            self.broken = True
            raise redis.ConnectionError(f"redis cluster unreachable: {exc}") from exc

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
        return _Pipeline(super().pipeline(transaction, shard_hint), self)  # type: ignore[no-untyped-call]


# redis-py's own classes disagree on one signature (command_info); not ours to fix.
class AsyncCluster(_Breakable, AsyncRedisCluster):  # type: ignore[misc]
    """The asyncio twin of :class:`Cluster`."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except RedisClusterException as exc:
            self._raise_if_unreachable(exc)
            raise

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
        return _AsyncPipeline(super().pipeline(transaction, shard_hint), self)


class _KnownNodes:
    """The nodes a fresh client starts from: ``REDIS_HOST`` and ``REDIS_CLUSTER_NODES``,
    then every node the discarded clients had discovered — the configured node may be
    the one that died."""

    def __init__(self, seeds: list[tuple[str, int]]) -> None:
        self._addresses = dict.fromkeys(seeds)

    def learn(self, nodes: Any) -> None:
        self._addresses.update(dict.fromkeys((node.host, node.port) for node in nodes))

    def startup(self, node_type: Any) -> list[Any]:
        return [node_type(host, port) for host, port in self._addresses]


class LazyCluster:
    """A ``RedisCluster`` built on first use.

    ``RedisCluster()`` asks a node for the slot map while it is constructed, so a
    cluster that is down at that moment raises from a constructor — where the services
    build their clients at start, outside the ``except redis.RedisError`` that makes a
    down standalone Redis a retry (the listener keeps recording fills without Redis).
    Built on first use, a failed discovery is a ``redis.ConnectionError`` from the
    command that needed it, and the next command tries again.
    """

    def __init__(self, kwargs: dict[str, Any], seeds: list[tuple[str, int]]) -> None:
        self._kwargs = kwargs
        self._client: Cluster | None = None
        self._lock = threading.Lock()
        self._known = _KnownNodes(seeds)
        #: Set by :meth:`wait_with`: commands and pipelines wait out an outage with it.
        self._wait: Retry | None = None

    def wait_with(self, retry: Retry) -> None:
        """From now on every command and pipeline goes through ``retry``, which waits
        out an outage (core/redis_client.py, ``UntilRedisAnswers``). A standalone
        client gets it as its connections' retry; a cluster client counts its retries
        another way (a count, not a loop), so the wait wraps its calls here instead,
        and each try asks :meth:`_real` again: after an outage that is a fresh client."""
        self._wait = retry

    def _real(self) -> Cluster:
        with self._lock:
            if self._client is not None and self._client.broken:
                self._known.learn(self._client.get_nodes())  # type: ignore[no-untyped-call]
                self._client.close()
                self._client = None
            if self._client is None:
                try:
                    self._client = Cluster(
                        **self._kwargs, startup_nodes=self._known.startup(ClusterNode)
                    )
                except RedisClusterException as exc:
                    raise redis.ConnectionError(f"redis cluster unreachable: {exc}") from exc
            return self._client

    def __getattr__(self, name: str) -> Any:
        wait = self._wait
        if wait is None:
            return getattr(self._real(), name)
        if name == "pipeline":
            return lambda *args, **kwargs: _ReplayedPipeline(self, wait, args, kwargs)
        if not callable(getattr(Cluster, name, None)):
            return getattr(self._real(), name)

        def waiting(*args: Any, **kwargs: Any) -> Any:
            if name.endswith("scan_iter"):  # a generator: its calls come as it is iterated
                found = wait.call_with_retry(
                    lambda: list(getattr(self._real(), name)(*args, **kwargs)), lambda _e: None
                )
                return iter(found)
            return wait.call_with_retry(
                lambda: getattr(self._real(), name)(*args, **kwargs), lambda _error: None
            )

        return waiting

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class _ReplayedPipeline:
    """A pipeline of a :class:`LazyCluster` that waits: its commands are kept until
    ``execute``, which sends them on a fresh pipeline as often as the wait tries (redis-py's
    cluster pipeline forgets its commands when it fails)."""

    def __init__(
        self, owner: LazyCluster, wait: Retry, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self._owner, self._wait = owner, wait
        self._args, self._kwargs = args, kwargs
        self._commands: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        def keep(*args: Any, **kwargs: Any) -> _ReplayedPipeline:
            self._commands.append((name, args, kwargs))
            return self

        return keep

    def execute(self, raise_on_error: bool = True) -> Any:
        def send() -> Any:
            pipe = self._owner._real().pipeline(*self._args, **self._kwargs)
            for name, args, kwargs in self._commands:
                getattr(pipe, name)(*args, **kwargs)
            return pipe.execute(raise_on_error)

        try:
            return self._wait.call_with_retry(send, lambda _error: None)
        finally:
            self._commands.clear()


def is_cluster_client(client: object) -> bool:
    """True for a client of a Redis Cluster (from :func:`sync_cluster` or
    :func:`async_cluster`), for the few callers whose standalone way a cluster refuses."""
    return isinstance(client, LazyCluster | LazyAsyncCluster | RedisCluster | AsyncRedisCluster)


def sync_cluster(kwargs: dict[str, Any], seeds: list[tuple[str, int]]) -> LazyCluster:
    return LazyCluster(kwargs, seeds)


class LazyAsyncCluster:
    """An :class:`AsyncCluster` replaced by a fresh one after the cluster was
    unreachable: redis-py's asyncio client, once its rediscovery failed, keeps failing
    after the cluster is back. (It discovers the slot map on its first command, so
    building one never connects.)"""

    def __init__(self, kwargs: dict[str, Any], seeds: list[tuple[str, int]]) -> None:
        self._kwargs = kwargs
        self._known = _KnownNodes(seeds)
        self._client = self._fresh()

    def _fresh(self) -> AsyncCluster:
        return AsyncCluster(**self._kwargs, startup_nodes=self._known.startup(AsyncClusterNode))

    def __getattr__(self, name: str) -> Any:
        if self._client.broken:
            self._known.learn(self._client.get_nodes())
            # Its connections are dead already; closing them needs an await this cannot do.
            self._client = self._fresh()
        return getattr(self._client, name)

    async def aclose(self) -> None:
        await self._client.aclose()


def async_cluster(kwargs: dict[str, Any], seeds: list[tuple[str, int]]) -> LazyAsyncCluster:
    return LazyAsyncCluster(kwargs, seeds)
