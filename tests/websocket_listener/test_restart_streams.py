"""What bots and trade sync see in Redis streams across a listener restart.

- A listener that died between the ledger commit and the Redis update left fills in
  the ledger that no ``fills:{bot_id}`` stream ever carried; they come back only as
  duplicates. The next listener re-announces recently ingested fills at start.
- ``listener:handover`` is trimmed once its entries are acknowledged, never before.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from core import redis_keys
from core.redis_client import infra_client
from tests.websocket_listener.helpers import SHARED, ledger, random_executions, register_bots
from websocket_listener.envelope import Envelope
from websocket_listener.handover import HandoverConsumer, trim_acknowledged
from websocket_listener.records import Recorder
from websocket_listener.service import Listener
from websocket_listener.writer import write_batch


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _stream_ids(services: Any, bot: Any) -> list[str]:
    client = services.redis(bot.redis_db)
    return [f["exec_id"] for _, f in client.xrange(redis_keys.fills_stream(bot.bot_id))]


def _envelope(items: list[dict[str, Any]]) -> Envelope:
    return Envelope.from_ws("main", {"topic": "execution", "data": items})


def test_fills_committed_before_a_crash_reach_the_bot_streams_at_start(database, redis, tmp_path):
    register_bots(database, SHARED)
    items = random_executions(SHARED, 20, start_ms=int(time.time() * 1000) - 60_000, seed=9)
    # Step 3 of the write path only (the listener's own code), then "died": no Redis.
    with database.connect("listener") as conn:
        write_batch(conn, Recorder().to_batch(conn, [_envelope(items)]))
    old = items[0]["execId"]  # ingested long ago: outside the re-announce window
    with database.connect("superuser", direct=True) as conn:
        conn.execute("SET session_replication_role = replica")  # past the writer guard
        conn.execute(
            "UPDATE trading.fills SET ingested_at = now() - interval '2 hours' WHERE exec_id = %s",
            (old,),
        )
        conn.commit()
    assert len(ledger(database)) == 20
    assert not any(_stream_ids(database.stack, bot) for bot in SHARED)

    listener = Listener(database.settings)
    listener.reannounce_seconds = 600
    listener.start_writer()
    try:
        # The catch-up after the restart re-reads them: duplicates, never "new" fills.
        listener.feed([_envelope(items)])
        new = random_executions(SHARED, 1, start_ms=int(time.time() * 1000), seed=10)
        listener.feed([_envelope(new)])
        assert listener.pipeline.flush(30)
    finally:
        listener.pipeline.stop()
    assert len(ledger(database)) == 21
    for k, bot in enumerate(SHARED):
        recent = [it["execId"] for it in items[k::2] if it["execId"] != old]  # ledger order
        extra = [it["execId"] for it in new if it["orderLinkId"].startswith(bot.code)]
        # Each recent fill exactly once, in ledger order; the new one once, after them.
        assert _stream_ids(database.stack, bot) == recent + extra
    # Positions were rebuilt from the whole ledger (the old fill included).
    with database.connect("readonly") as conn:
        net = dict(
            conn.execute(
                "SELECT bot_id, sum(CASE side WHEN 'Buy' THEN exec_qty ELSE -exec_qty END)"
                " FROM trading.fills GROUP BY bot_id"
            ).fetchall()
        )
    for bot in SHARED:
        held = database.stack.redis(bot.redis_db).hget(f"position:{bot.bot_id}:BTCUSDT", "qty")
        assert Decimal(held) == net[bot.bot_id]


def test_handover_entries_are_trimmed_after_their_ack(database, redis, tmp_path):
    register_bots(database, SHARED)
    items = random_executions(SHARED, 5, start_ms=int(time.time() * 1000) - 10_000, seed=11)
    infra = infra_client(database.settings)
    for item in items:
        infra.xadd(
            redis_keys.HANDOVER,
            {"account": "main", "kind": "execution", "payload": json.dumps(item)},
        )
    listener = Listener(database.settings)
    listener.start_writer()
    consumer = HandoverConsumer(infra, listener.pipeline.put, retain_seconds=0)
    consumer.start()
    try:
        _wait(lambda: len(ledger(database)) == 5, 30, "handed-over fills in the ledger")
        _wait(lambda: infra.xlen(redis_keys.HANDOVER) == 0, 10, "acknowledged entries trimmed")
        assert infra.xpending(redis_keys.HANDOVER, redis_keys.HANDOVER_GROUP)["pending"] == 0
        assert {r["source"] for r in _sources(database)} == {"rest"}
    finally:
        consumer.stop()
        listener.pipeline.stop()


def _sources(database: Any) -> list[dict[str, str]]:
    with database.connect("readonly") as conn:
        return [{"source": r[0]} for r in conn.execute("SELECT source FROM trading.fills")]


def test_trim_never_removes_an_unacknowledged_or_undelivered_entry(redis):
    stream, group = redis_keys.HANDOVER, redis_keys.HANDOVER_GROUP
    redis.xgroup_create(stream, group, id="0", mkstream=True)
    ids = [redis.xadd(stream, {"n": str(n)}) for n in range(4)]
    redis.xreadgroup(group, "listener", {stream: ">"}, count=3)  # 0, 1, 2 delivered
    redis.xack(stream, group, ids[0], ids[2])  # 1 still pending, 3 never delivered
    assert trim_acknowledged(redis, retain_seconds=0) == 1
    assert [e[0] for e in redis.xrange(stream)] == ids[1:]
    redis.xack(stream, group, ids[1])
    assert trim_acknowledged(redis, retain_seconds=0) == 2  # 1 and the acked 2
    assert [e[0] for e in redis.xrange(stream)] == ids[3:]
    # An hour's retention keeps recent acknowledged entries.
    redis.xreadgroup(group, "listener", {stream: ">"})
    redis.xack(stream, group, ids[3])
    assert trim_acknowledged(redis, retain_seconds=3600) == 0
    assert redis.xlen(stream) == 1
