"""The tests' Redis Cluster has three nodes (devenv/redis_server.ClusterNodes), so the
cluster-mode tests run with one bot's keys on several nodes, as on a shared cluster."""

from __future__ import annotations

import pytest
import redis

from core import redis_keys
from core.ids import BotId


def test_the_cluster_has_three_primaries_sharing_every_slot(services):
    nodes = services.cluster()
    assert len(nodes.nodes) == 3
    for node in nodes.nodes:
        info = node.client().execute_command("CLUSTER INFO")
        assert info["cluster_state"] == "ok"
        assert info["cluster_known_nodes"] == "3"
        assert info["cluster_slots_assigned"] == "16384"
        assert info["cluster_size"] == "3"  # primaries that own slots


def test_one_bots_keys_live_on_several_nodes_and_each_on_one(services):
    nodes = services.cluster()
    nodes.flushall()
    client = services.redis(cluster=True)
    bot = BotId("cluster_spread")
    keys = [
        redis_keys.position(bot, "BTCUSDT"), redis_keys.bot_state(bot),
        redis_keys.heartbeat(bot), redis_keys.order_book(bot), redis_keys.seen_fills(bot),
        redis_keys.universe(bot), redis_keys.state_applied(bot),
    ]  # fmt: skip
    for key in keys:
        client.set(key, "1")
    holders = {}
    for key in keys:
        holding = []
        for node in nodes.nodes:
            try:
                if node.client().exists(key):
                    holding.append(node.port)
            except redis.exceptions.MovedError:  # another node's slot: it redirects
                pass
        assert len(holding) == 1, (key, holding)
        holders[key] = holding[0]
    assert len(set(holders.values())) >= 2, holders
    assert all(client.get(key) == "1" for key in keys)


@pytest.mark.parametrize("redis_mode", ["cluster"])
def test_a_cluster_database_points_at_the_seed_node(database, services):
    seed = services.cluster().seed
    assert (database.settings.redis.host, database.settings.redis.port) == (seed.host, seed.port)
    assert database.settings.redis.cluster
