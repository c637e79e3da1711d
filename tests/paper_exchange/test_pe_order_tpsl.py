"""An order's own ``takeProfit``/``stopLoss`` (``POST /v5/order/create``), through the
real pybit client. In ``Full`` mode (Bybit's default) the exchange sets them as the
position's TP/SL the moment the order fills, the same conditional orders
``position/trading-stop`` makes (``test_pe_trading_stop.py``): no reaction window in
which a position rests unprotected. Before, the paper exchange accepted them, showed
them on the order, and never acted on them."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from paper_exchange.testing import RunningExchange

BTC = {"category": "linear", "symbol": "BTCUSDT"}


@pytest.fixture
def flat(exchange: RunningExchange, http: HTTP) -> Iterator[HTTP]:
    """A BTCUSDT price of 60000 and no position or order, before and after the test."""
    exchange.control.price("BTCUSDT", "60000")
    yield http
    http.cancel_all_orders(**BTC)
    pos = _position(http)
    if Decimal(pos["size"]):
        side = "Sell" if pos["side"] == "Buy" else "Buy"
        http.place_order(**BTC, side=side, orderType="Market", qty=pos["size"], reduceOnly=True)


def _position(http: HTTP) -> dict[str, Any]:
    return dict(http.get_positions(**BTC)["result"]["list"][0])


def _stops(http: HTTP) -> dict[str, dict[str, Any]]:
    orders = http.get_open_orders(**BTC)["result"]["list"]
    return {o["stopOrderType"]: o for o in orders if o["stopOrderType"] != "UNKNOWN"}


def _code(http: HTTP, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(InvalidRequestError) as info:
        http.place_order(**BTC, **kwargs)
    return int(info.value.status_code), str(info.value.message)


def test_a_market_entrys_stop_loss_protects_the_position_from_its_fill(
    exchange: RunningExchange, flat: HTTP
) -> None:
    flat.place_order(**BTC, side="Buy", orderType="Market", qty="0.010",
                     takeProfit="70000", stopLoss="58000", tpTriggerBy="MarkPrice")  # fmt: skip
    pos = _position(flat)
    assert (pos["size"], pos["takeProfit"], pos["stopLoss"]) == ("0.010", "70000.00", "58000.00")
    stops = _stops(flat)
    assert set(stops) == {"TakeProfit", "StopLoss"}
    sl = stops["StopLoss"]
    assert (sl["side"], sl["qty"], sl["triggerBy"], sl["createType"]) == (
        "Sell", "0.010", "LastPrice", "CreateByStopLoss")  # fmt: skip
    assert stops["TakeProfit"]["triggerBy"] == "MarkPrice"
    exchange.control.price("BTCUSDT", "57900")
    assert _position(flat)["side"] == ""
    history = flat.get_order_history(**BTC, orderId=sl["orderId"])["result"]["list"][0]
    assert (history["orderStatus"], history["stopOrderType"]) == ("Filled", "StopLoss")
    assert _stops(flat) == {}  # the take profit went with the position


def test_a_resting_limit_entrys_stops_wait_for_its_fill(
    exchange: RunningExchange, flat: HTTP
) -> None:
    flat.place_order(**BTC, side="Sell", orderType="Limit", qty="0.020", price="61000",
                     stopLoss="62000", tpslMode="Full")  # fmt: skip
    assert _stops(flat) == {} and _position(flat)["stopLoss"] == "0.00"
    exchange.control.price("BTCUSDT", "61050")  # the buyers lift the offer
    pos = _position(flat)
    assert (pos["side"], pos["size"], pos["stopLoss"]) == ("Sell", "0.020", "62000.00")
    sl = _stops(flat)["StopLoss"]
    assert (sl["side"], sl["qty"], sl["triggerDirection"]) == ("Buy", "0.020", 1)


def test_an_addition_resizes_the_position_stop_and_sets_its_own_price(flat: HTTP) -> None:
    flat.place_order(**BTC, side="Buy", orderType="Market", qty="0.010", stopLoss="58000")
    flat.place_order(**BTC, side="Buy", orderType="Market", qty="0.005", stopLoss="58500")
    pos = _position(flat)
    assert (pos["size"], pos["stopLoss"]) == ("0.015", "58500.00")
    assert _stops(flat)["StopLoss"]["qty"] == "0.015"


def test_refusals_name_what_is_wrong(flat: HTTP) -> None:
    assert _code(flat, side="Buy", orderType="Market", qty="0.010", stopLoss="60100") == (
        10001, "StopLoss:60100 set for Buy position should lower than "
               "base_price:60000.00??LastPrice")  # fmt: skip
    assert _code(flat, side="Sell", orderType="Limit", qty="0.010", price="61000",
                 takeProfit="61500")[0] == 10001  # fmt: skip
    # Each is compared with the price it triggers on: here the mark, above the last.
    mark = flat.get_tickers(**BTC)["result"]["list"][0]["markPrice"]
    assert Decimal(mark) > 61000, mark
    assert _code(flat, side="Buy", orderType="Market", qty="0.010", takeProfit="61000",
                 tpTriggerBy="MarkPrice") == (
        10001, "TakeProfit:61000 set for Buy position should be higher than "
               f"base_price:{mark}??MarkPrice")  # fmt: skip
    assert _code(flat, side="Buy", orderType="Market", qty="0.010", stopLoss="58000",
                 tpslMode="Partial") == (
        10001, "params error: tpslMode Partial is not supported by the paper exchange")  # fmt: skip
    assert _code(flat, side="Buy", orderType="Market", qty="0.010", stopLoss="58000",
                 slOrderType="Limit") == (
        10001, "params error: slOrderType must be Market when tpslMode is Full")  # fmt: skip
    assert _code(flat, side="Buy", orderType="Market", qty="0.010", stopLoss="58000",
                 slTriggerBy="Bid") == (
        10001, "params error: slTriggerBy invalid: Bid")  # fmt: skip
    assert _stops(flat) == {} and _position(flat)["side"] == ""
