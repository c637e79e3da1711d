"""A bot whose Redis goes away in the middle of a decision (bots/runtime/host.py).

A decision reads the bot's position from Redis before it orders. In a rehearsal, Redis
restarted while a ShortSeller was deciding on a candle: the read failed, the decision
thread died with a traceback, and the container was restarted a minute later. Now the
call waits for Redis, and the decision goes on from it once Redis is back: the entry
goes out once, with its stop and take profit.
"""

from __future__ import annotations

import logging
import signal
import time
from contextlib import AbstractContextManager
from decimal import Decimal

import pytest

from core import redis_keys
from devenv.ports import free_port
from devenv.redis_server import RedisServer
from tests.bots.e2e.harness import (
    MINUTE,
    Stack,
    assert_entered_once_with_exits,
    bar_start,
    just_after_a_heartbeat,
    shortseller_entering_on_the_first_live_bar,
    spawn_bot,
    wait,
)

BOT = "ss_redis"
#: Long enough to see the bot wait. Before the fix the decision's call failed at once:
#: redis-py reconnects a pooled connection a restart closed outside any retry.
OUTAGE_SECONDS = 5


def _entering(database, tmp_path, server: RedisServer) -> AbstractContextManager[Stack]:
    """The listener and the bot on ``server``, a Redis of the test's own; the bot enters
    on bar 20."""
    return shortseller_entering_on_the_first_live_bar(
        database, tmp_path, BOT, "rr", redis_server=server, redis_db=5
    )


@pytest.mark.slow
def test_a_decision_that_loses_redis_waits_for_it_and_enters_once(database, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="core.redis_client")
    server = RedisServer(run_dir=tmp_path / "redis", port=free_port())
    with _entering(database, tmp_path, server) as s:
        bot = s.start_bot(BOT)
        host = bot.host
        just_after_a_heartbeat(s, BOT)
        decisions = host.decisions

        server.stop()
        s.ex.control.advance(MINUTE)  # bar 20 closes while Redis is down
        wait(lambda: host.decisions > decisions, timeout=3, what="the decision to start")
        time.sleep(OUTAGE_SECONDS)
        assert bot.thread.is_alive(), bot.errors
        assert not bot.errors
        assert s.orders() == []  # it has not read its position: nothing sent yet

        server.start()
        wait(lambda: host.decided.get("BTCUSDT") == bar_start(20), what="the decision")
        assert_entered_once_with_exits(s, BOT, Decimal("-0.117"))
        s.play(2)  # and it goes on deciding
        assert not bot.errors and bot.thread.is_alive()
    waited = [r.getMessage() for r in caplog.records if "waiting for it" in r.getMessage()]
    assert waited and all(m.startswith(f"bot {BOT}: Redis unreachable") for m in waited)
    assert any(f"bot {BOT}: Redis answers again" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_alpha_run_bot_waits_for_a_redis_down_at_start_and_stops_cleanly_while_waiting(
    database, tmp_path
):
    """Under a cluster engine a bot may start before Redis: before, its first call (the
    lease) failed with a traceback. And SIGTERM while a decision waits for Redis ends the
    bot with a warning, exit 0."""
    server = RedisServer(run_dir=tmp_path / "redis", port=free_port())
    with _entering(database, tmp_path, server) as s:
        server.stop()
        proc = spawn_bot(s, BOT)
        try:
            time.sleep(4)
            assert proc.poll() is None  # waiting, not dead
            server.start()
            client = s.bot_redis(BOT)
            wait(lambda: client.exists(redis_keys.heartbeat(BOT)), timeout=60,
                 what="the bot to start")  # fmt: skip
            server.stop()
            s.ex.control.advance(MINUTE)  # a decision that waits for Redis
            time.sleep(3)
            assert proc.poll() is None
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    assert out.count(f"bot {BOT}: Redis unreachable") == 2, out  # one per outage
    assert f"bot {BOT}: Redis answers again" in out
    assert f"bot {BOT} stopped while waiting for Redis" in out
