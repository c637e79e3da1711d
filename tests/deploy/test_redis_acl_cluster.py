"""Redis ACLs on a Redis Cluster (``REDIS_CLUSTER=true``): the same users
(``core/redis_acl.py``) on a one-node cluster, each logging in through core's client —
a ``RedisCluster``, which first asks for the slot map (``CLUSTER SLOTS``, the one command
the rules add for it) and then routes by slot. What each role does in production works
(a bot's lease scripts and streams, the listener's mirror pipeline, trade sync's
hand-over, the C2's control) and another bot's keys stay refused.

The cluster is started by ``devenv.redis_server`` with the users rendered from the code,
not by the production entrypoint (tests/deploy/test_redis_acl.py covers that): the
entrypoint's ``default`` user cannot assign slots, which a real cluster's operator does
once with ``redis-cli --cluster create``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from bots.runtime.lease import BotLease
from core import redis_acl, redis_keys
from core.config import load_settings
from core.fills import Fill
from core.ids import BotId
from core.positions import Position
from core.redis_client import ensure_group, redis_client
from core.redis_cluster import is_cluster_client
from devenv.ports import free_port
from devenv.redis_server import RedisServer
from tests.core.test_positions import make_fill
from trade_sync.handover import hand_over
from websocket_listener.handover import trim_acknowledged
from websocket_listener.redis_mirror import RedisMirror

PASSWORD = "pw-operator"
BOTS = (BotId("alpha_bot"), BotId("beta_bot"))


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    users = [(u, f"pw-{u.name}") for u in redis_acl.service_users(BOTS)]
    server = RedisServer(
        run_dir=Path(tmp_path_factory.mktemp("acl-cluster")) / "redis",
        port=free_port(),
        password=PASSWORD,
        users=users,
        cluster=True,
    )
    server.start()
    try:
        yield server.port
    finally:
        server.stop()


def login(monkeypatch: pytest.MonkeyPatch, port: int, user: str) -> redis.Redis:
    """A client built the way every service builds it: from REDIS_* through core."""
    monkeypatch.setenv("REDIS_HOST", "127.0.0.1")
    monkeypatch.setenv("REDIS_PORT", str(port))
    monkeypatch.setenv("REDIS_CLUSTER", "true")
    monkeypatch.setenv("REDIS_DB", "0")
    if user == "default":
        monkeypatch.delenv("REDIS_USERNAME", raising=False)
        monkeypatch.setenv("REDIS_PASSWORD", PASSWORD)
    else:
        monkeypatch.setenv("REDIS_USERNAME", user)
        monkeypatch.setenv("REDIS_PASSWORD", f"pw-{user}")
    settings = load_settings()
    assert settings.redis.infra_db == 0
    client = redis_client(settings, settings.redis.infra_db)
    assert is_cluster_client(client)
    return client


def _refused(action) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(redis.exceptions.ResponseError) as refused:
        action()
    text = str(refused.value)
    assert "no permissions" in text or "can't access" in text, text


def test_a_bot_runs_on_its_own_keys_and_no_other(port, monkeypatch) -> None:
    op = login(monkeypatch, port, "default")
    op.set("bot:beta_bot:state", "running")
    bot = login(monkeypatch, port, "bot-alpha_bot")
    assert bot.set("bot:alpha_bot:state", "running")
    for stream in (redis_keys.fills_stream(BOTS[0]), redis_keys.commands_stream(BOTS[0])):
        ensure_group(bot, stream, "bot", start="$")
        assert bot.xreadgroup("bot", "alpha_bot", {stream: ">"}, count=1, block=1) == []
    assert bot.exists(redis_keys.KILL_FLAG) == 0
    assert bot.xadd(redis_keys.ALERTS, {"kind": "risk_halt", "text": "halted"})
    # The lease's scripts run on the node owning the key.
    lease = BotLease(bot, "alpha_bot", ttl_seconds=1)
    lease.acquire()
    assert bot.get(lease.key) == lease.token
    lease.release()
    assert bot.get(lease.key) is None
    _refused(lambda: bot.get("bot:beta_bot:state"))
    _refused(lambda: bot.xadd("commands:beta_bot", {"command": "flatten"}))
    _refused(lambda: bot.hset("position:alpha_bot:BTCUSDT", "qty", "5"))
    _refused(lambda: bot.set(redis_keys.KILL_FLAG, "1"))
    _refused(lambda: bot.eval("return redis.call('GET', KEYS[1])", 1, "bot:beta_bot:state"))


def _fill(bot_id: BotId, n: int) -> Fill:
    return dataclasses.replace(make_fill("Buy", "0.001", "60000", n=n), bot_id=bot_id)


def test_the_listener_mirrors_positions_and_fills_of_several_slots(port, monkeypatch) -> None:
    listener = login(monkeypatch, port, "listener")
    errors: list[Exception] = []
    mirror = RedisMirror(lambda db: listener, on_error=errors.append)
    position = Position(qty=Decimal("0.001"), cost=Decimal("60"))
    mirror.write(
        {bot: 0 for bot in BOTS},
        [(bot, "BTCUSDT", position) for bot in BOTS],  # type: ignore[misc]
        [_fill(BOTS[0], 1), _fill(BOTS[1], 2), _fill(BOTS[0], 3)],
    )
    assert errors == []
    op = login(monkeypatch, port, "default")
    for bot in BOTS:
        assert op.hget(redis_keys.position(bot, "BTCUSDT"), "qty") == "0.001"
    entries = op.xrange(redis_keys.fills_stream(BOTS[0]))
    assert [fields["exec_id"] for _, fields in entries] == ["e000001", "e000003"]
    assert entries[0][1]["exec_price"] == "60000"
    # Its hand-over consumer trims by the server's clock.
    ensure_group(listener, redis_keys.HANDOVER, redis_keys.HANDOVER_GROUP, start="0")
    assert trim_acknowledged(listener, retain_seconds=0) == 0
    _refused(lambda: listener.set("bot:alpha_bot:state", "stopped"))


def test_trade_sync_hands_over_and_the_c2_controls(port, monkeypatch) -> None:
    sync = login(monkeypatch, port, "sync")
    assert hand_over(sync, "main", "execution", [{"execId": f"x{n}"} for n in range(3)]) == 3
    _refused(lambda: sync.xrange(redis_keys.HANDOVER))
    c2 = login(monkeypatch, port, "c2")
    assert c2.set("bot:beta_bot:state", "paused")
    assert c2.xadd("commands:beta_bot", {"command": "flatten", "id": "1"})
    assert c2.set(redis_keys.KILL_FLAG, "1") and c2.delete(redis_keys.KILL_FLAG) == 1
    _refused(lambda: c2.hset("position:beta_bot:BTCUSDT", "qty", "0"))
