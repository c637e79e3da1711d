"""Key-prefix mode: bots registered without ``--redis-db`` share ``redis_keys.SHARED_DB``
under their bot-id prefix, so the registry is not capped at 15 bots; ``alpha bots
move-redis`` moves an existing bot's keys there."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from core import redis_keys
from core.config import Role
from core.redis_client import redis_client
from tests.database.test_bots_cli import BASE, ok, refused

SHARED = redis_keys.SHARED_DB


def register_shared(database, bot_id: str, code: str):
    return database.alpha(
        "bots", "register", bot_id, "--code", code, "--symbols", "BTCUSDT",
        "--initial-capital", "100", *BASE,
    )  # fmt: skip


def _audit(database) -> list[tuple[str, str, str, str]]:
    with database.connect(Role.READONLY) as conn:
        rows = conn.execute(
            "SELECT command, bot_id, outcome, detail FROM trading.bot_commands"
            " WHERE channel = 'cli' AND command = 'move-redis' ORDER BY id"
        ).fetchall()
    return [tuple(r) for r in rows]


def test_twenty_bots_without_a_redis_db_share_db_0_by_prefix(database, redis) -> None:
    ids = [f"many_{n:03d}" for n in range(1, 21)]
    for n, bot_id in enumerate(ids, start=1):
        assert f"registered {bot_id}" in ok(register_shared(database, bot_id, f"mn{n}"))
    # One with a DB of its own still works next to them (and may even be DB 0).
    ok(database.alpha("bots", "register", "own_001", "--code", "own1", "--redis-db", "3",
                      "--symbols", "ETHUSDT", "--initial-capital", "100", *BASE))  # fmt: skip

    shared = redis_client(database.settings, SHARED)
    for bot_id in ids:
        assert shared.get(f"bot:{bot_id}:state") == "running", bot_id
    assert redis_client(database.settings, 3).get("bot:own_001:state") == "running"
    assert shared.get("bot:own_001:state") is None

    listed = json.loads(ok(database.alpha("bots", "list", "--json")))
    dbs = {b["bot_id"]: b["redis_db"] for b in listed}
    assert all(dbs[b] is None for b in ids) and dbs["own_001"] == 3
    table = ok(database.alpha("bots", "list")).splitlines()
    row = next(line for line in table if line.startswith("many_020"))
    assert " shared " in row
    external = next(line for line in table if line.startswith("external"))
    assert " shared " not in external  # the reserved row has no keys anywhere

    last = ids[-1]
    assert ok(database.alpha("bots", "pause", last)).strip() == f"{last}: paused"
    assert shared.get(f"bot:{last}:state") == "paused"
    assert shared.get(f"bot:{ids[-2]}:state") == "running"  # its neighbour untouched
    assert ok(database.alpha("bots", "resume", last)).strip() == f"{last}: active"
    assert shared.get(f"bot:{last}:state") == "running"

    shown = json.loads(ok(database.alpha("bots", "show", last, "--json")))
    assert shown["redis_db"] is None and shown["universe"] is None
    published = {"symbols": ["BTCUSDT"], "updated_at": "2026-12-05T12:00:00+00:00"}
    shared.set(f"bot:{last}:universe", json.dumps(published))
    shown = json.loads(ok(database.alpha("bots", "show", last, "--json")))
    assert shown["universe"] == published

    ok(database.alpha("bots", "reset-risk", last))
    commands = [fields for _, fields in shared.xrange(f"commands:{last}")]
    # the pause's and the resume's state notices, then the reset, all under the bot's id
    assert [(c["command"], c.get("state")) for c in commands] == [
        ("state", "paused"), ("state", "running"), ("reset-risk", None),
    ]  # fmt: skip

    assert ok(database.alpha("bots", "retire", last)).strip() == f"{last}: retired"
    assert shared.get(f"bot:{last}:state") == "stopped"


def test_move_redis_moves_every_key_of_a_stopped_bot_into_the_shared_db(database, redis) -> None:
    ok(database.alpha("bots", "register", "mover_001", "--code", "mv1", "--redis-db", "5",
                      "--symbols", "BTCUSDT", *BASE))  # fmt: skip
    ok(database.alpha("bots", "register", "mover_0012", "--code", "mv2", "--redis-db", "6",
                      *BASE, "--symbols", "ETHUSDT", "--account", "other"))  # fmt: skip
    old = redis_client(database.settings, 5)
    shared = redis_client(database.settings, SHARED)
    old.hset("position:mover_001:BTCUSDT", mapping={"qty": "0.5", "avg_price": "60000"})
    old.hset("bot:mover_001:orders", mapping={"i1": "{}"})
    old.set("bot:mover_001:risk", "x", ex=3600)
    old.xadd("fills:mover_001", {"exec_id": "e1"})
    old.xadd("commands:mover_001", {"command": "flatten"})
    old.set("bot:mover_0012:state", "running")  # a longer id that shares the prefix
    old.set("unrelated", "1")
    moved = sorted(k for k in old.keys("*") if "mover_001:" in k or k.endswith(":mover_001"))
    assert len(moved) == 6  # the five above and bot:mover_001:state

    # Running (a fresh heartbeat): refused, one line, nothing moved.
    old.set("bot:mover_001:heartbeat", datetime.now(UTC).isoformat(), ex=30)
    refused(database.alpha("bots", "move-redis", "mover_001", "--to", "shared"),
            "bot mover_001 is running")  # fmt: skip
    assert shared.keys("*mover_001*") == []
    old.delete("bot:mover_001:heartbeat")

    out = ok(database.alpha("bots", "move-redis", "mover_001", "--to", "shared"))
    assert out.strip() == "mover_001: 6 keys moved from db 5 to the shared db 0"
    assert sorted(shared.keys("*")) == moved
    assert shared.hgetall("position:mover_001:BTCUSDT") == {"qty": "0.5", "avg_price": "60000"}
    assert shared.get("bot:mover_001:state") == "running"
    assert 0 < shared.ttl("bot:mover_001:risk") <= 3600  # the TTL travels with the key
    assert shared.xrange("fills:mover_001")[0][1] == {"exec_id": "e1"}
    assert sorted(old.keys("*")) == ["bot:mover_0012:state", "unrelated"]
    shown = json.loads(ok(database.alpha("bots", "show", "mover_001", "--json")))
    assert shown["redis_db"] is None

    # From now on the CLI finds its keys in the shared DB; DB 5 is free for another bot.
    ok(database.alpha("bots", "pause", "mover_001"))
    assert shared.get("bot:mover_001:state") == "paused"
    ok(database.alpha("bots", "register", "next_001", "--code", "nx1", "--redis-db", "5",
                      *BASE, "--symbols", "SOLUSDT", "--account", "third"))  # fmt: skip

    refused(database.alpha("bots", "move-redis", "mover_001", "--to", "shared"),
            "bot mover_001 already keeps its keys in the shared DB")  # fmt: skip
    refused(database.alpha("bots", "move-redis", "external", "--to", "shared"), "is reserved")
    refused(database.alpha("bots", "move-redis", "nobody", "--to", "shared"), "no bot 'nobody'")
    refused(database.alpha("bots", "move-redis", "next_001", "--to", "db7"), "invalid choice", 2)
    assert _audit(database) == [
        ("move-redis", "mover_001", "accepted", "db 5 -> shared db 0: 6 keys")
    ]


def test_move_redis_refuses_a_bot_whose_database_heartbeat_is_fresh(database, redis) -> None:
    ok(database.alpha("bots", "register", "beat_001", "--code", "bt1", "--redis-db", "7",
                      "--symbols", "BTCUSDT", *BASE))  # fmt: skip
    with database.connect(Role.OWNER, direct=True) as conn:
        conn.execute("UPDATE trading.bots SET last_heartbeat = now() WHERE bot_id = 'beat_001'")
        conn.commit()
    refused(database.alpha("bots", "move-redis", "beat_001", "--to", "shared"),
            "bot beat_001 is running (heartbeat at")  # fmt: skip
    shown = json.loads(ok(database.alpha("bots", "show", "beat_001", "--json")))
    assert shown["redis_db"] == 7
    assert _audit(database) == []


def test_move_redis_of_a_bot_whose_own_db_is_db_0_only_clears_its_redis_db(database, redis) -> None:
    ok(database.alpha("bots", "register", "zero_001", "--code", "zr1", "--redis-db", "0",
                      "--symbols", "BTCUSDT", *BASE))  # fmt: skip
    shared = redis_client(database.settings, SHARED)
    shared.set("bot:zero_001:orders", "kept")
    out = ok(database.alpha("bots", "move-redis", "zero_001", "--to", "shared"))
    assert out.strip() == "zero_001: 0 keys moved from db 0 to the shared db 0"
    assert shared.get("bot:zero_001:orders") == "kept"
    assert shared.get("bot:zero_001:state") == "running"
    shown = json.loads(ok(database.alpha("bots", "show", "zero_001", "--json")))
    assert shown["redis_db"] is None
