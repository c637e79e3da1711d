"""A bot registered without ``--redis-db``: the listener mirrors its positions and fills
into the shared DB (``redis_keys.SHARED_DB``) under its bot id, next to a bot with a DB
of its own, and a rebuild from the ledger rewrites them there."""

from __future__ import annotations

import dataclasses
import time
from decimal import Decimal
from typing import Any

import pytest

from core import redis_keys
from core.config import ListenerSettings
from tests.websocket_listener import helpers
from tests.websocket_listener.helpers import SHARED, execution, redis_positions, register_bots
from websocket_listener.envelope import Envelope
from websocket_listener.service import Listener

NO_DB = helpers.TestBot("alpha_nodb", "nd1", "main", None)
OWN_DB = SHARED[1]  # alpha_two, DB 2


def _send(listener: Listener, items: list[Any]) -> None:
    listener.feed([Envelope.from_ws("main", {"topic": "execution", "data": items}, "ws")])  # type: ignore[arg-type]
    assert listener.pipeline.flush(30)
    assert listener.book.drain(10)


@pytest.mark.parametrize("redis_mode", ["standalone", "cluster"])
def test_positions_of_a_bot_without_a_redis_db_land_in_the_shared_db(
    database, redis, tmp_path, redis_mode
) -> None:
    """On a Redis Cluster (one node, CROSSSLOT enforced) no bot has a DB of its own: the
    second bot shares DB 0 too, and the rebuild deletes stale keys of several slots."""
    own_db = OWN_DB if redis_mode == "standalone" else dataclasses.replace(OWN_DB, redis_db=0)
    register_bots(database, (NO_DB, own_db))
    settings = dataclasses.replace(
        database.settings, listener=ListenerSettings(spool_dir=tmp_path / "spool")
    )
    listener = Listener(settings)
    listener.start_writer()
    start = int(time.time() * 1000) - 60_000
    try:
        _send(listener, [
            execution(NO_DB, side="Buy", qty="0.5", price="60000", exec_time=start),
            execution(own_db, side="Sell", qty="0.2", price="60000", exec_time=start + 1),
            execution(NO_DB, side="Buy", qty="0.25", price="61000", exec_time=start + 2),
        ])  # fmt: skip
        shared = database.redis(redis_keys.SHARED_DB)
        held = shared.hgetall(redis_keys.position(NO_DB.bot_id, "BTCUSDT"))
        assert held["qty"] == "0.75"
        assert shared.xlen(redis_keys.fills_stream(NO_DB.bot_id)) == 2
        assert [f["exec_qty"] for _, f in shared.xrange(redis_keys.fills_stream(NO_DB.bot_id))] == [
            "0.5", "0.25",
        ]  # fmt: skip
        own = database.redis(redis_keys.bot_db(own_db.redis_db))
        assert own.hget(redis_keys.position(own_db.bot_id, "BTCUSDT"), "qty") == "-0.2"
        if redis_mode == "standalone":
            assert shared.exists(redis_keys.position(own_db.bot_id, "BTCUSDT")) == 0
            assert own.exists(redis_keys.position(NO_DB.bot_id, "BTCUSDT")) == 0

        # A lost key is noticed and the rebuild from the ledger puts it back in DB 0,
        # and removes positions the ledger does not hold (keys of different slots).
        shared.delete(redis_keys.position(NO_DB.bot_id, "BTCUSDT"))
        stale = [redis_keys.position(NO_DB.bot_id, s) for s in ("ETHUSDT", "SOLUSDT", "XRPUSDT")]
        for key in stale:
            shared.hset(key, "qty", "1")
        assert listener.book.redis_lost_writes()
        with database.connect("listener") as conn:
            listener.book.rebuild(conn)
        assert not listener.book.redis_dirty
        assert redis_positions(database, (NO_DB, own_db)) == {
            (NO_DB.bot_id, "BTCUSDT"): Decimal("0.75"),
            (own_db.bot_id, "BTCUSDT"): Decimal("-0.2"),
        }
        assert not listener.book.redis_lost_writes()
    finally:
        listener.pipeline.stop()
        listener.book.drain(10)

    # `alpha positions rebuild`, a process configured by REDIS_* alone, puts them back too.
    for db in {redis_keys.SHARED_DB, redis_keys.bot_db(own_db.redis_db)}:
        database.redis(db).flushdb()
    rebuilt = database.alpha("positions", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert redis_positions(database, (NO_DB, own_db)) == {
        (NO_DB.bot_id, "BTCUSDT"): Decimal("0.75"),
        (own_db.bot_id, "BTCUSDT"): Decimal("-0.2"),
    }


@pytest.mark.parametrize("redis_mode", ["cluster"])
def test_on_a_cluster_a_bot_left_with_a_db_of_its_own_is_recorded_but_not_mirrored(
    database, redis, tmp_path, caplog
) -> None:
    """A registry row from before the switch (the CLI refuses it now): its fills go to the
    ledger, the other bots' Redis writes and rebuilds go on, and the log says why."""
    stuck = helpers.TestBot("alpha_stuck", "st1", "main", 4)
    register_bots(database, (NO_DB, stuck))
    settings = dataclasses.replace(
        database.settings, listener=ListenerSettings(spool_dir=tmp_path / "spool")
    )
    listener = Listener(settings)
    listener.start_writer()
    start = int(time.time() * 1000) - 60_000
    try:
        _send(listener, [
            execution(stuck, side="Buy", qty="0.1", price="60000", exec_time=start),
            execution(NO_DB, side="Buy", qty="0.5", price="60000", exec_time=start + 1),
        ])  # fmt: skip
        node = database.redis(0)
        assert node.hget(redis_keys.position(NO_DB.bot_id, "BTCUSDT"), "qty") == "0.5"
        assert node.exists(redis_keys.position(stuck.bot_id, "BTCUSDT")) == 0
        assert not listener.book.redis_dirty
        with database.connect("listener") as conn:
            listener.book.rebuild(conn)
            recorded = conn.execute(
                "SELECT count(*) FROM trading.fills WHERE bot_id = %s", (stuck.bot_id,)
            ).fetchone()
        assert recorded == (1,)
        assert not listener.book.redis_dirty
        assert node.hget(redis_keys.position(NO_DB.bot_id, "BTCUSDT"), "qty") == "0.5"
        assert "alpha_stuck is registered with Redis DB 4" in caplog.text
    finally:
        listener.pipeline.stop()
        listener.book.drain(10)
