"""A whole bot through a Redis Cluster failover (bots/runtime/host.py,
core/redis_cluster.py).

Three primaries with a replica each, the listener and a ShortSeller on them. The
primary holding the bot's position is killed just before a candle closes: the
decision's position read waits until the replica has taken over, then the decision goes
on from it: the entry goes out once, with its stop and take profit, and the bot goes on
deciding. The client-level test (tests/core/test_redis_cluster_failover.py) proved the
calls wait; this proves the bot and the listener come through it whole.
"""

from __future__ import annotations

import logging
import signal
from decimal import Decimal

import pytest

from core import redis_keys
from core.ids import BotId
from devenv.redis_server import ClusterNodes
from tests.bots.e2e.harness import (
    MINUTE,
    assert_entered_once_with_exits,
    bar_start,
    just_after_a_heartbeat,
    shortseller_entering_on_the_first_live_bar,
    wait,
)

BOT = "ss_failover"


@pytest.mark.slow
def test_a_bot_deciding_through_a_failover_enters_once_and_goes_on(database, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="core.redis_client")
    nodes = ClusterNodes(run_dir=tmp_path / "cluster", replicas=1, node_timeout_ms=3000)
    with shortseller_entering_on_the_first_live_bar(
        database, tmp_path, BOT, "rf", redis_server=nodes, redis_db=None
    ) as s:
        bot = s.start_bot(BOT)
        host = bot.host
        position_key = redis_keys.position(BotId(BOT), "BTCUSDT")
        slot = int(nodes.seed.client().execute_command("CLUSTER KEYSLOT", position_key))
        victim = nodes.owner(slot)
        just_after_a_heartbeat(s, BOT)  # the primary dies before the decision's calls
        decisions = host.decisions

        victim.stop(sig=signal.SIGKILL)
        s.ex.control.advance(MINUTE)  # bar 20 closes while its position's primary is dead
        wait(lambda: host.decisions > decisions, timeout=3, what="the decision to start")
        wait(lambda: host.decided.get("BTCUSDT") == bar_start(20), timeout=60,
             what="the decision, once the replica took over")  # fmt: skip
        assert bot.thread.is_alive() and not bot.errors, bot.errors
        replica = nodes.nodes[nodes.count + nodes.primaries.index(victim)]
        assert replica.client().execute_command("INFO", "replication")["role"] == "master"

        assert_entered_once_with_exits(s, BOT, Decimal("-0.117"))
        # The ledger says the same: the listener came through the failover too.
        assert s.analytics(BOT) is not None and s.analytics(BOT)[0] == Decimal("-0.117")
        s.play(2)  # and it goes on deciding
        assert not bot.errors and bot.thread.is_alive()
    waited = [r.getMessage() for r in caplog.records if "waiting for it" in r.getMessage()]
    assert any(m.startswith(f"bot {BOT}: Redis unreachable") for m in waited), waited
