"""A Redis Cluster whose node named in ``REDIS_HOST`` dies for good: a running client
goes on through the other nodes, even after the whole cluster was unreachable for a
while (core/redis_cluster.py builds a fresh client then, and before this fix that client
knew only ``REDIS_HOST``, so it never found the cluster again); a client started after
that node died finds the cluster through ``REDIS_CLUSTER_NODES``."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from core.config import RedisSettings
from core.redis_client import async_redis_client, redis_client
from devenv.ports import wait_until
from devenv.redis_server import ClusterNodes, RedisServer


def _role(node: RedisServer) -> str:
    return str(node.client().execute_command("INFO", "replication")["role"])


def _answers(client: Any, key: str) -> bool:
    try:
        return bool(client.get(key) == "kept")
    except redis.RedisError:  # unreachable, or CLUSTERDOWN while the nodes agree again
        return False


@pytest.mark.slow
def test_a_client_outlives_the_node_it_was_configured_with(tmp_path: Path) -> None:
    nodes = ClusterNodes(run_dir=tmp_path / "cluster", replicas=1, node_timeout_ms=1000)
    nodes.start()
    try:
        seed = nodes.seed
        redis_settings = RedisSettings(
            host=seed.host, port=seed.port, db=0,
            password=SecretStr(nodes.password), cluster=True,
        )  # fmt: skip
        settings: Any = SimpleNamespace(redis=redis_settings)
        client = redis_client(settings, socket_timeout=1)
        keys = [f"bot:k{i}:state" for i in range(30)]  # slots on every primary
        for key in keys:
            client.set(key, "kept")

        seed.stop(sig=signal.SIGKILL)  # the node REDIS_HOST names, gone for good
        replica = nodes.nodes[nodes.count]  # the seed's replica (ClusterNodes' order)
        assert wait_until(lambda: _role(replica) == "master", timeout=20)
        assert wait_until(lambda: _answers(client, keys[0]), timeout=20)

        # Every other node stops too: the client sees an unreachable cluster and is
        # replaced by a fresh one on its next command.
        others = [n for n in nodes.nodes if n is not seed]
        for node in others:
            node.stop()
        with pytest.raises(redis.ConnectionError):
            client.get(keys[0])
        for node in others:
            node.start()  # from their own files: the same cluster, the seed still dead
        assert wait_until(lambda: _answers(client, keys[-1]), timeout=30), (
            "the client never found the cluster again without its configured node"
        )
        started = time.monotonic()
        assert all(client.get(key) == "kept" for key in keys)
        assert time.monotonic() - started < 5
    finally:
        nodes.stop()


@pytest.mark.slow
def test_a_client_started_while_its_configured_node_is_down_finds_the_cluster(
    tmp_path: Path,
) -> None:
    """``REDIS_CLUSTER_NODES`` names more nodes to ask for the slot map: without it, a
    process started while the ``REDIS_HOST`` node is down could not find the cluster."""
    nodes = ClusterNodes(run_dir=tmp_path / "cluster", replicas=1, node_timeout_ms=1000)
    nodes.start()
    try:
        seed, other = nodes.seed, nodes.nodes[1]

        def settings(**more: Any) -> Any:
            return SimpleNamespace(redis=RedisSettings(
                host=seed.host, port=seed.port, db=0,
                password=SecretStr(nodes.password), cluster=True, **more,
            ))  # fmt: skip

        redis_client(settings(), socket_timeout=1).set("bot:k0:state", "kept")
        seed.stop(sig=signal.SIGKILL)
        replica = nodes.nodes[nodes.count]  # the seed's replica (ClusterNodes' order)
        assert wait_until(lambda: _role(replica) == "master", timeout=20)

        alone = redis_client(settings(), socket_timeout=1)
        with pytest.raises(redis.ConnectionError):
            alone.get("bot:k0:state")
        seeded = settings(cluster_nodes=[f"{other.host}:{other.port}"])
        client = redis_client(seeded, socket_timeout=1)
        assert wait_until(lambda: _answers(client, "bot:k0:state"), timeout=20)

        async def read() -> Any:
            async_client = async_redis_client(seeded, socket_timeout=1)
            try:
                return await async_client.get("bot:k0:state")
            except redis.RedisError:
                # A node the client asked may still map the slot to the killed node for
                # a moment after the failover (gossip); the sync client above retried too.
                return None
            finally:
                await async_client.aclose()

        assert wait_until(lambda: asyncio.run(read()) == "kept", timeout=20)
    finally:
        nodes.stop()


@pytest.mark.slow
def test_a_waiting_client_goes_on_through_a_failover(tmp_path: Path) -> None:
    """A bot's client (``wait_for_redis``) on three primaries with a replica each: the
    primary holding its keys is killed, and calls made before its replica took over
    wait and answer, a pipeline and a transaction included, each sent once."""
    import threading

    from core.redis_client import wait_for_redis

    nodes = ClusterNodes(run_dir=tmp_path / "cluster", replicas=1, node_timeout_ms=3000)
    nodes.start()
    give_up = threading.Event()
    try:
        settings: Any = SimpleNamespace(redis=RedisSettings(
            host=nodes.seed.host, port=nodes.seed.port, db=0,
            password=SecretStr(nodes.password), cluster=True,
        ))  # fmt: skip
        client = redis_client(settings, socket_timeout=1)
        wait_for_redis(client, "bot a", give_up)
        key = "position:a:BTCUSDT"
        client.hset(key, "qty", "0.5")
        slot = int(nodes.seed.client().execute_command("CLUSTER KEYSLOT", key))
        victim = nodes.owner(slot)
        victim.stop(sig=signal.SIGKILL)

        def pipelined() -> Any:
            pipe = client.pipeline(transaction=False)
            pipe.hget(key, "qty")
            pipe.hset(key, "avg_price", "60000")
            return pipe.execute()

        def transaction() -> Any:
            pipe = client.pipeline()
            pipe.rpush("bot:a:reply:1", "ok")  # another slot, maybe another node
            pipe.expire("bot:a:reply:1", 60)
            return pipe.execute()

        calls = {"get": lambda: client.hget(key, "qty"), "pipeline": pipelined,
                 "transaction": transaction}  # fmt: skip
        answers: dict[str, list[Any]] = {name: [] for name in calls}
        threads = [
            threading.Thread(target=lambda c=call, out=answers[name]: out.append(c()), daemon=True)
            for name, call in calls.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert answers == {"get": ["0.5"], "pipeline": [["0.5", 1]], "transaction": [[1, True]]}
        assert client.hgetall(key) == {"qty": "0.5", "avg_price": "60000"}
        assert client.lrange("bot:a:reply:1", 0, -1) == ["ok"]
        replica = nodes.nodes[nodes.count + nodes.primaries.index(victim)]
        assert _role(replica) == "master"
    finally:
        give_up.set()
        nodes.stop()
