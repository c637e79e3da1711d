"""Order-block OB-v1 (docs/strategies.md#order-block): its test vector, a cross-check against
``smartmoneyconcepts``, and the order lifecycle."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.orderblock import OrderBlock
from bots.orderblock.strategy import Block
from core.strategy import (
    AmendStop,
    CancelOrder,
    EnterLimit,
    PlaceStop,
    PlaceTakeProfit,
    TriggerDirection,
)

from .helpers import D, candle, ctx, fill_for

VECTOR = [
    (100.0, 101.0, 99.0, 100.5),
    (100.5, 102.0, 100.0, 101.5),
    (101.5, 105.0, 101.0, 104.0),
    (104.0, 104.5, 101.0, 101.5),
    (101.5, 102.0, 99.5, 100.0),
    (100.0, 103.0, 99.8, 102.8),
    (102.8, 106.5, 102.5, 106.0),
    (106.0, 107.0, 105.0, 106.5),
    (106.5, 106.8, 101.5, 102.0),
    (102.0, 103.0, 100.5, 101.0),
]
BAR_10A = (101.0, 101.5, 99.0, 99.2)
BAR_10B = (101.0, 101.5, 99.4, 100.2)


def run(last: tuple[float, ...], mitigation: str) -> OrderBlock:
    ob = OrderBlock({"pivot_len": 2, "mitigation": mitigation, "symbols": ["X"], "interval": "15"})
    for i, row in enumerate([*VECTOR, last]):
        ob.observe(candle(i, *row, v=10, interval="15"))
    return ob


def summary(b: Block) -> dict[str, object]:
    return {
        "kind": b.kind, "candle": b.candle, "top": b.top, "bottom": b.bottom, "pivot": b.pivot,
        "created": b.created, "touched": b.touched, "invalidated": b.invalidated,
        "active": b.active,
    }  # fmt: skip


BULL = {
    "kind": "bullish",
    "candle": 4,
    "top": D("102.0"),
    "bottom": D("99.5"),
    "pivot": 2,
    "created": 6,
    "touched": 8,
}
BEAR = {
    "kind": "bearish",
    "candle": 7,
    "top": D("107.0"),
    "bottom": D("105.0"),
    "pivot": 4,
    "created": 10,
}


@pytest.mark.parametrize("mitigation", ["wick", "close"])
def test_vector_bar_10a(mitigation: str) -> None:
    blocks = [summary(b) for b in run(BAR_10A, mitigation).history["X"]]
    assert blocks == [
        BULL | {"invalidated": 10, "active": False},
        BEAR | {"touched": None, "invalidated": None, "active": True},
    ]


def test_vector_bar_10b_wick_invalidates() -> None:
    blocks = [summary(b) for b in run(BAR_10B, "wick").history["X"]]
    assert blocks == [
        BULL | {"invalidated": 10, "active": False}
    ]  # low 99.4 < 99.5; no bearish break


def test_vector_bar_10b_close_keeps_it_active() -> None:
    ob = run(BAR_10B, "close")
    assert [summary(b) for b in ob.history["X"]] == [BULL | {"invalidated": None, "active": True}]
    assert [b.candle for b in ob.active_blocks("X")] == [4]


@pytest.mark.parametrize("last", [BAR_10A, BAR_10B])
def test_zones_match_smartmoneyconcepts(last: tuple[float, ...]) -> None:
    pd = pytest.importorskip("pandas")
    smc = pytest.importorskip("smartmoneyconcepts").smc
    df = pd.DataFrame([*VECTOR, last], columns=["open", "high", "low", "close"])
    df["volume"] = 10.0
    theirs = smc.ob(df, smc.swing_highs_lows(df, swing_length=1), close_mitigation=False)
    expected = {
        ("bullish" if row.OB == 1 else "bearish", int(idx), D(row.Top), D(row.Bottom))
        for idx, row in theirs.dropna(subset=["OB"]).iterrows()
    }
    ours = {(b.kind, b.candle, b.top, b.bottom) for b in run(last, "wick").history["X"]}
    assert ours == expected


def test_lookahead_free_pivot_unusable_before_confirmation() -> None:
    # The pivot high at bar 2 is confirmed at bar 4 (N=2); a close above it at bar 3 is no break.
    ob = OrderBlock({"pivot_len": 2, "symbols": ["X"]})
    rows = [
        (100, 101, 99, 100),
        (100, 102, 99.5, 101),
        (101, 105, 100, 104),
        (104, 106, 100.5, 105.5),
    ]
    for i, row in enumerate(rows):
        ob.observe(candle(i, *row, interval="15"))
    assert ob.history["X"] == []


def test_orders_for_a_new_bullish_block_and_cancel_on_invalidation() -> None:
    ob = OrderBlock({"pivot_len": 2, "symbols": ["X"], "interval": "15"})
    c = ctx(equity=10_000)
    out = []
    data = {}
    for i, row in enumerate([*VECTOR, BAR_10A]):
        bar = candle(i, *row, interval="15")
        c.now = bar.end
        out.append(ob.on_candle(bar, c))
        if i == 6:
            trade = ob.book.get("X")
            assert trade is not None
            data = dict(trade.data)
    entry = out[6][0]
    assert isinstance(entry, EnterLimit) and entry.side == "Buy" and entry.price == D("102.0")
    # bottom − max(tick, 0.1 × ATR14): ATR14 is not ready after 7 bars, so one tick.
    assert data["stop"] == D("99.5") - D("0.0001")
    risk = D("102.0") - data["stop"]
    assert data["tp"] == D("102.0") + 2 * risk
    assert entry.qty == (D(10_000) * D("0.01") / risk).quantize(D("0.0001"), rounding="ROUND_FLOOR")
    # Bar 10: the bullish block is invalidated (its order is withdrawn); the bearish block
    # gets a sell limit at its bottom.
    kinds = [type(x).__name__ for x in out[10]]
    assert kinds == ["CancelOrder", "EnterLimit"]
    assert out[10][0].intent_id == entry.intent_id
    sell = out[10][1]
    assert isinstance(sell, EnterLimit) and sell.side == "Sell" and sell.price == D("105.0")


def test_fill_places_tagged_stop_and_take_profit_and_cancels_sibling() -> None:
    ob = OrderBlock({"pivot_len": 2, "symbols": ["X"], "interval": "15"})
    c = ctx()
    entry = None
    for i, row in enumerate(VECTOR[:7]):
        bar = candle(i, *row, interval="15")
        c.now = bar.end
        for intent in ob.on_candle(bar, c):
            entry = intent
    assert isinstance(entry, EnterLimit)
    protect = ob.on_fill(fill_for(entry, "102.0", c.now), c)
    stop, tp = protect
    assert isinstance(stop, PlaceStop) and isinstance(tp, PlaceTakeProfit)
    assert stop.side == tp.side == "Sell" and not stop.reduce_only
    assert (
        stop.trigger_direction == TriggerDirection.FALL
        and tp.trigger_direction == TriggerDirection.RISE
    )
    assert stop.sibling_id == tp.intent_id and tp.sibling_id == stop.intent_id
    assert stop.qty == tp.qty == entry.qty
    # The take profit fills: the stop is cancelled and the trade is gone.
    done = ob.on_fill(fill_for(tp, tp.trigger_price, c.now), c)
    assert done == [CancelOrder(stop.intent_id, "X", tp.reason)]
    assert ob.book.get("X") is None


def test_partial_entry_fill_resizes_protection() -> None:
    ob = OrderBlock({"pivot_len": 2, "symbols": ["X"], "interval": "15"})
    c = ctx()
    entry = None
    for i, row in enumerate(VECTOR[:7]):
        bar = candle(i, *row, interval="15")
        for intent in ob.on_candle(bar, c):
            entry = intent
    assert isinstance(entry, EnterLimit)
    half = entry.qty / 2
    stop, tp = ob.on_fill(fill_for(entry, "102.0", c.now, qty=half), c)
    assert stop.qty == half
    more = ob.on_fill(fill_for(entry, "102.0", c.now, qty=entry.qty - half), c)
    assert more == [
        AmendStop(stop.intent_id, "X", qty=entry.qty, reason=more[0].reason),
        AmendStop(tp.intent_id, "X", qty=entry.qty, reason=more[1].reason),
    ]


def test_expiry_and_max_active_per_side() -> None:
    ob = OrderBlock({"pivot_len": 2, "symbols": ["X"], "max_age_bars": 3, "mitigation": "close"})
    c = ctx()
    outs = []
    for i, row in enumerate(
        [*VECTOR[:9], (102.0, 103.0, 102.5, 102.8), (102.8, 103.0, 102.6, 102.9)]
    ):
        bar = candle(i, *row, interval="15")
        outs.append(ob.on_candle(bar, c))
    block = ob.history["X"][0]
    assert block.expired == 9  # created at 6, 3 bars later
    assert any(isinstance(x, CancelOrder) for x in outs[9])
    assert Decimal(len(ob.active_blocks("X"))) == 0
