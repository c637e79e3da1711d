"""Restart recovery (``TradeBook.adopt``) and refused intents (``TradeBook.rejected``),
branch by branch, on the pure strategies (no services)."""

from __future__ import annotations

from decimal import Decimal

from bots.lxalgo import LXAlgo
from bots.momentum import Momentum
from bots.shortseller import ShortSeller
from core.orders import TrackedOrder
from core.strategy import (
    AmendStop,
    CancelOrder,
    EnterMarket,
    ExitMarket,
    PlaceStop,
    PlaceTakeProfit,
    PositionView,
    StrategyContext,
)

from .helpers import T0, D, ctx, fill_for

SS = {"symbols": ["X"], "exits": {"X": {"stop_loss_pct": 1, "take_profit_pct": 3,
      "trailing_distance_pct": 1, "trailing_activation_pct": 2}}}  # fmt: skip


def _order(intent_id, kind, side, qty="1", trigger=None, sibling=None) -> TrackedOrder:
    return TrackedOrder(intent_id, f"l-{intent_id}", "X", kind, side, qty, "sl", trigger, sibling)


def _ctx(last: object | None = None) -> StrategyContext:
    c = ctx()
    c.prices = {"X": D(last)} if last is not None else {}
    return c


def test_flat_position_cancels_every_resting_order():
    s = ShortSeller(SS)
    resting = [_order("a", "stop", "Buy"), _order("b", "entry", "Sell")]
    out = s.adopt(PositionView("X"), resting, _ctx(100))
    assert [(type(i), i.intent_id) for i in out] == [(CancelOrder, "a"), (CancelOrder, "b")]
    assert len(s.book) == 0


def test_resting_stop_and_take_profit_are_relinked_not_replaced():
    s = ShortSeller(SS)
    resting = [_order("st", "stop", "Buy", "2", "101", "tp"), _order("tp", "take_profit", "Buy",
               "2", "97", "st")]  # fmt: skip
    out = s.adopt(PositionView("X", D(-2), D(100)), resting, _ctx(100))
    assert out == []
    trade = s.book.get("X")
    assert (trade.side, trade.qty, trade.entry_price) == ("Sell", 2, 100)
    assert (trade.stop_id, trade.tp_id, trade.stop_price) == ("st", "tp", 101)


def test_missing_stop_is_placed_beside_the_resting_take_profit():
    s = ShortSeller(SS)
    out = s.adopt(
        PositionView("X", D(-2), D(100)), [_order("tp", "take_profit", "Buy", "2", "97")], _ctx(99)
    )
    (stop,) = out
    assert isinstance(stop, PlaceStop)
    assert (stop.side, stop.qty, stop.trigger_price, stop.sibling_id) == ("Buy", 2, 101, "tp")


def test_quantity_mismatch_is_amended_and_extras_cancelled():
    s = ShortSeller(SS)
    resting = [
        _order("st", "stop", "Buy", "1", "101"),
        _order("st2", "stop", "Buy", "1", "102"),
        _order("wrong", "stop", "Sell", "1", "95"),  # opening side: not a protection
        _order("tp", "take_profit", "Buy", "2", "97"),
    ]
    out = s.adopt(PositionView("X", D(-2), D(100)), resting, _ctx(100))
    assert [(type(i).__name__, i.intent_id) for i in out] == [
        ("CancelOrder", "st2"), ("CancelOrder", "wrong"), ("AmendStop", "st"),
    ]  # fmt: skip
    assert isinstance(out[2], AmendStop) and out[2].qty == 2


def test_price_beyond_the_stop_closes_at_market():
    s = ShortSeller(SS)
    out = s.adopt(PositionView("X", D(-2), D(100)), [], _ctx(102))
    (exit_,) = out
    assert isinstance(exit_, ExitMarket) and (exit_.side, exit_.qty, exit_.reason) == (
        "Buy", 2, "sl",
    )  # fmt: skip


def test_price_beyond_the_take_profit_closes_at_market():
    s = LXAlgo({"symbols": ["X"]})
    out = s.adopt(PositionView("X", D(1), D(100)), [], _ctx(131))
    assert [type(i) for i in out] == [ExitMarket]
    assert out[0].reason == "tp"


def test_adopted_position_blocks_new_entries_and_keeps_its_clock():
    s = ShortSeller(SS)
    opened = T0
    s.adopt(PositionView("X", D(-1), D(100), opened), [_order("st", "stop", "Buy", "1", "101")],
            _ctx(100))  # fmt: skip
    assert s.assets["X"].last_entry == opened
    assert s.book.get("X").opened_at == opened
    lx = LXAlgo({"symbols": ["X"]})
    out = lx.adopt(PositionView("X", D(1), D(100)), [], _ctx(100))
    assert [type(i) for i in out] == [PlaceStop, PlaceTakeProfit]
    assert "X/adopted" in lx.book.trades


def test_momentum_trails_from_the_better_of_entry_and_last():
    m = Momentum({"symbols": ["X"]})
    (stop,) = m.adopt(PositionView("X", D(1), D(100)), [], _ctx(120))
    assert isinstance(stop, PlaceStop) and stop.trigger_price == Decimal(108)


def test_refused_entry_frees_the_symbol():
    s = ShortSeller(SS)
    c = ctx()
    entry = s.book.enter_market(c, "X", "X", "Sell", D(1))
    assert isinstance(entry, EnterMarket) and s.book.get("X") is not None
    assert s.on_rejected(entry, "paused", c) == []
    assert s.book.get("X") is None


def test_refused_stop_closes_the_trade_and_refused_exit_may_retry():
    s = ShortSeller(SS)
    c = ctx()
    entry = s.book.enter_market(c, "X", "X", "Sell", D(1))
    placed = s.on_fill(fill_for(entry, 100, T0), c)
    stop = next(i for i in placed if isinstance(i, PlaceStop))
    (exit_,) = [i for i in s.on_rejected(stop, "rejected", c) if isinstance(i, ExitMarket)]
    assert exit_.qty == 1 and s.book.get("X").closing
    s.on_rejected(exit_, "stopped", c)
    assert not s.book.get("X").closing
