"""Redis losing what the listener wrote, while the listener runs on.

A bot learns of its fills from ``fills:{bot_id}`` (the fill that should place its stop)
and reads its position from ``position:{bot_id}:{symbol}``. The ledger holds every fill
whatever Redis does; these tests hold the listener to putting Redis right again, without
a restart, after each way Redis can lose writes:

- an outage: the listener's writes fail while fills keep being committed;
- a restart that lost acknowledged writes (``appendfsync everysec`` loses up to the last
  second on a crash; here the server comes back from a copy of its files taken before
  the last fill, so the loss is certain);
- a Redis Cluster primary killed mid-stream, its replica promoted (``failover``).

Each ends with every fill on its bot's stream (bots skip exec ids they have seen, so
repeats are harmless) and the Redis position equal to the ledger's. A last test moves
the stream's slot to another node mid-stream (resharding), where nothing may fail at
all.
"""

from __future__ import annotations

import dataclasses
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from pydantic import SecretStr

from core import redis_keys
from core.config import ListenerSettings, RedisSettings
from core.redis_client import redis_client
from devenv.ports import free_port
from devenv.redis_server import ClusterNodes, RedisServer
from tests.websocket_listener import helpers
from tests.websocket_listener.helpers import execution, ledger, register_bots
from websocket_listener import metrics
from websocket_listener.envelope import Envelope
from websocket_listener.service import Listener

BOT = helpers.TestBot("alpha_lost", "ls1", "main", None)  # keys in the shared DB 0


def _listener(database: Any, tmp_path: Path, redis: RedisSettings) -> Listener:
    settings = dataclasses.replace(
        database.settings,
        redis=redis,
        listener=ListenerSettings(spool_dir=tmp_path / "spool"),
    )
    listener = Listener(settings)
    listener.start_writer()
    return listener


def _standalone(server: RedisServer) -> RedisSettings:
    return RedisSettings(
        host=server.host, port=server.port, db=0, password=SecretStr(server.password or "")
    )


def _send(listener: Listener, items: list[dict[str, Any]]) -> None:
    envelope = Envelope.from_ws("main", {"topic": "execution", "data": items}, "ws")  # type: ignore[arg-type]
    listener.feed([envelope])
    assert listener.pipeline.flush(30)
    assert listener.book.drain(10)


def _check(listener: Listener) -> None:
    """What the listener's run loop does every two seconds."""
    listener.pipeline.call(listener.check_redis)
    assert listener.pipeline.flush(30)
    assert listener.book.drain(10)


def _buy(qty: str, at: int) -> dict[str, Any]:
    return execution(BOT, side="Buy", qty=qty, price="60000", exec_time=at)


def _stream_ids(client: Any) -> list[str]:
    return [f["exec_id"] for _, f in client.xrange(redis_keys.fills_stream(BOT.bot_id))]


def _position(client: Any) -> dict[str, str]:
    return dict(client.hgetall(redis_keys.position(BOT.bot_id, "BTCUSDT")))


def _ledger_qty(database: Any) -> Decimal:
    return sum((row[2] for row in ledger(database).values()), Decimal(0))


class Standalone(NamedTuple):
    server: RedisServer
    listener: Listener
    client: Any  # the server's own client, as a bot would read
    start: int  # exec time of the first fill (ms)


@pytest.fixture
def standalone(database: Any, tmp_path: Path) -> Iterator[Standalone]:
    """A listener writing to a Redis server of this test's own, which it may stop."""
    register_bots(database, (BOT,))
    server = RedisServer(run_dir=tmp_path / "redis", port=free_port())
    server.start()
    listener = _listener(database, tmp_path, _standalone(server))
    try:
        yield Standalone(server, listener, server.client(), int(time.time() * 1000) - 60_000)
    finally:
        listener.pipeline.stop()
        server.stop()


def test_fills_committed_while_redis_was_down_reach_the_bots_stream(
    database: Any, standalone: Standalone
) -> None:
    """Before: the rebuild after the outage rewrote the positions but never announced
    the fills committed meanwhile; the bot would never see its entry fill."""
    server, listener, client, start = standalone
    first, during = _buy("0.5", start), _buy("0.25", start + 1)
    _send(listener, [first])
    assert _stream_ids(client) == [first["execId"]]

    server.stop()
    _send(listener, [during])  # committed; its Redis write fails
    assert listener.book.redis_dirty
    assert during["execId"] in ledger(database)
    _check(listener)  # Redis still down: nothing to do yet, nothing lost
    assert listener.book.redis_dirty

    server.start()
    _check(listener)
    assert not listener.book.redis_dirty
    assert during["execId"] in _stream_ids(client)
    assert _position(client)["qty"] == "0.75" == str(_ledger_qty(database))


