"""The operator's verbs against a Redis Cluster (``REDIS_CLUSTER=true``; here a one-node
cluster, which refuses cross-slot operations as a large one does): every bot in DB 0
under its id, infrastructure keys in DB 0 too, and the two things a cluster cannot do
refused in one line."""

from __future__ import annotations

import pytest

from core import redis_keys
from core.config import RedisSettings
from core.errors import ConfigError
from core.redis_client import infra_client, redis_client
from tests.database.test_bots_cli import BASE, ok, refused
from tests.database.test_bots_shared_redis import register_shared

pytestmark = pytest.mark.parametrize("redis_mode", ["cluster"])


def test_bots_live_in_db_0_and_the_operator_controls_them(database) -> None:
    ids = [f"clu_{n:03d}" for n in range(1, 18)]  # more than a standalone Redis's 15 DBs
    for n, bot_id in enumerate(ids, start=1):
        assert f"registered {bot_id}" in ok(register_shared(database, bot_id, f"cl{n}"))
    node = database.redis(0)
    assert [node.get(redis_keys.bot_state(b)) for b in ids] == ["running"] * len(ids)  # type: ignore[arg-type]

    assert ok(database.alpha("bots", "pause", ids[0])).strip() == f"{ids[0]}: paused"
    assert node.get(f"bot:{ids[0]}:state") == "paused"
    assert node.get(f"bot:{ids[1]}:state") == "running"

    # The kill flag is an infrastructure key: DB 0 of the cluster, through core's client.
    assert database.settings.redis.infra_db == 0
    infra = infra_client(database.settings)
    infra.set(redis_keys.KILL_FLAG, '{"requested_by": "telegram:1", "at": "now"}')
    assert "SET by telegram:1" in ok(database.alpha("kill", "status"))
    ok(database.alpha("kill", "lift", "--yes"))
    assert node.exists(redis_keys.KILL_FLAG) == 0


def test_a_db_of_its_own_is_refused_in_one_line(database) -> None:
    result = database.alpha("bots", "register", "own_001", "--code", "own1", "--redis-db", "3",
                            "--symbols", "BTCUSDT", "--initial-capital", "100", *BASE)  # fmt: skip
    refused(result, "--redis-db: Redis is a cluster (REDIS_CLUSTER=true), which has only DB 0")
    assert "own_001" not in ok(database.alpha("bots", "list"))

    ok(register_shared(database, "shr_001", "sh1"))
    refused(database.alpha("bots", "move-redis", "shr_001", "--to", "shared"),
            "move-redis: Redis is a cluster (REDIS_CLUSTER=true)")  # fmt: skip
    with pytest.raises(ConfigError, match="has only DB 0"):
        redis_client(database.settings, 3)


def test_the_infrastructure_db_is_0_on_a_cluster(redis_mode) -> None:
    del redis_mode
    assert RedisSettings(cluster=True, infra_db=15).infra_db == 0
    assert RedisSettings(infra_db=15).infra_db == 15
