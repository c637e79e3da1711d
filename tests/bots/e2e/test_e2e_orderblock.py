"""Order-block end to end on the spec's test vector (× 600): a limit entry rests at the
bullish block's top, fills when price comes back, and the block's stop closes it."""

from __future__ import annotations

from decimal import Decimal

from tests.bots.e2e.harness import TAKER_FEE, D, flat_bars, hand_realized, stack

VECTOR = [  # the vector of tests/bots/test_bots_orderblock.py, bars 0-9 and 10A
    (100.0, 101.0, 99.0, 100.5), (100.5, 102.0, 100.0, 101.5), (101.5, 105.0, 101.0, 104.0),
    (104.0, 104.5, 101.0, 101.5), (101.5, 102.0, 99.5, 100.0), (100.0, 103.0, 99.8, 102.8),
    (102.8, 106.5, 102.5, 106.0), (106.0, 107.0, 105.0, 106.5), (106.5, 106.8, 101.5, 102.0),
    (102.0, 103.0, 100.5, 101.0), (101.0, 101.5, 99.0, 99.2),
]  # fmt: skip
MAKER_FEE = Decimal("0.0002")


def test_orderblock_limit_entry_then_stop(database, redis, tmp_path):
    bars = [tuple(D(x) * 600 for x in b) for b in VECTOR]
    bars += flat_bars(bars[-1][3], 40)
    with stack(database, tmp_path, bars, history=6) as s:  # bars 0-5 warm it up
        s.register("ob_e2e", "ob1", "orderblock", {"pivot_len": 2}, redis_db=4)
        s.start_bot("ob_e2e")

        s.play()  # bar 6 breaks pivot 2: bullish block {candle 4, top 61200, bottom 59700}
        (entry_order,) = s.open_orders("ob_e2e")
        assert entry_order["orderLinkId"].startswith("ob1-en-")
        assert (entry_order["side"], entry_order["orderType"]) == ("Buy", "Limit")
        assert D(entry_order["price"]) == D("61200")
        qty = Decimal("0.066")  # 1 % of 10,000 / (61200 − 59699.9), floored
        assert D(entry_order["qty"]) == qty
        s.play()  # bar 7 stays above the zone
        assert s.qty("ob_e2e") == 0
        s.play()  # bar 8 touches the zone: the limit fills; stop and take profit follow
        assert s.qty("ob_e2e") == qty
        resting = {o["orderLinkId"].split("-")[1]: o for o in s.open_orders("ob_e2e")}
        # stop = bottom − tick (ATR14 not ready); take profit = entry + 2 × risk
        assert D(resting["sl"]["triggerPrice"]) == D("59699.9")
        assert D(resting["tp"]["triggerPrice"]) == D("64200.2")
        s.play()  # bar 9
        assert s.qty("ob_e2e") == qty
        s.play()  # bar 10A: its low crosses the stop
        assert s.qty("ob_e2e") == 0
        # The bearish block of bar 10 rests a fresh limit sell at its bottom (63000).
        left = s.open_orders("ob_e2e")
        assert [(o["orderLinkId"][:7], o["side"], D(o["price"])) for o in left] == [
            ("ob1-en-", "Sell", D("63000"))
        ]

        fills = s.fills("ob_e2e")
        assert [(f.side, f.reason, f.link[:7]) for f in fills] == [
            ("Buy", "entry", "ob1-en-"),
            ("Sell", "sl", "ob1-sl-"),
        ]
        entry, exit_price = D("61200"), D("59699.8")
        assert [(f.price, f.qty) for f in fills] == [(entry, qty), (exit_price, qty)]
        fees = [entry * qty * MAKER_FEE, exit_price * qty * TAKER_FEE]  # the limit was a maker
        assert [f.fee for f in fills] == fees
        expected = (exit_price - entry) * qty - sum(fees)
        assert hand_realized(fills) == expected
        assert s.position("ob_e2e")["realized_pnl"] == expected
        assert s.analytics("ob_e2e") == (0, expected)


def test_a_restarted_orderblock_bot_places_its_blocks_stop(database, redis, tmp_path):
    from core.exchange.client import make_http

    bars = [tuple(D(x) * 600 for x in b) for b in VECTOR[:10]]
    bars += flat_bars(bars[-1][3], 40)
    with stack(database, tmp_path, bars, history=6) as s:
        s.register("ob_mem", "obm", "orderblock", {"pivot_len": 2}, redis_db=4)
        bot = s.start_bot("ob_mem")
        s.play(3)  # bar 6: the block; bar 8 fills the entry; stop and take profit rest
        qty = Decimal("0.066")
        assert s.qty("ob_mem") == qty
        memo = s.bot_redis("ob_mem").hgetall("bot:ob_mem:memo:BTCUSDT")
        assert memo.pop("kind") == "bullish"
        assert {k: D(v) for k, v in memo.items()} == {
            "stop": D("59699.9"), "tp": D("64200.2"), "top": D("61200"), "bottom": D("59700")
        }  # fmt: skip
        bot.halt()
        # Down, and its stop and take profit are gone: only the block says where they go.
        http = make_http(s.settings, "main")
        for order in s.open_orders("ob_mem"):
            http.cancel_order(category="linear", symbol="BTCUSDT", orderId=order["orderId"])
        s.play()  # bar 9 while it is down
        s.start_bot("ob_mem")
        resting = {o["orderLinkId"].split("-")[1]: o for o in s.open_orders("ob_mem")}
        assert D(resting["sl"]["triggerPrice"]) == D("59699.9")  # the block's, as before
        assert D(resting["tp"]["triggerPrice"]) == D("64200.2")
        assert D(resting["sl"]["qty"]) == qty
