"""A market exit never closes more than the bot's own ledger position
(bots/runtime/execution.py ``bound_exit``): on a shared account the surplus would open a
position the other way or eat into another bot's."""

from __future__ import annotations

from decimal import Decimal

from bots.runtime.execution import bound_exit
from core.strategy import ExitMarket, Side

D = Decimal


def _exit(side: Side, qty: str) -> ExitMarket:
    return ExitMarket("i1", "BTCUSDT", side, D(qty))


def test_an_exit_within_the_position_goes_unchanged_and_is_counted():
    open_qty = {"BTCUSDT": D("0.010")}
    intent = _exit("Sell", "0.004")
    assert bound_exit(intent, open_qty) is intent
    assert open_qty["BTCUSDT"] == D("0.006")


def test_an_exit_larger_than_the_position_is_cut_to_it():
    open_qty = {"BTCUSDT": D("-0.003")}  # short: closed by a Buy
    bounded = bound_exit(_exit("Buy", "0.010"), open_qty)
    assert bounded is not None and bounded.qty == D("0.003") and bounded.side == "Buy"
    assert open_qty["BTCUSDT"] == 0


def test_a_second_exit_in_the_same_batch_gets_only_what_is_left():
    open_qty = {"BTCUSDT": D("0.010")}
    assert bound_exit(_exit("Sell", "0.008"), open_qty) is not None
    second = bound_exit(_exit("Sell", "0.008"), open_qty)
    assert second is not None and second.qty == D("0.002")
    assert bound_exit(_exit("Sell", "0.001"), open_qty) is None


def test_an_exit_on_a_flat_or_opposite_position_is_dropped():
    assert bound_exit(_exit("Sell", "0.001"), {}) is None
    assert bound_exit(_exit("Sell", "0.001"), {"BTCUSDT": D("-0.005")}) is None
    assert bound_exit(_exit("Buy", "0.001"), {"BTCUSDT": D("0.005")}) is None
