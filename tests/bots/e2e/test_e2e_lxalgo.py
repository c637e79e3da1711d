"""LXAlgo end to end: a pump opens a long (rule 8), its tagged stop loss closes it."""

from __future__ import annotations

from decimal import Decimal

from tests.bots.e2e.harness import TAKER_FEE, D, flat_bars, hand_realized, stack

# Small periods so 25 bars warm it up; every rule is the spec's, only the numbers shrink.
CONFIG = {
    "min_bars": 20,
    "pump_lookback": 3,
    "pump_pct": "2",
    "rsi_period": 5,
    "volatility_period": 5,
    "change_period": 5,
    "notional_usdt": "600",
    "take_profit_pct": "5",
    "stop_loss_pct": "2",
}


def test_lxalgo_pump_entry_then_stop_loss(database, redis, tmp_path):
    history = flat_bars(60000, 25)
    live = [
        (60000, 61300, 60000, 61300, 100),  # +2.17 % pump, spread 2.1 %, RSI 100, volume ×10
        (61300, 61300, 61300, 61300),  # holds
        (61300, 61300, 60000, 60100),  # falls through the stop (~60074.1)
        *flat_bars(60100, 40),
    ]
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register("lx_e2e", "lx1", "lxalgo", CONFIG, redis_db=2)
        s.start_bot("lx_e2e")

        s.play()
        qty = Decimal("0.009")  # 600 / 61,300 floored to the 0.001 step
        assert s.qty("lx_e2e") == qty
        resting = {o["orderLinkId"].split("-")[1]: o for o in s.open_orders("lx_e2e")}
        entry = D("61300.1")  # the ask, one tick above the open
        assert D(resting["sl"]["triggerPrice"]) == D("60074.1")  # entry × 0.98, toward entry
        assert D(resting["tp"]["triggerPrice"]) == D("64365.1")  # entry × 1.05, toward entry
        assert {o["side"] for o in resting.values()} == {"Sell"}

        s.play()
        assert s.qty("lx_e2e") == qty
        s.play()
        assert s.qty("lx_e2e") == 0
        assert s.open_orders("lx_e2e") == []  # the take profit went with the stop
        s.play(2)
        assert s.qty("lx_e2e") == 0

        fills = s.fills("lx_e2e")
        assert [(f.side, f.reason, f.link[:7]) for f in fills] == [
            ("Buy", "entry", "lx1-en-"),
            ("Sell", "sl", "lx1-sl-"),
        ]
        exit_price = D("60074.0")  # triggered at its price; the bid one tick below
        assert [(f.price, f.qty) for f in fills] == [(entry, qty), (exit_price, qty)]
        fees = [entry * qty * TAKER_FEE, exit_price * qty * TAKER_FEE]
        assert [f.fee for f in fills] == fees
        expected = (exit_price - entry) * qty - sum(fees)
        assert hand_realized(fills) == expected
        assert s.position("lx_e2e")["realized_pnl"] == expected
        assert s.analytics("lx_e2e") == (0, expected)
