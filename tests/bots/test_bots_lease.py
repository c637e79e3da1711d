"""One process per bot id: the lease in real Redis, and two real ``alpha run bot``s."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from bots.runtime.lease import BotLease, LeaseHeld, lease_key
from tests.bots.e2e.harness import flat_bars, spawn_bot, stack, wait

OTHER_HOST = "another-host"


def _foreign_holder(redis, bot_id: str, ttl_ms: int, renew: threading.Event | None = None):
    """A holder on another host: set once, or kept alive by a thread until ``renew`` clears."""
    token = f"{OTHER_HOST}:4242:abc"
    redis.set(lease_key(bot_id), token, px=ttl_ms)
    if renew is None:
        return None

    def keep() -> None:
        while renew.is_set():
            redis.pexpire(lease_key(bot_id), ttl_ms)
            time.sleep(ttl_ms / 4000)

    thread = threading.Thread(target=keep, daemon=True)
    thread.start()
    return thread


def test_a_live_holder_elsewhere_refuses_the_second_process(redis):
    alive = threading.Event()
    alive.set()
    _foreign_holder(redis, "b1", 1000, alive)
    try:
        lease = BotLease(redis, "b1", ttl_seconds=1)
        started = time.monotonic()
        with pytest.raises(LeaseHeld, match="b1 is already running") as info:
            lease.acquire()
        assert info.value.exit_code == 73
        assert time.monotonic() - started < 4  # waits one lease at most
        assert redis.get(lease_key("b1")).startswith(OTHER_HOST)
    finally:
        alive.clear()


def test_a_dead_holder_elsewhere_is_taken_over_when_its_lease_lapses(redis):
    _foreign_holder(redis, "b2", 800)  # nobody renews it
    lease = BotLease(redis, "b2", ttl_seconds=1)
    started = time.monotonic()
    lease.acquire()
    try:
        assert 0.5 < time.monotonic() - started < 3
        assert redis.get(lease_key("b2")) == lease.token
        time.sleep(1.5)  # longer than the TTL: the renewal thread keeps it
        assert redis.get(lease_key("b2")) == lease.token
    finally:
        lease.release()
    assert redis.get(lease_key("b2")) is None


def test_release_never_deletes_a_lease_that_is_not_ours(redis):
    lease = BotLease(redis, "b3", ttl_seconds=1)
    lease.acquire()
    redis.set(lease_key("b3"), f"{OTHER_HOST}:1:x", px=5000)  # someone else took it
    lease.release()
    assert redis.get(lease_key("b3")) == f"{OTHER_HOST}:1:x"


def test_losing_the_lease_to_another_holder_calls_on_lost(redis):
    lost: list[str] = []
    lease = BotLease(redis, "b4", ttl_seconds=0.6, on_lost=lost.append)
    lease.acquire()
    try:
        redis.set(lease_key("b4"), f"{OTHER_HOST}:1:x", px=5000)
        wait(lambda: lost, timeout=3, what="lease loss noticed")
        assert "another process" in lost[0]
    finally:
        lease.release()


@pytest.mark.slow
def test_second_process_exits_and_kill_9_lets_a_new_one_take_over(database, redis, tmp_path):
    bars = flat_bars(60000, 40)
    with stack(database, tmp_path, bars, 30) as s:
        s.register("ss_lease", "lse", "shortseller", {"ema_fast": 3, "ema_slow": 5}, redis_db=6)
        first = spawn_bot(s, "ss_lease")
        key = lease_key("ss_lease")
        bot_redis = s.bot_redis("ss_lease")
        try:
            wait(lambda: bot_redis.get(key) or first.poll() is not None, 60, "first holds lease")
            assert first.poll() is None, first.communicate()[0]
            assert f":{first.pid}:" in bot_redis.get(key)

            second = spawn_bot(s, "ss_lease")
            out, _ = second.communicate(timeout=60)
            assert second.returncode == 73, out
            assert "alpha: error: bot ss_lease is already running" in out
            assert "Traceback" not in out
            assert first.poll() is None  # the holder was not disturbed
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)

        # The holder died without releasing: a restart on this host takes over at once.
        started = time.monotonic()
        third = spawn_bot(s, "ss_lease")
        try:
            wait(lambda: f":{third.pid}:" in (bot_redis.get(key) or "") or third.poll() is not None,
                 30, "takeover")  # fmt: skip
            assert third.poll() is None, third.communicate()[0]
            assert time.monotonic() - started < 15  # well within one lease
        finally:
            os.killpg(third.pid, signal.SIGTERM)
            third.wait(30)
        assert bot_redis.get(key) is None  # SIGTERM released it
