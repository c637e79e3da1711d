"""The shared trade book with fills in pieces (issue 23): the stop and take profit cover
exactly what filled, and a stop or take profit that finished short of the trade has the
leftover closed once, for the trade's own quantity. Pure: no host, no exchange."""

from __future__ import annotations

import itertools

from bots.trades import TradeBook
from core.strategy import (
    AmendStop,
    CancelOrder,
    ExitMarket,
    PlaceStop,
    PlaceTakeProfit,
    Reason,
    StrategyContext,
)

from .helpers import T0, D, fill_for

BTC = "BTCUSDT"
_IDS = itertools.count(1)


def _ctx() -> StrategyContext:
    return StrategyContext(T0, D(10_000), id_source=lambda: f"i{next(_IDS)}")


def _protected(book: TradeBook, qty: str = "0.05"):
    ctx = _ctx()
    entry = book.enter_market(ctx, BTC, BTC, "Buy", D("0.1"))
    trade, _leg, out = book.apply_fill(fill_for(entry, 60000, T0, "0.03"), ctx)
    assert trade is not None and out == []
    stop, tp = book.protect(ctx, trade, D(59000), D(62000))
    assert isinstance(stop, PlaceStop) and isinstance(tp, PlaceTakeProfit)
    assert stop.qty == tp.qty == D("0.03")
    _t, _l, grown = book.apply_fill(fill_for(entry, 60000, T0, "0.02"), ctx)
    assert grown == [
        AmendStop(stop.intent_id, BTC, qty=D("0.05"), reason=Reason.ENTRY),
        AmendStop(tp.intent_id, BTC, qty=D("0.05"), reason=Reason.ENTRY),
    ]
    return trade, entry, stop, tp


def test_a_stop_with_a_cancelled_rest_has_the_leftover_closed_once() -> None:
    book = TradeBook()
    trade, entry, stop, tp = _protected(book)
    ctx = _ctx()
    _t, leg, out = book.apply_fill(fill_for(stop, 59000, T0, "0.04"), ctx)
    assert leg == "stop" and trade.qty == D("0.01")
    assert book.exit_ended(ctx, "not-ours") == []
    out = book.exit_ended(ctx, stop.intent_id)
    assert out[:2] == [
        CancelOrder(entry.intent_id, BTC, Reason.SL),  # the market entry's rest, if any
        CancelOrder(tp.intent_id, BTC, Reason.SL),
    ]
    [close] = out[2:]
    assert isinstance(close, ExitMarket) and (close.side, close.qty) == ("Sell", D("0.01"))
    assert book.exit_ended(ctx, stop.intent_id) == []  # once


def test_a_stop_that_closed_the_trade_asks_for_nothing() -> None:
    book = TradeBook()
    trade, _entry, stop, _tp = _protected(book)
    ctx = _ctx()
    book.apply_fill(fill_for(stop, 59000, T0, "0.05"), ctx)
    assert trade.qty == 0
    assert book.exit_ended(ctx, stop.intent_id) == []


def test_a_take_profit_with_a_cancelled_rest_has_the_leftover_closed() -> None:
    """The host cancels the stop at the take profit's first piece (its sibling), so what
    the take profit leaves has no stop either: it is closed at market, reason tp."""
    book = TradeBook()
    trade, _entry, stop, tp = _protected(book)
    ctx = _ctx()
    book.apply_fill(fill_for(tp, 62000, T0, "0.03"), ctx)
    assert trade.qty == D("0.02")
    out = book.exit_ended(ctx, tp.intent_id)
    assert CancelOrder(stop.intent_id, BTC, Reason.TP) in out
    [close] = [i for i in out if isinstance(i, ExitMarket)]
    assert (close.qty, close.reason) == (D("0.02"), Reason.TP)
