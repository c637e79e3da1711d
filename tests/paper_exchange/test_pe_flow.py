"""Resting limit orders fill partially from the market's traded volume (issue 23).

With a flow-limited book (the ``realistic`` profile, or ``flow_limited`` set through
``/paper/liquidity``) a trade at or through a resting limit's price fills it only up to
the quantity that traded, shared among the orders it reached in price-time priority.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pe_helpers import ACCOUNTS, make_http
from pybit.unified_trading import HTTP

from paper_exchange.testing import RunningExchange, running_exchange

BTC = {"category": "linear", "symbol": "BTCUSDT"}


@pytest.fixture
def flow(exchange: RunningExchange, http: HTTP) -> Iterator[HTTP]:
    exchange.control.price("BTCUSDT", "60000")
    exchange.control.post("/paper/liquidity", symbol="BTCUSDT", flow_limited=True)
    yield http
    http.cancel_all_orders(**BTC)
    exchange.control.post("/paper/liquidity", symbol="BTCUSDT", flow_limited=False)
    pos = http.get_positions(**BTC)["result"]["list"][0]
    if Decimal(pos["size"]):
        side = "Sell" if pos["side"] == "Buy" else "Buy"
        http.place_order(**BTC, side=side, orderType="Market", qty=pos["size"], reduceOnly=True)


def _buy(http: HTTP, qty: str, price: str) -> str:
    r = http.place_order(**BTC, side="Buy", orderType="Limit", qty=qty, price=price)
    return str(r["result"]["orderId"])


def _order(http: HTTP, oid: str) -> dict[str, Any]:
    return dict(http.get_open_orders(**BTC, orderId=oid)["result"]["list"][0])


def _fills(http: HTTP, oid: str) -> list[tuple[str, str, bool]]:
    rows = http.get_executions(**BTC, orderId=oid)["result"]["list"]
    return sorted((r["execQty"], r["execPrice"], r["isMaker"]) for r in rows)


def test_a_resting_limit_fills_from_each_trade_up_to_its_volume(
    exchange: RunningExchange, flow: HTTP
) -> None:
    oid = _buy(flow, "1.000", "59900")
    exchange.control.price("BTCUSDT", "59950", qty="5")  # above the bid: not reached
    assert _order(flow, oid)["cumExecQty"] == "0.000"
    exchange.control.price("BTCUSDT", "59900", qty="0.3")  # at the bid
    o = _order(flow, oid)
    assert (o["orderStatus"], o["cumExecQty"]) == ("PartiallyFilled", "0.300")
    exchange.control.price("BTCUSDT", "59880", qty="0.5")  # through it
    assert _order(flow, oid)["cumExecQty"] == "0.800"
    exchange.control.price("BTCUSDT", "59890", qty="2")  # rising, still through: the rest
    o = _order(flow, oid)
    assert (o["orderStatus"], o["cumExecQty"], o["avgPrice"]) == ("Filled", "1.000", "59900")
    assert _fills(flow, oid) == [
        ("0.200", "59900.00", True),
        ("0.300", "59900.00", True),
        ("0.500", "59900.00", True),
    ]


def test_the_flow_goes_to_the_best_price_then_the_oldest_order(
    exchange: RunningExchange, flow: HTTP
) -> None:
    worse = _buy(flow, "0.500", "59900")
    better_old = _buy(flow, "0.500", "59950")
    better_new = _buy(flow, "0.500", "59950")
    exchange.control.price("BTCUSDT", "59900", qty="0.8")
    got = [_order(flow, o)["cumExecQty"] for o in (worse, better_old, better_new)]
    assert got == ["0.000", "0.500", "0.300"]
    exchange.control.price("BTCUSDT", "59900", qty="0.4")
    got = [_order(flow, o)["cumExecQty"] for o in (worse, better_old, better_new)]
    assert got == ["0.200", "0.500", "0.500"]


def test_without_a_flow_limit_a_crossing_fills_per_book_level(
    exchange: RunningExchange, http: HTTP
) -> None:
    """The flat default is unchanged: a crossing fills up to ``qty_per_level``."""
    exchange.control.price("BTCUSDT", "60000")
    oid = _buy(http, "1.000", "59900")
    try:
        exchange.control.price("BTCUSDT", "59800", qty="0.1")
        assert _order(http, oid)["orderStatus"] == "Filled"
    finally:
        http.place_order(**BTC, side="Sell", orderType="Market", qty="1.000", reduceOnly=True)


def test_the_generated_market_fills_a_large_bid_over_several_trades() -> None:
    """The realistic profile: the generator's own trades carry their volume, so a bid
    larger than one trade's volume fills in several maker executions. LTCUSDT trades
    100M USDT a day (``turnover``): about 23k a trade, so 100k USDT takes several."""
    ltc = {"category": "linear", "symbol": "LTCUSDT"}
    with running_exchange(
        accounts=ACCOUNTS, seed=11, history_minutes=60, liquidity="realistic"
    ) as ex:
        http = make_http(ex)
        http.set_leverage(**ltc, buyLeverage="50", sellLeverage="50")
        last = Decimal(http.get_tickers(**ltc)["result"]["list"][0]["lastPrice"])
        qty = (Decimal(100_000) / last).quantize(Decimal("0.1"))
        r = http.place_order(**ltc, side="Buy", orderType="Limit", qty=str(qty), price=str(last))
        oid = r["result"]["orderId"]
        ex.control.advance(6 * 3_600_000)
        rows = http.get_executions(**ltc, orderId=oid, limit=100)["result"]["list"]
        assert len(rows) >= 2 and all(r["isMaker"] for r in rows)
        assert all(r["execPrice"] == f"{last:.2f}" for r in rows)
        order = http.get_order_history(**ltc, orderId=oid)["result"]["list"][0]
        assert Decimal(order["cumExecQty"]) == sum(Decimal(r["execQty"]) for r in rows)
