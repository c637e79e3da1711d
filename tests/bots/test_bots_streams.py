"""The bot's Redis streams (bots/runtime/streams.py) against real Redis: what the reader
thread puts on the host's queue, pending fills after a crash, and a prompt stop while
Redis is down."""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Any

import pytest
import redis as redis_lib
from redis.exceptions import RedisClusterException

from bots.runtime.streams import GROUP, ensure_groups, pending_fills, read_streams, reader_streams
from core import redis_keys

BOT = "ss_streams"


def _reader(client: redis_lib.Redis, events: queue.Queue[Any], stop: threading.Event):
    thread = threading.Thread(target=read_streams, args=(client, BOT, events, stop))
    thread.start()
    return thread


def test_new_fills_and_commands_reach_the_queue_by_kind(redis):
    ensure_groups(redis, BOT)
    ensure_groups(redis, BOT)  # a restart finds the groups there: no error
    events: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    thread = _reader(redis, events, stop)
    try:
        fill_id = redis.xadd(redis_keys.fills_stream(BOT), {"exec_id": "e1"})
        command_id = redis.xadd(redis_keys.commands_stream(BOT), {"command": "flatten"})
        got = [events.get(timeout=5), events.get(timeout=5)]
    finally:
        stop.set()
        thread.join(5)
    assert sorted(got) == [
        ("command", (command_id, {"command": "flatten"})),
        ("fill", (fill_id, {"exec_id": "e1"})),
    ]


def test_a_redis_that_lost_its_data_is_read_again_from_what_it_holds(redis, caplog):
    """Redis restarted without its data (a lost volume, a failover to a replica behind,
    a flush): the streams and the bot's consumer group were gone. Before, every read
    failed ``NOGROUP`` once a second, forever: the fills the listener appended again
    after rebuilding (an entry the bot must place its stop for) and the operators'
    commands never reached the bot until it was restarted."""
    ensure_groups(redis, BOT)
    events: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    thread = _reader(redis, events, stop)
    try:
        before = redis.xadd(redis_keys.fills_stream(BOT), {"exec_id": "e1"})
        assert events.get(timeout=5) == ("fill", (before, {"exec_id": "e1"}))
        redis.flushdb()
        # The listener appends again every fill since the loss, before the reader's
        # next read can make the stream: that entry must not be skipped.
        again = redis.xadd(redis_keys.fills_stream(BOT), {"exec_id": "e2"})
        command = redis.xadd(redis_keys.commands_stream(BOT), {"command": "pause"})
        got = sorted([events.get(timeout=5), events.get(timeout=5)])
    finally:
        stop.set()
        thread.join(5)
    assert got == [("command", (command, {"command": "pause"})),
                   ("fill", (again, {"exec_id": "e2"}))]  # fmt: skip
    said = [r.getMessage() for r in caplog.records if r.name == "bots.runtime.streams"]
    assert said and all("consumer group" in m for m in said), said


def test_fills_read_but_never_acknowledged_come_back_as_pending(redis):
    ensure_groups(redis, BOT)
    stream = redis_keys.fills_stream(BOT)
    first = redis.xadd(stream, {"exec_id": "e1"})
    second = redis.xadd(stream, {"exec_id": "e2"})
    redis.xreadgroup(GROUP, BOT, {stream: ">"})  # delivered; the process dies before acking
    redis.xack(stream, GROUP, first)
    assert pending_fills(redis, BOT) == [(second, {"exec_id": "e2"})]


def test_the_reader_stops_promptly_while_redis_is_down():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = redis_lib.Redis(port=port, socket_connect_timeout=0.2, decode_responses=True)
    events: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    thread = _reader(down, events, stop)
    time.sleep(0.1)  # a refused read fails in milliseconds: it is waiting to retry
    started = time.monotonic()
    stop.set()
    thread.join(5)
    # It used to sleep out its one-second retry pause regardless of the stop event.
    assert time.monotonic() - started < 0.5
    assert events.empty()


@pytest.mark.parametrize("redis_mode", ["cluster"])
def test_on_a_cluster_each_stream_has_its_reader_and_both_arrive(database):
    """A Redis Cluster refuses one read over both streams (two slots); one reader thread
    per stream (``reader_streams``) gets both kinds, each as soon as it is appended."""
    from core.redis_client import redis_client

    client = redis_client(database.settings)
    ensure_groups(client, BOT)
    both = {redis_keys.fills_stream(BOT): ">", redis_keys.commands_stream(BOT): ">"}
    # CROSSSLOT: redis-py's cluster client refuses it before sending.
    with pytest.raises(RedisClusterException, match="same key slot"):
        client.xreadgroup(GROUP, BOT, both, count=1, block=1)
    events: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    names = reader_streams(BOT, cluster=True)
    assert names == [(redis_keys.fills_stream(BOT),), (redis_keys.commands_stream(BOT),)]
    threads = [
        threading.Thread(target=read_streams, args=(client, BOT, events, stop, n)) for n in names
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.2)  # both readers blocked in their XREADGROUP
        started = time.monotonic()
        command_id = client.xadd(redis_keys.commands_stream(BOT), {"command": "flatten"})
        assert events.get(timeout=5) == ("command", (command_id, {"command": "flatten"}))
        assert time.monotonic() - started < 0.4  # not after the fills reader's 500 ms block
        fill_id = client.xadd(redis_keys.fills_stream(BOT), {"exec_id": "e1"})
        assert events.get(timeout=5) == ("fill", (fill_id, {"exec_id": "e1"}))
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
    assert not any(t.is_alive() for t in threads)
