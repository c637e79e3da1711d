"""The webhook strategy (docs/strategies.md#webhook) on hand-made signals: sizing by qty
and by risk, the stop after the entry's fills, reversal, pyramiding, exit, moving the
stop, refusals and adoption after a restart. Pure: no host, no exchange."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from bots.webhook import Webhook
from core.orders import TrackedOrder
from core.signals import Signal, parse
from core.strategy import (
    AmendStop,
    CancelOrder,
    EnterMarket,
    ExitMarket,
    PlaceStop,
    PositionView,
    Reason,
    StrategyContext,
    TriggerDirection,
)

from .helpers import T0, D, fill_for

BTC = "BTCUSDT"
#: Intent ids unique across contexts, as the live host's are.
_IDS = itertools.count(1)


def _ctx(qty: object = 0, price: object = 60000, equity: object = 10_000) -> StrategyContext:
    positions = {BTC: PositionView(BTC, D(qty), D(price))} if D(qty) else {}
    return StrategyContext(
        T0, D(equity), positions=positions, prices={BTC: D(price)},
        id_source=lambda: f"i{next(_IDS)}",
    )  # fmt: skip


def _signal(action: str, alert_id: str = "a", **extra: object) -> Signal:
    return parse({"id": alert_id, "time": "2024-01-01T00:00:00Z", "action": action,
                  "symbol": BTC, **extra})  # fmt: skip


def test_entry_by_qty_then_a_stop_for_what_filled() -> None:
    bot = Webhook({"symbols": [BTC]})
    [entry] = bot.on_signal(_signal("enter_long", qty="0.02", stop="59000"), _ctx())
    assert isinstance(entry, EnterMarket) and (entry.side, entry.qty) == ("Buy", D("0.02"))
    # A partial fill: the stop covers what the ledger holds, then grows with the rest.
    [stop] = bot.on_fill(fill_for(entry, 60000, T0, "0.01"), _ctx("0.01"))
    assert isinstance(stop, PlaceStop)
    assert (stop.side, stop.qty, stop.trigger_price, stop.trigger_direction) == (
        "Sell", D("0.01"), D(59000), TriggerDirection.FALL,
    )  # fmt: skip
    [grown] = bot.on_fill(fill_for(entry, 60000, T0, "0.01"), _ctx("0.02"))
    assert grown == AmendStop(stop.intent_id, BTC, D(59000), D("0.02"), Reason.SL)


def test_entry_by_risk_sizes_on_the_distance_to_the_stop() -> None:
    bot = Webhook({"symbols": [BTC]})
    # 1 % of 10,000 = 100 lost over a 1,000 move: 0.1 BTC; the alert's price wins.
    [entry] = bot.on_signal(
        _signal("enter_short", risk_pct="1", stop="61000", price="60000"), _ctx(price=1)
    )
    assert (entry.side, entry.qty) == ("Sell", D("0.1"))
    # Without a price in the alert, the host's last price is used.
    [entry2] = Webhook({"symbols": [BTC]}).on_signal(
        _signal("enter_long", risk_pct="2", stop="59500"), _ctx(price=60000)
    )
    assert entry2.qty == D("0.4")
    capped = Webhook({"symbols": [BTC], "max_qty": "0.05"})
    [small] = capped.on_signal(_signal("enter_long", risk_pct="2", stop="59500"), _ctx())
    assert small.qty == D("0.05")


def test_same_direction_is_ignored_unless_pyramiding_and_opposite_reverses() -> None:
    held = _ctx("0.01")
    assert Webhook({"symbols": [BTC]}).on_signal(_signal("enter_long", qty="1"), held) == []
    [more] = Webhook({"symbols": [BTC], "pyramiding": True}).on_signal(
        _signal("enter_long", qty="1"), held
    )
    assert isinstance(more, EnterMarket)
    exit_, entry = Webhook({"symbols": [BTC]}).on_signal(_signal("enter_short", qty="1"), held)
    assert isinstance(exit_, ExitMarket) and (exit_.side, exit_.qty) == ("Sell", D("0.01"))
    assert isinstance(entry, EnterMarket) and entry.side == "Sell"


def test_exit_closes_the_ledger_position_and_cancels_the_stop() -> None:
    bot = Webhook({"symbols": [BTC]})
    [entry] = bot.on_signal(_signal("enter_short", qty="0.3", stop="61000"), _ctx())
    [stop] = bot.on_fill(fill_for(entry, 60000, T0), _ctx("-0.3"))
    assert stop.trigger_direction is TriggerDirection.RISE and stop.side == "Buy"
    cancel, exit_ = bot.on_signal(_signal("exit"), _ctx("-0.3"))
    assert cancel == CancelOrder(stop.intent_id, BTC, Reason.EXIT)
    assert isinstance(exit_, ExitMarket) and (exit_.side, exit_.qty) == ("Buy", D("0.3"))
    assert bot.on_signal(_signal("exit"), _ctx()) == []  # flat: nothing to do


def test_stop_signal_places_then_moves_the_stop() -> None:
    bot = Webhook({"symbols": [BTC], "exclusive": True})
    assert bot.on_signal(_signal("stop", stop="59000"), _ctx()) == []  # flat
    [placed] = bot.on_signal(_signal("stop", stop="59000"), _ctx("0.5"))
    assert isinstance(placed, PlaceStop) and placed.reduce_only is True
    [moved] = bot.on_signal(_signal("stop", stop="59800"), _ctx("0.5"))
    assert moved == AmendStop(placed.intent_id, BTC, D(59800), D("0.5"), Reason.SL)
    # The stop fires: forgotten, so the next stop signal on a new position places anew.
    assert bot.on_fill(fill_for(placed, 59000, T0), _ctx()) == []
    [again] = bot.on_signal(_signal("stop", stop="59000"), _ctx("0.5"))
    assert isinstance(again, PlaceStop)


def test_a_refused_entry_leaves_no_stop_behind() -> None:
    bot = Webhook({"symbols": [BTC]})
    [entry] = bot.on_signal(_signal("enter_long", qty="1", stop="59000"), _ctx())
    bot.on_rejected(entry, "paused", _ctx())
    # A fill that nonetheless arrives for it (it cannot, but) places no stop.
    assert bot.on_fill(fill_for(entry, 60000, T0), _ctx("1")) == []


def test_adopt_relinks_the_resting_stop_and_cancels_strays() -> None:
    def order(intent_id: str, kind: str) -> TrackedOrder:
        return TrackedOrder(intent_id, f"w-{intent_id}", BTC, kind, "Sell", "1", "sl")

    bot = Webhook({"symbols": [BTC]})
    position = PositionView(BTC, D(1), D(60000))
    assert bot.adopt(position, [order("s1", "stop"), order("t1", "take_profit")], _ctx(1)) == [
        CancelOrder("t1", BTC, Reason.EXIT)
    ]
    [moved] = bot.on_signal(_signal("stop", stop="59900"), _ctx(1))
    assert isinstance(moved, AmendStop) and moved.intent_id == "s1"
    flat = Webhook({"symbols": [BTC]})
    assert flat.adopt(PositionView(BTC), [order("s2", "stop")], _ctx()) == [
        CancelOrder("s2", BTC, Reason.EXIT)
    ]


def test_the_signal_format_keeps_decimals_exact_and_refuses_what_it_cannot_act_on() -> None:
    s = parse({"id": 7, "time": 1704067200000, "action": "enter_long", "symbol": "btcusdt.p",
               "qty": 0.1})  # fmt: skip
    assert (s.alert_id, s.symbol, s.qty, s.time) == ("7", BTC, Decimal("0.1"),
                                                      datetime(2024, 1, 1, tzinfo=UTC))  # fmt: skip
    assert parse({**s.fields(), "id": s.alert_id}) == s
    import pytest

    from core.signals import SignalError

    for bad in (
        {"qty": "1e999999"},
        {"qty": "nan"},
        {"risk_pct": "101", "qty": None},
        {"time": 10**30},  # Unix ms far beyond any datetime
        {"time": True},
    ):
        with pytest.raises(SignalError):
            parse({**s.fields(), "id": "x", **bad})


def test_a_restart_keeps_the_wanted_stop_and_protects_what_filled_meanwhile() -> None:
    bot = Webhook({"symbols": [BTC]})
    [entry] = bot.on_signal(_signal("enter_long", qty="1", stop="59000"), _ctx())
    memo = bot.remember(BTC)
    assert memo == {"stop": "59000"}
    # The process died before the entry's fill reached it: a new one recalls the memo
    # and the ledger shows the position without a stop.
    fresh = Webhook({"symbols": [BTC]})
    fresh.recall(BTC, memo)
    [stop] = fresh.adopt(PositionView(BTC, D(1), D(60000)), [], _ctx(1))
    assert isinstance(stop, PlaceStop) and (stop.qty, stop.trigger_price) == (D(1), D(59000))
    # A stop that rests for less than the position grows to cover it; flat forgets.
    other = Webhook({"symbols": [BTC]})
    resting = TrackedOrder("s1", "w-s1", BTC, "stop", "Sell", "0.4", "sl", "59000")
    [grown] = other.adopt(PositionView(BTC, D(1), D(60000)), [resting], _ctx(1))
    assert grown == AmendStop("s1", BTC, None, D(1), Reason.SL)
    gone = Webhook({"symbols": [BTC]})
    gone.recall(BTC, memo)
    assert gone.adopt(PositionView(BTC), [], _ctx()) == [] and gone.remember(BTC) is None
    # An exit forgets the wanted stop.
    assert bot.on_signal(_signal("exit"), _ctx(1)) and bot.remember(BTC) is None
    assert entry.side == "Buy"


def test_a_stop_finishing_short_of_the_position_has_the_leftover_closed_once() -> None:
    bot = Webhook({"symbols": [BTC]})
    [entry] = bot.on_signal(_signal("enter_long", qty="0.05", stop="59000"), _ctx())
    [stop] = bot.on_fill(fill_for(entry, 60000, T0, "0.05"), _ctx("0.05"))
    assert isinstance(stop, PlaceStop)
    # A piece of the stop: it goes on working on the rest, so it stays the stop.
    assert bot.on_fill(fill_for(stop, 59000, T0, "0.03"), _ctx("0.02")) == []
    assert bot.on_exit_ended("someone-else", BTC, _ctx("0.02")) == []
    [close] = bot.on_exit_ended(stop.intent_id, BTC, _ctx("0.02"))
    assert isinstance(close, ExitMarket)
    assert (close.side, close.qty, close.reason) == ("Sell", D("0.02"), Reason.SL)
    assert bot.on_exit_ended(stop.intent_id, BTC, _ctx("0.02")) == []  # told once
    assert bot.remember(BTC) is None


def test_a_stop_that_closed_everything_leaves_nothing_to_do() -> None:
    bot = Webhook({"symbols": [BTC]})
    [entry] = bot.on_signal(_signal("enter_long", qty="0.05", stop="59000"), _ctx())
    [stop] = bot.on_fill(fill_for(entry, 60000, T0, "0.05"), _ctx("0.05"))
    assert bot.on_fill(fill_for(stop, 59000, T0, "0.05"), _ctx()) == []
    assert bot.on_exit_ended(stop.intent_id, BTC, _ctx()) == []
