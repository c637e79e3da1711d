"""Order-block's limit entry filling in pieces from the traded volume (a flow-limited
book, as on the realistic paper book and on Bybit): the stop and take profit cover what
filled and follow each new piece; the unfilled rest is withdrawn when the block expires
or the stop closes the trade, so a stale entry never fills later."""

from __future__ import annotations

from decimal import Decimal

from tests.bots.e2e.harness import EPOCH, MINUTE, SYMBOL, D, bar_start, flat_bars, stack, wait
from tests.bots.e2e.test_e2e_orderblock import VECTOR

QTY = Decimal("0.066")  # 1 % of 10,000 / (61200 − 59699.9), floored
#: 0.03 BTC a bar: 0.01 at each of its two extremes and 0.01 at its close (series.py).
THIN = Decimal("0.03")


def _bars(vector: list[tuple[float, float, float, float]], tail: object) -> list[tuple]:
    bars: list[tuple] = [(*(D(x) * 600 for x in b), THIN) for b in vector]
    return bars + flat_bars(tail, 30, THIN)


def _resting(s, bot: str) -> dict[str, dict]:
    return {o["orderLinkId"].split("-")[1]: o for o in s.open_orders(bot)}


def test_an_entry_filling_in_pieces_is_protected_for_what_filled_and_withdrawn_at_expiry(
    database, redis, tmp_path
):
    # Bars 0-9 of the vector, then flat above the block: the block expires at bar 9.
    with stack(database, tmp_path, _bars(VECTOR[:10], D(62000)), history=6) as s:
        s.ex.control.post("/paper/liquidity", symbol=SYMBOL, flow_limited=True)
        s.register("ob_part", "obp", "orderblock", {"pivot_len": 2, "max_age_bars": 3},
                   redis_db=4)  # fmt: skip
        s.start_bot("ob_part")
        s.play()  # bar 6: the block, a limit buy of 0.066 at 61200
        (entry,) = s.open_orders("ob_part")
        assert D(entry["qty"]) == QTY and D(entry["price"]) == D(61200)
        s.play(2)  # bar 7 above the zone; bar 8 trades through it: 0.02 fills
        assert s.qty("ob_part") == D("0.020")
        resting = _resting(s, "ob_part")
        assert D(resting["en"]["cumExecQty"]) == D("0.020")
        assert D(resting["sl"]["qty"]) == D(resting["tp"]["qty"]) == D("0.020")
        s.play()  # bar 9 trades through it again (0.02 more), then the block expires
        assert s.qty("ob_part") == D("0.040")
        resting = _resting(s, "ob_part")
        assert set(resting) == {"sl", "tp"}, "the expired block's entry still rests"
        assert D(resting["sl"]["qty"]) == D(resting["tp"]["qty"]) == D("0.040")
        assert D(resting["sl"]["triggerPrice"]) == D("59699.9")
        entry = next(o for o in s.orders() if o["orderLinkId"].startswith("obp-en"))
        assert entry["orderStatus"] == "Cancelled" and D(entry["cumExecQty"]) == D("0.040")
        s.play(3)  # flat above the block: the position stays, protected, no new fill
        assert s.qty("ob_part") == D("0.040")
        assert set(_resting(s, "ob_part")) == {"sl", "tp"}
        pieces = [(f.reason, f.qty) for f in s.fills("ob_part")]
        assert pieces == [("entry", D("0.010"))] * 4


def test_a_stop_taking_a_partly_filled_entry_out_withdraws_the_rest(database, redis, tmp_path):
    """Bar 10A trades through the block (the entry grows), crosses the stop, and trades
    on below the block's top: the stop triggers before its quantity is amended to the
    last piece, and the entry's rest is reached by the same trades before its cancel
    lands. Whatever the stop left is closed at market as soon as the stop is finished,
    before the bar closes; the rest of the entry is cancelled, and nothing re-enters at
    the old block afterwards (bar 10's fresh bearish block rests its sell, as after a
    whole stop-out in test_e2e_orderblock)."""
    with stack(database, tmp_path, _bars(VECTOR, D(59000)), history=6) as s:
        s.ex.control.post("/paper/liquidity", symbol=SYMBOL, flow_limited=True)
        s.register("ob_stop", "obs", "orderblock", {"pivot_len": 2}, redis_db=4)
        bot = s.start_bot("ob_stop")
        s.play(4)  # bars 6-9
        # Bar 10A up to its close point: the stop fires, then waits for nothing.
        s.ex.control.advance(MINUTE - 1000)
        s.settle()
        wait(lambda: s.qty("ob_stop") == 0, timeout=10, what="the leftover closed mid-bar")
        s.settle()
        s.ex.control.advance(1000)  # bar 10A closes
        closed = bar_start(s.bar)
        s.bar += 1
        wait(lambda: bot.host.decided.get(SYMBOL, EPOCH) >= closed, what="bar 10A decided")
        s.settle()
        entry = next(o for o in s.orders() if o["orderLinkId"].startswith("obs-en"))
        assert entry["orderStatus"] == "Cancelled"
        filled = D(entry["cumExecQty"])
        assert 0 < filled < QTY
        s.play(5)  # below the block's top: a rest still resting would fill here
        assert s.qty("ob_stop") == 0
        fills = s.fills("ob_stop")
        assert sum(f.qty for f in fills if f.reason == "entry") == filled
        exits = [f for f in fills if f.reason == "sl"]
        assert sum(f.qty for f in exits) == filled
        assert [f.link[:6] for f in exits] == ["obs-sl"] * len(exits)
        stop = next(o for o in s.orders() if o["orderLinkId"].startswith("obs-sl"))
        assert stop["orderStatus"] == "Filled" and D(stop["cumExecQty"]) < filled
        assert {f.link for f in exits} == {stop["orderLinkId"], exits[-1].link}  # + leftover
        assert exits[-1].qty == filled - D(stop["cumExecQty"])
        left = s.open_orders("ob_stop")
        assert [(o["orderLinkId"][:7], o["side"], D(o["price"])) for o in left] == [
            ("obs-en-", "Sell", D("63000"))
        ]
