"""ShortSeller end to end: a bearish cross opens a short, its tagged take profit closes it."""

from __future__ import annotations

from decimal import Decimal

from tests.bots.e2e.harness import SYMBOL, TAKER_FEE, D, flat_bars, hand_realized, stack

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


def _bars():
    # 20 rising bars: close above both EMAs, regime inactive.
    history = [(60000 + 10 * (i - 1), 60000 + 10 * i, 60000 + 10 * (i - 1), 60000 + 10 * i)
               for i in range(20)]  # fmt: skip
    live = [
        (60190, 60190, 59800, 59800),  # crosses below EMA3 and EMA5: entry (short)
        (59800, 59850, 59700, 59750),  # nothing: the stop and take profit rest
        (59750, 59760, 57900, 58100),  # its low crosses the take profit (~58005.9)
        *flat_bars(58100, 40),
    ]
    return history, live


def test_shortseller_short_then_take_profit(database, redis, tmp_path):
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register("ss_e2e", "ss1", "shortseller", CONFIG, redis_db=1)
        s.start_bot("ss_e2e")

        s.play()  # the cross bar closes: market sell at the next bar's open (59800)
        entry_qty = Decimal("0.117")  # 10,000 × 7 % × 10 / 59,800, floored to 0.001
        assert s.qty("ss_e2e") == -entry_qty
        resting = {o["orderLinkId"].split("-")[1]: o for o in s.open_orders("ss_e2e")}
        assert set(resting) == {"sl", "tp"}
        entry = D("59799.9")  # one tick below the open: the synthetic bid
        assert D(resting["sl"]["triggerPrice"]) == D("60397.8")  # entry × 1.01, toward entry
        assert D(resting["tp"]["triggerPrice"]) == D("58006.0")  # entry × 0.97, toward entry
        assert resting["sl"]["side"] == resting["tp"]["side"] == "Buy"
        assert resting["sl"]["reduceOnly"] is False  # shared account: never reduceOnly

        s.play()
        assert s.qty("ss_e2e") == -entry_qty
        s.play()  # the take profit fills; its sibling stop is cancelled
        assert s.qty("ss_e2e") == 0
        assert s.open_orders("ss_e2e") == []
        s.play(2)  # no new entry: no fresh cross
        assert s.qty("ss_e2e") == 0

        fills = s.fills("ss_e2e")
        assert [(f.side, f.reason, f.link.split("-")[:2]) for f in fills] == [
            ("Sell", "entry", ["ss1", "en"]),
            ("Buy", "tp", ["ss1", "tp"]),
        ]
        exit_price = D("58006.1")  # triggered at its price; the ask is one tick up
        assert [(f.price, f.qty) for f in fills] == [(entry, entry_qty), (exit_price, entry_qty)]
        fees = [f.fee for f in fills]
        assert fees == [entry * entry_qty * TAKER_FEE, exit_price * entry_qty * TAKER_FEE]
        expected = (entry - exit_price) * entry_qty - sum(fees)
        assert hand_realized(fills) == expected
        assert s.position("ss_e2e")["realized_pnl"] == expected
        assert s.analytics("ss_e2e") == (0, expected)
