"""A Redis connection behind a network partition (packets dropped, nothing reset) fails
within seconds, for every client ``core.redis_client`` builds, instead of waiting as
long as TCP retransmits (about 15 minutes on Linux) or, for a read that waits on
purpose, for ever. Trade sync, the bots and the backup have no read timeout (a bot
blocks on its streams on purpose); the connection's own liveness is what tells them.

The partition is real: iptables drops the packets of one forwarded port on the loopback
interface, so nothing acknowledges what the client sends (``Partition.cut`` alone would
not do: the forwarder's kernel still acknowledges).
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import redis
from harness.partition import Partition

from core.redis_client import no_retry, redis_client, wait_for_redis

#: The test waits this long for each call to end either way.
WAIT_S = 60


def _iptables(action: str, port: int) -> None:
    for direction in ("--dport", "--sport"):
        subprocess.run(["iptables", action, "INPUT", "-i", "lo", "-p", "tcp", direction,
                        str(port), "-j", "DROP"], check=True, timeout=30)  # fmt: skip


def _timed(call: Callable[[], Any], outcome: dict[str, Any]) -> None:
    began = time.monotonic()
    try:
        call()
    except redis.RedisError as exc:
        outcome["error"] = exc
    outcome["took"] = time.monotonic() - began


@pytest.mark.skipif(os.geteuid() != 0, reason="iptables needs root (CI runs as root)")
def test_calls_behind_a_partition_fail_within_seconds_and_a_bot_waits_it_out(
    database, caplog
) -> None:
    """Before: the first two calls still waited after 60 s (no keepalive on Redis's
    sockets). And a bot's client (``wait_for_redis``), whose dead connection surfaces as
    redis-py's ``TimeoutError``, took it for an answer and failed, where it waits for
    Redis after a refused or reset connection."""
    s = database.settings
    forwarder = Partition(s.redis.host, s.redis.port)  # a port of its own to drop
    moved = replace(s, redis=s.redis.model_copy(update={"port": forwarder.port}))
    # No retry: the liveness of one connection is what is measured (a service's retry
    # then reconnects, which behind the partition fails on the connect timeout).
    waiting = redis_client(moved, retry=no_retry())  # a read that waits on purpose
    asking = redis_client(moved, retry=no_retry())  # an ordinary command
    bots = redis_client(moved)  # as a bot's host has it: waits for Redis
    give_up = threading.Event()
    wait_for_redis(bots, "bot partition_test", give_up)
    bots.set("partition:position", "0.5")
    for client in (waiting, asking):
        client.ping()
    outcomes: list[dict[str, Any]] = [{}, {}, {}]
    calls = [
        lambda: waiting.blpop(["partition:never"], timeout=0),
        lambda: asking.get("partition:any"),
        lambda: outcomes[2].setdefault("answer", bots.get("partition:position")),
    ]
    threads = [
        threading.Thread(target=_timed, args=(call, out), daemon=True)
        for call, out in zip(calls, outcomes, strict=True)
    ]
    threads[0].start()
    time.sleep(0.5)  # BLPOP is at the server: its connection is idle, as a bot's read is
    caplog.set_level(logging.WARNING, logger="core.redis_client")
    try:
        _iptables("-I", forwarder.port)
        try:
            threads[1].start()
            threads[2].start()
            for thread in threads[:2]:
                thread.join(WAIT_S)
            assert not any(t.is_alive() for t in threads[:2]), f"still waiting after {WAIT_S} s"
            assert threads[2].is_alive(), outcomes[2]  # the bot still waits for Redis
        finally:
            _iptables("-D", forwarder.port)
        threads[2].join(WAIT_S)
    finally:
        give_up.set()  # a wait that did not end by now ends here, failing the test below
        forwarder.close()
    for outcome in outcomes[:2]:
        assert isinstance(outcome.get("error"), redis.ConnectionError | redis.TimeoutError)
        assert outcome["took"] < 40, outcome
    assert outcomes[2].get("answer") == "0.5", outcomes[2]
    assert "error" not in outcomes[2], outcomes[2]
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("bot partition_test: Redis unreachable" in m for m in warned), warned
