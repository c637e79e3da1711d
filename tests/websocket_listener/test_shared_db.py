"""A bot registered without ``--redis-db``: the listener mirrors its positions and fills
into the shared DB (``redis_keys.SHARED_DB``) under its bot id, next to a bot with a DB
of its own, and a rebuild from the ledger rewrites them there."""

from __future__ import annotations

import dataclasses
import time
from decimal import Decimal
from typing import Any

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


def test_positions_of_a_bot_without_a_redis_db_land_in_the_shared_db(
    database, redis, tmp_path
) -> None:
    register_bots(database, (NO_DB, OWN_DB))
    settings = dataclasses.replace(
        database.settings, listener=ListenerSettings(spool_dir=tmp_path / "spool")
    )
    listener = Listener(settings)
    listener.start_writer()
    start = int(time.time() * 1000) - 60_000
    try:
        _send(listener, [
            execution(NO_DB, side="Buy", qty="0.5", price="60000", exec_time=start),
            execution(OWN_DB, side="Sell", qty="0.2", price="60000", exec_time=start + 1),
            execution(NO_DB, side="Buy", qty="0.25", price="61000", exec_time=start + 2),
        ])  # fmt: skip
        shared = database.stack.redis(redis_keys.SHARED_DB)
        held = shared.hgetall(redis_keys.position(NO_DB.bot_id, "BTCUSDT"))
        assert held["qty"] == "0.75"
        assert shared.xlen(redis_keys.fills_stream(NO_DB.bot_id)) == 2
        own = database.stack.redis(2)
        assert own.hget(redis_keys.position(OWN_DB.bot_id, "BTCUSDT"), "qty") == "-0.2"
        assert shared.exists(redis_keys.position(OWN_DB.bot_id, "BTCUSDT")) == 0
        assert own.exists(redis_keys.position(NO_DB.bot_id, "BTCUSDT")) == 0

        # A lost key is noticed and the rebuild from the ledger puts it back in DB 0.
        shared.delete(redis_keys.position(NO_DB.bot_id, "BTCUSDT"))
        assert listener.book.redis_missing_keys()
        with database.connect("listener") as conn:
            listener.book.rebuild(conn)
        assert redis_positions(database.stack, (NO_DB, OWN_DB)) == {
            (NO_DB.bot_id, "BTCUSDT"): Decimal("0.75"),
            (OWN_DB.bot_id, "BTCUSDT"): Decimal("-0.2"),
        }
    finally:
        listener.pipeline.stop()
        listener.book.drain(10)

