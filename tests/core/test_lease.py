"""What a lease does while Redis cannot be reached (``core/lease.py``), against a
private ``redis-server`` this test stops and starts again."""

from __future__ import annotations

import os
import signal
import time

import pytest

from core.lease import Lease
from devenv.ports import free_port, wait_until
from devenv.redis_server import RedisServer


@pytest.fixture
def server(tmp_path):
    server = RedisServer(run_dir=tmp_path / "redis", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop(sig=signal.SIGKILL)


def _outage(server: RedisServer, seconds: float) -> None:
    """Redis gone (a crash) for longer than the lease lives, then back."""
    server.stop(sig=signal.SIGKILL)
    time.sleep(seconds)
    server.start()


@pytest.mark.parametrize("lost_when_unreachable", [True, False])
def test_redis_out_of_reach_for_longer_than_the_lease(server, lost_when_unreachable):
    client = server.client()
    lost: list[str] = []
    lease = Lease(
        client,
        "role:lease",
        "the role",
        ttl_seconds=0.6,
        on_lost=lost.append,
        lost_when_unreachable=lost_when_unreachable,
    )
    lease.acquire()
    try:
        _outage(server, 1.5)
        if lost_when_unreachable:  # a bot: it can no longer prove it is the only one
            assert wait_until(lambda: lost, 10), "the loss was not reported"
            assert "Redis unreachable for longer than the lease" in lost[0]
        else:  # the listener: goes on, and holds the lease again once Redis answers
            assert wait_until(lambda: client.get("role:lease") == lease.token, 10), (
                "not taken again"
            )
            time.sleep(1.0)  # renewed, not lost
            assert not lost and client.get("role:lease") == lease.token
    finally:
        lease.release()


def test_after_the_outage_another_holder_means_lost(server):
    client = server.client()
    lost: list[str] = []
    lease = Lease(client, "role:lease", "the role", ttl_seconds=0.6, on_lost=lost.append,
                  lost_when_unreachable=False)  # fmt: skip
    lease.acquire()
    try:
        server.stop(sig=signal.SIGKILL)
        time.sleep(1.2)
        server.start()
        client.set("role:lease", "another-host:1:x", px=5000)  # took it meanwhile
        assert wait_until(lambda: lost, 10), "the loss was not reported"
        assert "another process now holds the lease" in lost[0]
    finally:
        lease.release()
    assert client.get("role:lease") == "another-host:1:x"


def test_a_frozen_redis_counts_as_out_of_reach(server):
    """A Redis that takes the connection but never answers (frozen, or a partition that
    drops packets): the clients have no read timeout, and a renewal waiting forever
    would keep a bot trading on a lease that has lapsed."""
    client = server.client()
    lost: list[str] = []
    lease = Lease(client, "role:lease", "the role", ttl_seconds=0.6, on_lost=lost.append)
    lease.acquire()
    pid = server.pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        assert wait_until(lambda: lost, 5), "the loss was not reported"
        assert "Redis unreachable for longer than the lease" in lost[0]
    finally:
        os.kill(pid, signal.SIGCONT)
        lease.release()


def test_release_does_not_wait_for_a_renewal_a_frozen_redis_holds(server):
    """Before: release() joined the renewing thread, which was waiting up to a third of
    the lease (5 s by default) for Redis's answer; a listener fenced out while cut from
    Redis took that much longer to exit."""
    lease = Lease(server.client(), "role:lease", "the role", ttl_seconds=15,
                  lost_when_unreachable=False)  # fmt: skip
    lease.acquire()
    pid = server.pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(5.5)  # the first renewal (every 5 s) now waits for an answer
        assert lease._pending is None  # not yet given up on: it is inside its wait
        started = time.monotonic()
        lease.release()  # the key cannot be deleted (it expires by itself)
        assert time.monotonic() - started < 1
    finally:
        os.kill(pid, signal.SIGCONT)
