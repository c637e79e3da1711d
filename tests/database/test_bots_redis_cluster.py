"""The operator's verbs against a Redis Cluster (``REDIS_CLUSTER=true``; here a one-node
cluster, which refuses cross-slot operations as a large one does): every bot in DB 0
under its id, infrastructure keys in DB 0 too, and the two things a cluster cannot do
refused in one line."""

from __future__ import annotations

from datetime import UTC, datetime

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


def _standalone_deployment(services) -> None:
    """What a stopped deployment leaves in its standalone Redis."""
    shared, infra = services.redis(0), services.redis(15)
    shared.set("bot:shr_001:state", "paused")
    shared.hset("bot:shr_001:memo", mapping={"day_open_equity": "1000.5"})
    shared.zadd("bot:shr_001:seen_fills", {"e1": 1.0, "e2": 2.0})
    shared.hset("position:shr_001:BTCUSDT", mapping={"qty": "0.5", "avg_price": "60000"})
    shared.xgroup_create("fills:shr_001", "bot", id="$", mkstream=True)
    shared.xadd("fills:shr_001", {"exec_id": "e3"})  # delivered, never acknowledged
    shared.xreadgroup("bot", "shr_001", {"fills:shr_001": ">"})
    shared.set("bot:shr_001:reply:c1", "applied", ex=100)
    infra.set(redis_keys.KILL_FLAG, '{"requested_by": "telegram:1", "at": "then"}')
    infra.xgroup_create(redis_keys.ALERTS, "c2", id="0", mkstream=True)
    infra.xadd(redis_keys.ALERTS, {"kind": "drift", "text": "x"})


def test_a_stopped_standalone_deployment_is_copied_into_the_cluster(
    database, services, redis
) -> None:
    ok(register_shared(database, "shr_001", "sh1"))
    _standalone_deployment(services)
    source = services.redis_server
    env = {"REDIS_SOURCE_PASSWORD": source.password}
    node = database.redis(0)
    node.delete("bot:shr_001:state")  # registration wrote it in the cluster already

    copied = ok(database.alpha("redis", "copy-to-cluster", "--from",
                               f"{source.host}:{source.port}", env=env))  # fmt: skip
    assert copied.strip() == "copied 8 keys into the cluster: 6 from DB 0, 2 from DB 15"
    assert node.get("bot:shr_001:state") == "paused"
    assert node.hgetall("bot:shr_001:memo") == {"day_open_equity": "1000.5"}
    assert node.zrange("bot:shr_001:seen_fills", 0, -1) == ["e1", "e2"]
    assert node.hget("position:shr_001:BTCUSDT", "qty") == "0.5"
    assert 0 < node.ttl("bot:shr_001:reply:c1") <= 100
    assert node.get(redis_keys.KILL_FLAG) == '{"requested_by": "telegram:1", "at": "then"}'
    # Streams keep their groups and what was delivered but not acknowledged.
    [group] = node.xinfo_groups("fills:shr_001")
    assert (group["name"], group["pending"]) == ("bot", 1)
    assert [g["name"] for g in node.xinfo_groups(redis_keys.ALERTS)] == ["c2"]

    # A running bot (its heartbeat) on the standalone Redis: refused, nothing copied.
    services.redis(0).set("bot:shr_001:heartbeat", "now", ex=30)
    node.delete("bot:shr_001:memo")
    refused(database.alpha("redis", "copy-to-cluster", "--from",
                           f"{source.host}:{source.port}", env=env),
            "bot:shr_001:heartbeat exists on the standalone Redis")  # fmt: skip
    assert node.exists("bot:shr_001:memo") == 0
    # A listener that beat a moment ago: refused as well.
    services.redis(0).delete("bot:shr_001:heartbeat")
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    services.redis(15).hset(redis_keys.LISTENER_STATUS, "heartbeat", now)
    refused(database.alpha("redis", "copy-to-cluster", "--from",
                           f"{source.host}:{source.port}", env=env),
            "the listener's heartbeat on the standalone Redis is from")  # fmt: skip
    assert node.exists("bot:shr_001:memo") == 0


def test_the_copy_waits_for_bots_with_a_db_of_their_own(database, services, redis) -> None:
    with database.connect("owner", direct=True) as conn:
        conn.execute(
            "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name,"
            " mode, account, redis_db, symbols) VALUES ('own_002', 'ow2', 'own_002', 'test',"
            " 'test', 'paper', 'main', 4, '{BTCUSDT}')"
        )
        conn.commit()
    source = services.redis_server
    refused(database.alpha("redis", "copy-to-cluster", "--from",
                           f"{source.host}:{source.port}",
                           env={"REDIS_SOURCE_PASSWORD": source.password}),
            "own_002 still keep their keys in a DB of their own")  # fmt: skip
