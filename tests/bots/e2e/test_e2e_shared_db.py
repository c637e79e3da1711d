"""A bot registered without ``--redis-db`` trades end to end with every key of its own
(heartbeat, state, orders, position, fills stream) in the shared DB, under its
bot id: the bot, the listener and the harness all find them there."""

from __future__ import annotations

from decimal import Decimal

from core import redis_keys
from tests.bots.e2e.harness import flat_bars, stack
from tests.bots.e2e.test_e2e_momentum import CONFIG


def test_a_bot_without_a_redis_db_trades_from_the_shared_db(database, redis, tmp_path):
    swings = [(60000, 60300, 59700, p) for p in (59700, 60300) * 6]
    history = [*swings, *flat_bars(60000, 9)]
    live = [
        (60000, 60100, 60000, 60100, 100),  # breakout with volume: entry
        (60100, 60100, 59900, 59900),  # closes below SMA: market exit
        *flat_bars(59900, 40),
    ]
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register("mo_shared", "ms1", "momentum", {**CONFIG, "symbols": ["BTCUSDT"]},
                   redis_db=None)  # fmt: skip
        s.start_bot("mo_shared")
        shared = database.stack.redis(redis_keys.SHARED_DB)
        assert shared.exists("bot:mo_shared:heartbeat") == 1  # the harness runs no lease

        s.play()
        qty = Decimal("0.033")
        assert s.qty("mo_shared") == qty  # the listener's hash, read from DB 0
        assert shared.hlen(redis_keys.order_book("mo_shared")) > 0  # type: ignore[arg-type]
        s.play()
        s.play()
        assert s.qty("mo_shared") == 0
        assert [(f.side, f.reason) for f in s.fills("mo_shared")] == [
            ("Buy", "entry"), ("Sell", "exit"),
        ]  # fmt: skip
        assert shared.xlen(redis_keys.fills_stream("mo_shared")) == 2  # type: ignore[arg-type]
        others = [k for db in range(1, 15) for k in database.stack.redis(db).keys("*mo_shared*")]
        assert others == []
