"""Two bots on one shared account, one symbol, opposite directions (docs/architecture.md,
shared accounts): LXAlgo goes long on a pump, ShortSeller shorts the drop after it. The
exchange nets them; each keeps its own ledger position, its own tagged stop and take
profit, and neither's exit touches the other's position or orders."""

from __future__ import annotations

from decimal import Decimal

from tests.bots.e2e.harness import SYMBOL, D, flat_bars, hand_realized, stack

LX = {
    "min_bars": 20, "pump_lookback": 3, "pump_pct": "2", "rsi_period": 5,
    "volatility_period": 5, "change_period": 5, "notional_usdt": "600",
    "take_profit_pct": "5", "stop_loss_pct": "5",
}  # fmt: skip
SS = {
    "ema_fast": 3,
    "ema_slow": 5,
    "exits": {
        SYMBOL: {
            "stop_loss_pct": "1.0",
            "take_profit_pct": "1.5",
            "trailing_distance_pct": "1.0",
            "trailing_activation_pct": "2.0",
        }
    },
}


def _net(s):
    for p in s.ex.control.dump("main")["positions"]:
        if p["symbol"] == SYMBOL and D(p["size"]):
            return D(p["size"]) if p["side"] == "Buy" else -D(p["size"])
    return Decimal(0)


def test_two_bots_opposite_directions_on_one_account(database, redis, tmp_path):
    history = flat_bars(60000, 25)
    live = [
        (60000, 61300, 60000, 61300, 100),  # bar 25: pump -> LXAlgo buys
        (61300, 61300, 61300, 61300),  # bar 26
        (61300, 61300, 60500, 60500),  # bar 27: below EMA3/EMA5 -> ShortSeller sells
        (60500, 60500, 59500, 59600),  # bar 28: ShortSeller's take profit (~59592)
        (59600, 59600, 58000, 58100),  # bar 29: LXAlgo's stop (~58235)
        *flat_bars(58100, 30),
    ]
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register("lx_sh", "lxs", "lxalgo", LX, redis_db=11)
        s.register("ss_sh", "sss", "shortseller", SS, redis_db=12)
        s.start_bot("lx_sh")
        s.start_bot("ss_sh")

        s.play()
        long_qty, short_qty = Decimal("0.009"), Decimal("0.115")
        assert (s.qty("lx_sh"), s.qty("ss_sh"), _net(s)) == (long_qty, 0, long_qty)
        s.play(2)
        assert (s.qty("lx_sh"), s.qty("ss_sh")) == (long_qty, -short_qty)
        assert _net(s) == long_qty - short_qty  # the exchange nets; the ledger does not
        lx_orders = {o["orderLinkId"] for o in s.open_orders("lx_sh")}
        ss_orders = {o["orderLinkId"] for o in s.open_orders("ss_sh")}
        assert len(lx_orders) == len(ss_orders) == 2
        assert all(o["reduceOnly"] is False for o in s.open_orders("ss_sh"))

        s.play()  # ShortSeller's take profit buys back its own 0.115, nothing more
        assert (s.qty("lx_sh"), s.qty("ss_sh"), _net(s)) == (long_qty, 0, long_qty)
        assert {o["orderLinkId"] for o in s.open_orders("lx_sh")} == lx_orders
        assert s.open_orders("ss_sh") == []

        s.play()  # LXAlgo's stop sells its own 0.009
        assert (s.qty("lx_sh"), s.qty("ss_sh"), _net(s)) == (0, 0, 0)
        assert s.open_orders("lx_sh") == []

        lx, ss = s.fills("lx_sh"), s.fills("ss_sh")
        assert [(f.side, f.reason, f.link[:4]) for f in lx] == [
            ("Buy", "entry", "lxs-"),
            ("Sell", "sl", "lxs-"),
        ]
        assert [(f.side, f.reason, f.link[:4]) for f in ss] == [
            ("Sell", "entry", "sss-"),
            ("Buy", "tp", "sss-"),
        ]
        assert {f.qty for f in lx} == {long_qty} and {f.qty for f in ss} == {short_qty}
        for bot, fills in (("lx_sh", lx), ("ss_sh", ss)):
            expected = hand_realized(fills)
            assert s.position(bot)["realized_pnl"] == expected
            assert s.analytics(bot) == (0, expected)
