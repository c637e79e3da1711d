"""Bybit's several ways of writing "no value" (issue 23), as the paper exchange now
mixes them, and the project's own parser reading every one of them the same way.

From Bybit's documentation (bybit-exchange/docs): an unfilled order's ``avgPrice`` is
``"0"`` in the REST examples and ``""`` on the ``order`` topic; an unset trigger, take
profit or stop loss is ``"0.00"`` in REST and ``"0"`` on the topic; a flat position's
``liqPrice`` and ``sessionAvgPrice`` are ``""`` in REST and ``"0"`` on the topic."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pe_helpers import Collector, make_ws, subscribed, wait_until
from pybit.unified_trading import HTTP

from core.exchange_parsing import parse_order
from core.ids import AccountName
from paper_exchange.testing import RunningExchange

ETH = {"category": "linear", "symbol": "ETHUSDT"}


@pytest.fixture
def private(exchange: RunningExchange) -> Iterator[Collector]:
    col = Collector()
    ws = make_ws(exchange, "main")
    ws.order_stream(col)
    ws.position_stream(col)
    wait_until(subscribed(exchange, "main", "order", "position"))
    yield col
    ws.exit()


@pytest.fixture
def resting(exchange: RunningExchange, http: HTTP, private: Collector) -> Iterator[str]:
    """A buy limit far below the price: open, nothing filled."""
    exchange.control.price("ETHUSDT", "3000")
    placed = http.place_order(**ETH, side="Buy", orderType="Limit", qty="0.10", price="1600.00")
    yield str(placed["result"]["orderId"])
    http.cancel_all_orders(**ETH)


def _ws_order(private: Collector, order_id: str) -> dict[str, Any]:
    private.wait_for(lambda _m: any(o["orderId"] == order_id for o in private.items("order")))
    return next(o for o in private.items("order") if o["orderId"] == order_id)


def test_an_unfilled_order_in_rest_and_on_the_topic(
    http: HTTP, private: Collector, resting: str
) -> None:
    rest = http.get_open_orders(**ETH, orderId=resting)["result"]["list"][0]
    assert (rest["avgPrice"], rest["triggerPrice"], rest["takeProfit"], rest["stopLoss"]) == (
        "0",
        "0.00",
        "0.00",
        "0.00",
    )
    assert rest["cumExecQty"] == "0.00"  # zero at the quantity step's decimals
    topic = _ws_order(private, resting)
    assert (topic["avgPrice"], topic["triggerPrice"], topic["takeProfit"]) == ("", "0", "0")
    # The listener's and trade sync's parser reads both as "no price".
    for item in (rest, topic):
        order = parse_order(item, AccountName("main"))
        assert order.avg_price is None and order.trigger_price is None
        assert order.cum_exec_qty == 0 and order.price == Decimal("1600.00")


def test_a_flat_position_in_rest_and_on_the_topic(
    exchange: RunningExchange, http: HTTP, private: Collector
) -> None:
    exchange.control.price("ETHUSDT", "3000")
    http.place_order(**ETH, side="Buy", orderType="Market", qty="0.10")
    http.place_order(**ETH, side="Sell", orderType="Market", qty="0.10", reduceOnly=True)
    rest = http.get_positions(**ETH)["result"]["list"][0]
    assert rest["side"] == "" and rest["size"] == "0.00"
    assert (rest["liqPrice"], rest["sessionAvgPrice"], rest["takeProfit"]) == ("", "", "0.00")
    private.wait_for(
        lambda _m: any(
            p["side"] == "" and p["symbol"] == "ETHUSDT" for p in private.items("position")
        )
    )
    topic = [p for p in private.items("position") if p["symbol"] == "ETHUSDT"][-1]
    assert (topic["liqPrice"], topic["sessionAvgPrice"], topic["takeProfit"]) == ("0", "0", "0")