def test_a_redis_that_came_back_without_acknowledged_writes_is_put_right(
    database: Any, standalone: Standalone, tmp_path: Path
) -> None:
    """Before: the check only asked whether position keys existed; the key was there,
    one fill old, and the lost stream entry was never noticed."""
    server, listener, client, start = standalone
    first, lost = _buy("0.5", start), _buy("0.25", start + 1)
    _send(listener, [first])
    _check(listener)
    assert not listener.book.redis_dirty

    server.stop()  # a copy of the server's files before the second fill
    shutil.copytree(server.run_dir, tmp_path / "before", symlinks=True)
    server.start()
    _send(listener, [lost])  # acknowledged by Redis ...
    assert lost["execId"] in _stream_ids(client)
    assert not listener.book.redis_dirty
    server.stop()  # ... and gone: the server comes back from the older files
    shutil.rmtree(server.run_dir)
    shutil.copytree(tmp_path / "before", server.run_dir, symlinks=True)
    server.start()
    assert _stream_ids(client) == [first["execId"]]
    assert _position(client)["qty"] == "0.5"  # the key exists, one fill behind

    _check(listener)
    assert _stream_ids(client)[-1] == lost["execId"]
    assert _position(client)["qty"] == "0.75" == str(_ledger_qty(database))
    assert _position(client)["last_fill"] == lost["execId"]
    _check(listener)  # and once right, a check rewrites nothing
    assert _stream_ids(client).count(lost["execId"]) == 1


class Trader:
    """Feeds the listener one fill of ``BOT`` every 20 ms on its own thread, as the
    exchange's socket would, until the ``with`` block ends."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.sent: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        at = int(time.time() * 1000) - 60_000
        while not self._stop.is_set():
            item = _buy("0.001", at + len(self.sent))
            self.sent.append(item)
            envelope = Envelope.from_ws("main", {"topic": "execution", "data": [item]}, "ws")  # type: ignore[arg-type]
            self.listener.feed([envelope])
            time.sleep(0.02)

    def __enter__(self) -> Trader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def cluster(database: Any, tmp_path: Path) -> Iterator[tuple[ClusterNodes, Listener, Any]]:
    """Three primaries with a replica each (``cluster-node-timeout`` 1 s), a listener
    writing to them, and a client that has already found every node (as a running
    service's has)."""
    register_bots(database, (BOT,))
    nodes = ClusterNodes(run_dir=tmp_path / "cluster", replicas=1, node_timeout_ms=1000)
    nodes.start()
    redis = RedisSettings(
        host=nodes.seed.host, port=nodes.seed.port, db=0,
        password=SecretStr(nodes.password), cluster=True,
    )  # fmt: skip
    listener = _listener(database, tmp_path, redis)
    client = redis_client(dataclasses.replace(database.settings, redis=redis), 0)
    client.ping()
    try:
        yield nodes, listener, client
    finally:
        listener.pipeline.stop()
        nodes.stop()


def _stream_slot(nodes: ClusterNodes) -> int:
    key = redis_keys.fills_stream(BOT.bot_id)
    return int(nodes.seed.client().execute_command("CLUSTER KEYSLOT", key))


@pytest.mark.slow
def test_a_cluster_primary_killed_mid_stream_is_replaced_and_nothing_is_lost(
    database: Any, cluster: tuple[ClusterNodes, Listener, Any]
) -> None:
    """The primary holding the bot's fill stream is killed (``SIGKILL``) while fills
    arrive, and its replica takes over. The listener is never restarted."""
    nodes, listener, client = cluster
    victim = nodes.owner(_stream_slot(nodes))
    with Trader(listener) as trader:
        time.sleep(1)
        victim.stop(sig=signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the listener's run loop checks every 2 s
            time.sleep(0.5)
            listener.pipeline.call(listener.check_redis)
            if len(trader.sent) > 200 and not listener.book.redis_dirty:
                break
    _check(listener)
    assert not listener.book.redis_dirty
    ids = {item["execId"] for item in trader.sent}
    assert set(ledger(database)) == ids
    assert set(_stream_ids(client)) == ids  # every fill, repeats allowed
    assert Decimal(_position(client)["qty"]) == _ledger_qty(database)
    replica = nodes.nodes[nodes.count + nodes.primaries.index(victim)]
    assert replica.client().execute_command("INFO", "replication")["role"] == "master"


@pytest.mark.slow
def test_a_slot_resharded_mid_stream_loses_nothing_and_fails_no_write(
    database: Any, cluster: tuple[ClusterNodes, Listener, Any]
) -> None:
    """The slot of the bot's fill stream moves to another primary while fills arrive:
    a second with the slot migrating and the stream still on its old node, a second with
    the stream moved and the slot not yet handed over (``ASK`` redirections), then
    ``MOVED``. redis-py follows both, so no write fails: the stream holds every fill
    exactly once, in order, with nothing re-announced."""
    nodes, listener, client = cluster
    slot = _stream_slot(nodes)
    source = nodes.owner(slot)
    target = next(p for p in nodes.primaries if p is not source)
    errors = metrics.REDIS_ERRORS._value.get()
    with Trader(listener) as trader:
        time.sleep(1)
        assert nodes.move_slot(slot, target, pause=1.0) == 1
        time.sleep(1)
    _check(listener)
    assert nodes.owner(slot) is target
    stats = target.client().execute_command("INFO", "commandstats")
    assert stats.get("cmdstat_asking", {}).get("calls", 0) > 0  # ASK was met and followed
    assert metrics.REDIS_ERRORS._value.get() == errors
    assert not listener.book.redis_dirty
    ids = [item["execId"] for item in trader.sent]
    assert sorted(ledger(database)) == sorted(ids)
    assert _stream_ids(client) == ids
    assert Decimal(_position(client)["qty"]) == _ledger_qty(database)
