"""Momentum end to end: a squeeze breakout opens a long, a close below SMA20 exits it."""

from __future__ import annotations

from decimal import Decimal

from tests.bots.e2e.harness import TAKER_FEE, D, flat_bars, hand_realized, stack

CONFIG = {"bb_period": 10, "bbw_lookback": 10, "volume_period": 10}


def test_momentum_breakout_then_close_below_sma(database, redis, tmp_path):
    # Wide swings, then a squeeze: every earlier band width is wider than the breakout's.
    swings = [(60000, 60300, 59700, p) for p in (59700, 60300) * 6]
    history = [*swings, *flat_bars(60000, 9)]
    live = [
        (60000, 60100, 60000, 60100, 100),  # above the upper band, volume ×5: entry
        (60100, 60100, 60100, 60100),  # holds above SMA
        (60100, 60100, 59900, 59900),  # closes below SMA: market exit
        *flat_bars(59900, 40),
    ]
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register("mo_e2e", "mo1", "momentum", {**CONFIG, "symbols": ["BTCUSDT"]}, redis_db=3)
        s.start_bot("mo_e2e")

        s.play()
        qty = Decimal("0.033")  # 20 % of 10,000 at 60,100, floored
        assert s.qty("mo_e2e") == qty
        resting = s.open_orders("mo_e2e")
        entry = D("60100.1")
        assert [(o["orderLinkId"][:7], D(o["triggerPrice"])) for o in resting] == [
            ("mo1-sl-", D("54090.1"))  # 10 % trailing stop from the entry
        ]
        s.play()
        assert s.qty("mo_e2e") == qty
        s.play()  # the close below SMA20 decides the exit; it fills at the next open
        assert s.qty("mo_e2e") == 0
        assert s.open_orders("mo_e2e") == []  # the stop was cancelled first
        s.play(2)
        assert s.qty("mo_e2e") == 0

        fills = s.fills("mo_e2e")
        assert [(f.side, f.reason, f.link[:7]) for f in fills] == [
            ("Buy", "entry", "mo1-en-"),
            ("Sell", "exit", "mo1-mx-"),
        ]
        exit_price = D("59899.9")
        assert [(f.price, f.qty) for f in fills] == [(entry, qty), (exit_price, qty)]
        fees = [entry * qty * TAKER_FEE, exit_price * qty * TAKER_FEE]
        assert [f.fee for f in fills] == fees
        expected = (exit_price - entry) * qty - sum(fees)
        assert hand_realized(fills) == expected
        assert s.position("mo_e2e")["realized_pnl"] == expected
        assert s.analytics("mo_e2e") == (0, expected)
