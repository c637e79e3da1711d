"""A Redis Cluster that stops answering: core's cluster clients report it as
``redis.ConnectionError`` — what every service already retries on — from every kind of
call (redis-py raises its own ``RedisClusterException``, which is not a ``RedisError``),
and work again, without a restart of the process, once the cluster is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from core.config import RedisSettings
from core.redis_client import async_redis_client, redis_client
from devenv.ports import free_port
from devenv.redis_server import RedisServer


def _calls(client: Any) -> dict[str, Callable[[], Any]]:
    def pipelined() -> Any:
        pipe = client.pipeline(transaction=False)
        pipe.get("bot:a:state")
        pipe.get("bot:b:state")
        return pipe.execute()

    def transaction() -> Any:
        pipe = client.pipeline()
        pipe.rpush("bot:a:reply:1", "ok")
        pipe.expire("bot:a:reply:1", 60)
        return pipe.execute()

    return {
        "get": lambda: client.get("bot:a:state"),
        "scan": lambda: list(client.scan_iter("bot:*")),
        "pipeline": pipelined,
        "transaction": transaction,
        "script": lambda: client.eval("return 1", 1, "bot:a:lease"),
        "xreadgroup": lambda: client.xreadgroup("bot", "a", {"commands:a": ">"}, block=10),
    }


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[RedisServer, Any]]:
    """A one-node cluster of the test's own (which it may stop), and settings that reach
    it: the clients read only the Redis group of the settings."""
    server = RedisServer(run_dir=tmp_path / "redis", port=free_port(), cluster=True)
    server.start()
    settings = SimpleNamespace(redis=RedisSettings(
        host=server.host, port=server.port, password=server.password, cluster=True
    ))  # fmt: skip
    try:
        yield server, settings
    finally:
        server.stop()


def test_an_unreachable_cluster_is_a_connection_error_until_it_is_back(node) -> None:
    server, settings = node
    client = redis_client(settings, socket_timeout=1)
    aclient = async_redis_client(settings, socket_timeout=1)
    loop = asyncio.new_event_loop()
    try:
        client.xgroup_create("commands:a", "bot", id="$", mkstream=True)
        assert client.set("bot:a:state", "running")
        assert loop.run_until_complete(aclient.get("bot:a:state")) == "running"
        server.stop()
        time.sleep(0.3)
        for call in _calls(client).values():
            with pytest.raises(redis.ConnectionError, match="unreachable"):
                call()

        async def down() -> None:
            with pytest.raises(redis.ConnectionError):
                await aclient.get("bot:a:state")
            pipe = aclient.pipeline(transaction=False)
            pipe.get("bot:a:state")
            with pytest.raises(redis.ConnectionError):
                await pipe.execute()

        loop.run_until_complete(down())

        # Back (same port; its nodes.conf and AOF keep the node id, slots and keys).
        server.start()
        assert client.get("bot:a:state") == "running"
        assert client.set("bot:a:state", "paused")
        for call in _calls(client).values():
            call()  # no exception
        assert client.get("bot:a:state") == "paused"
        assert loop.run_until_complete(aclient.get("bot:a:state")) == "paused"
    finally:
        loop.run_until_complete(aclient.aclose())
        loop.close()
        client.close()


def test_a_waiting_client_waits_for_the_cluster_and_goes_on(node) -> None:
    """A bot's client (``wait_for_redis``) on a cluster: every kind of call made while
    the cluster is down waits, and answers once it is back. Before, a cluster client
    was left as it was, and a bot's decision died of the first failed call."""
    import threading

    from core.redis_client import wait_for_redis

    server, settings = node
    client = redis_client(settings, socket_timeout=1)
    give_up = threading.Event()
    wait_for_redis(client, "bot a", give_up)
    try:
        client.xgroup_create("commands:a", "bot", id="$", mkstream=True)
        assert client.set("bot:a:state", "running")
        server.stop()
        time.sleep(0.3)
        answers: dict[str, list[Any]] = {name: [] for name in _calls(client)}
        threads = [
            threading.Thread(target=lambda c=call, out=answers[name]: out.append(c()), daemon=True)
            for name, call in _calls(client).items()
        ]
        for thread in threads:
            thread.start()
        time.sleep(2)
        assert all(thread.is_alive() for thread in threads)  # waiting, none failed

        server.start()
        for thread in threads:
            thread.join(20)
        assert all(len(out) == 1 for out in answers.values()), answers
        assert answers["get"] == ["running"]
        assert answers["pipeline"] == [["running", None]]
        assert answers["transaction"] == [[1, True]]  # sent once, after the wait
        assert answers["script"] == [1]
    finally:
        give_up.set()
        client.close()


def test_a_command_racing_another_thread_s_failure_is_a_connection_error(node) -> None:
    """When a command fails to reach a node, redis-py drops that node's connection
    (``redis_connection = None``) and rediscovers, in the failing thread. A second
    thread sending XREADGROUP meanwhile asks that node for the command's keys and got
    ``AttributeError``, which no ``except redis.RedisError`` catches: in one run of the
    test above, the stream read's thread died of it. Here that moment is set up by hand."""
    server, settings = node
    client = redis_client(settings, socket_timeout=1)
    try:
        client.xgroup_create("commands:a", "bot", id="$", mkstream=True)
        server.stop()
        client._real().get_default_node().redis_connection = None  # what the other did
        with pytest.raises(redis.ConnectionError, match="unreachable"):
            client.xreadgroup("bot", "a", {"commands:a": ">"}, block=10)
        server.start()
        assert client.xreadgroup("bot", "a", {"commands:a": ">"}, block=10) == []
    finally:
        client.close()
