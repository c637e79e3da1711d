"""Rounding to instrument rules: floor quantities, safe-side prices, skip below minimums."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.instruments import Instrument, ceil_to_step, floor_to_step

D = Decimal

BTC = Instrument(
    "BTCUSDT",
    tick_size=D("0.10"),
    qty_step=D("0.001"),
    min_order_qty=D("0.001"),
    min_notional=D("5"),
)


def test_floor_and_ceil_to_step() -> None:
    assert floor_to_step(D("1.23456"), D("0.001")) == D("1.234")
    assert ceil_to_step(D("1.23401"), D("0.001")) == D("1.235")
    assert floor_to_step(D("1.234"), D("0.001")) == D("1.234")
    assert floor_to_step(D("7"), D("5")) == D("5")


def test_order_qty_floors_never_rounds_up() -> None:
    assert BTC.order_qty(D("0.0129999"), D("50000")) == D("0.012")
    assert BTC.qty_for_notional(D("1000"), D("30000")) == D("0.033")


def test_order_qty_below_min_qty_is_skipped() -> None:
    assert BTC.order_qty(D("0.0009"), D("50000")) is None
    assert BTC.order_qty(D("0"), D("50000")) is None


def test_order_qty_below_min_notional_is_skipped() -> None:
    # 0.001 BTC at 4,000 is 4 USDT < 5 USDT minimum notional.
    assert BTC.order_qty(D("0.001"), D("4000")) is None
    assert BTC.order_qty(D("0.002"), D("4000")) == D("0.002")


def test_max_order_qty_caps() -> None:
    inst = Instrument("X", D("0.1"), D("1"), D("1"), max_order_qty=D("100"))
    assert inst.order_qty(D("250"), D("1")) == D("100")


@pytest.mark.parametrize(
    ("side", "price", "expected"),
    [
        ("Buy", D("100.17"), D("100.1")),
        ("Sell", D("100.11"), D("100.2")),
        ("Buy", D("100.1"), D("100.1")),
    ],
)
def test_entry_limits_round_to_the_safer_side(side: str, price: D, expected: D) -> None:
    assert BTC.limit_price(side, price) == expected  # type: ignore[arg-type]


def test_protective_triggers_round_toward_the_entry() -> None:
    # Long (exit side Sell): stop rounds up (tighter), take profit rounds down (nearer).
    assert BTC.stop_price("Sell", D("98.03")) == D("98.1")
    assert BTC.take_profit_price("Sell", D("106.07")) == D("106.0")
    # Short (exit side Buy): mirrored.
    assert BTC.stop_price("Buy", D("101.07")) == D("101.0")
    assert BTC.take_profit_price("Buy", D("94.03")) == D("94.1")


def test_exit_qty_is_never_skipped() -> None:
    assert BTC.exit_qty(D("-0.0005")) == D("0.000")
    assert BTC.exit_qty(D("0.0123")) == D("0.012")


def test_from_bybit_instruments_info() -> None:
    info = {
        "symbol": "ETHUSDT",
        "priceFilter": {"tickSize": "0.01"},
        "lotSizeFilter": {
            "qtyStep": "0.01",
            "minOrderQty": "0.01",
            "minNotionalValue": "5",
            "maxMktOrderQty": "500",
        },
    }
    inst = Instrument.from_bybit(info)
    assert inst == Instrument("ETHUSDT", D("0.01"), D("0.01"), D("0.01"), D("5"), D("500"))


def test_invalid_rules_rejected() -> None:
    with pytest.raises(ValueError):
        Instrument("X", D("0"), D("1"), D("1"))
