"""Crash and restart: ``alpha run bot`` killed with SIGKILL mid-trade, then restarted.

The restarted bot must take its trade over from the ledger (position, average price)
and its own resting orders: no second entry on the symbol it holds, the resting stop
and take profit re-linked (not duplicated), a stop placed only when none rests, and
the re-linked orders still cancel each other when one fills.
"""

from __future__ import annotations

import os
import signal
from decimal import Decimal

import pytest

from core.exchange.client import make_http
from tests.bots.e2e.harness import MINUTE, SYMBOL, D, flat_bars, spawn_bot, stack, wait

CONFIG = {
    "ema_fast": 3,
    "ema_slow": 5,
    "exits": {
        SYMBOL: {
            "stop_loss_pct": "1.0",
            "take_profit_pct": "3.0",
            "trailing_distance_pct": "1.0",
            "trailing_activation_pct": "2.0",
        }
    },
}
BOT = "ss_crash"
QTY = Decimal("0.117")


def _bars():
    history = [(60000 + 10 * (i - 1), 60000 + 10 * i, 60000 + 10 * (i - 1), 60000 + 10 * i)
               for i in range(20)]  # fmt: skip
    live = [(60190, 60190, 59800, 59800)]  # bar 20: entry
    p = 59800
    for step in [30, 30, 30, 30, -250]:  # bar 25 crosses again: an entry if it were flat
        q = p + step
        live.append((p, max(p, q), min(p, q), q))
        p = q
    live.append((p, 60500, p, 60450))  # bar 26: through the stop (~60397.8)
    return history, [*live, *flat_bars(60450, 30)]


def _resting(s):
    return {o["orderLinkId"]: o for o in s.open_orders(BOT)}


@pytest.mark.slow
@pytest.mark.parametrize("redis_mode", ["standalone", "cluster"])
def test_kill_9_mid_trade_then_restart_adopts_the_trade(database, redis, tmp_path, redis_mode):
    """On a Redis Cluster too (one node): the ``alpha run bot`` process with its lease,
    heartbeat, order book and two stream readers, all in DB 0."""
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(BOT, "crs", "shortseller", CONFIG,
                   redis_db=None if redis_mode == "cluster" else 6)  # fmt: skip
        proc = spawn_bot(s, BOT)
        try:
            topic = f"kline.1.{SYMBOL}"
            wait(lambda: s._subscribers(topic) == 1 or proc.poll() is not None, 60, "subscribe")
            assert proc.poll() is None, proc.communicate()[0]
            s.ex.control.advance(MINUTE)  # bar 20 closes: the bot sells
            s.bar += 1
            wait(lambda: s.qty(BOT) == -QTY and len(s.open_orders(BOT)) == 2, what="protected")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # mid-trade, no goodbye
            proc.wait(10)
        before = _resting(s)
        assert sorted(link.split("-")[1] for link in before) == ["sl", "tp"]
        placed = len(s.orders())

        # 1. Restart with both protective orders resting: adopt them, send nothing.
        bot = s.start_bot(BOT)
        assert _resting(s) == before
        assert len(s.orders()) == placed
        s.play(1)
        assert len(s.orders()) == placed
        bot.halt()

        # 2. Down again, and its stop is gone (as if it crashed before placing it):
        # the restart places one stop, for the ledger quantity, at the entry's price.
        http = make_http(s.settings, "main")
        (stop_link,) = [link for link in before if "-sl-" in link]
        http.cancel_order(category="linear", symbol=SYMBOL, orderLinkId=stop_link)
        s.start_bot(BOT)
        now = _resting(s)
        (new_stop,) = [o for link, o in now.items() if "-sl-" in link]
        (tp_link,) = [link for link in before if "-tp-" in link]
        assert set(now) == {new_stop["orderLinkId"], tp_link}  # the same take profit
        assert new_stop["orderLinkId"] != stop_link
        assert D(new_stop["qty"]) == QTY and new_stop["side"] == "Buy"
        assert D(new_stop["triggerPrice"]) == D("60397.8")  # 59,799.9 × 1.01, like the first

        s.play(4)  # bar 25 crosses below the EMAs again: it holds the symbol, no entry
        assert s.qty(BOT) == -QTY
        assert sum("-en-" in o["orderLinkId"] for o in s.orders()) == 1

        s.play(1)  # bar 26: the new stop fills and cancels the adopted take profit
        assert s.qty(BOT) == 0
        assert s.open_orders(BOT) == []
        reasons = [f.reason for f in s.fills(BOT)]
        assert reasons == ["entry", "sl"]
