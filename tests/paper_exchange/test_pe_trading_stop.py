"""``POST /v5/position/trading-stop`` through the real pybit client (issue 23): a
position's take profit, stop loss and trailing stop become conditional orders that
trigger like any other, and their fills reach the private stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pe_helpers import Collector, make_ws, raw_request, subscribed, wait_until
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from paper_exchange.testing import RunningExchange

LIN = {"category": "linear"}
BTC = {**LIN, "symbol": "BTCUSDT"}
FULL = {**BTC, "tpslMode": "Full", "positionIdx": 0}
TOPICS = ("execution", "order", "position")


@pytest.fixture
def flat(exchange: RunningExchange, http: HTTP) -> Iterator[HTTP]:
    """A BTCUSDT price of 60000 and no position or order, before and after the test."""
    exchange.control.price("BTCUSDT", "60000")
    yield http
    http.cancel_all_orders(**BTC)
    size = _position(http)["size"]
    if Decimal(size):
        side = "Sell" if _position(http)["side"] == "Buy" else "Buy"
        http.place_order(**BTC, side=side, orderType="Market", qty=size, reduceOnly=True)


@pytest.fixture
def private(exchange: RunningExchange) -> Iterator[Collector]:
    col = Collector()
    ws = make_ws(exchange, "main")
    for topic in TOPICS:
        getattr(ws, f"{topic}_stream")(col)
    wait_until(subscribed(exchange, "main", *TOPICS))
    yield col
    ws.exit()


def _position(http: HTTP) -> dict[str, Any]:
    return dict(http.get_positions(**BTC)["result"]["list"][0])


def _stops(http: HTTP) -> dict[str, dict[str, Any]]:
    orders = http.get_open_orders(**BTC)["result"]["list"]
    return {o["stopOrderType"]: o for o in orders if o["stopOrderType"] != "UNKNOWN"}


def _open(http: HTTP, side: str = "Buy", qty: str = "0.010") -> None:
    http.place_order(**BTC, side=side, orderType="Market", qty=qty)


def _code(call: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(InvalidRequestError) as info:
        call(**kwargs)
    return int(info.value.status_code), str(info.value.message)


def test_full_tpsl_shows_on_the_position_and_as_conditional_orders(flat: HTTP) -> None:
    _open(flat)
    flat.set_trading_stop(**FULL, takeProfit="62000", stopLoss="58000", slTriggerBy="MarkPrice")
    pos = _position(flat)
    assert (pos["takeProfit"], pos["stopLoss"], pos["trailingStop"]) == (
        "62000.00",
        "58000.00",
        "0.00",  # unset, in REST's form for it (Bybit's position-list example)
    )
    stops = _stops(flat)
    assert set(stops) == {"TakeProfit", "StopLoss"}
    tp, sl = stops["TakeProfit"], stops["StopLoss"]
    assert tp["orderStatus"] == sl["orderStatus"] == "Untriggered"
    assert tp["side"] == sl["side"] == "Sell" and tp["orderType"] == "Market"
    assert tp["reduceOnly"] is True and tp["closeOnTrigger"] is True
    assert tp["qty"] == sl["qty"] == "0.010"
    assert (tp["triggerPrice"], tp["triggerDirection"], tp["triggerBy"]) == (
        "62000.00",
        1,
        "LastPrice",
    )
    assert (sl["triggerPrice"], sl["triggerDirection"], sl["triggerBy"]) == (
        "58000.00",
        2,
        "MarkPrice",
    )
    assert tp["createType"] == "CreateByTakeProfit" and sl["createType"] == "CreateByStopLoss"

    # Adding to the position resizes both (Full mode covers the whole position).
    _open(flat, qty="0.005")
    assert {o["qty"] for o in _stops(flat).values()} == {"0.015"}
    # Moving one keeps the same order; "0" cancels it.
    flat.set_trading_stop(**FULL, takeProfit="63000")
    assert _stops(flat)["TakeProfit"]["orderId"] == tp["orderId"]
    assert _position(flat)["takeProfit"] == "63000.00"
    flat.set_trading_stop(**FULL, stopLoss="0")
    assert set(_stops(flat)) == {"TakeProfit"} and _position(flat)["stopLoss"] == "0.00"
    # A trigger type alone is a change too; then the same request again is not.
    flat.set_trading_stop(**FULL, tpTriggerBy="IndexPrice")
    assert _stops(flat)["TakeProfit"]["triggerBy"] == "IndexPrice"
    assert _code(flat.set_trading_stop, **FULL, tpTriggerBy="IndexPrice")[0] == 34040


def test_stop_loss_triggers_and_its_fill_reaches_the_private_stream(
    exchange: RunningExchange, flat: HTTP, private: Collector
) -> None:
    _open(flat)
    flat.set_trading_stop(**FULL, takeProfit="62000", stopLoss="58000")
    sl_id = _stops(flat)["StopLoss"]["orderId"]
    tp_id = _stops(flat)["TakeProfit"]["orderId"]
    exchange.control.price("BTCUSDT", "57900")

    execs = private.wait_for(
        lambda _m: any(e["orderId"] == sl_id for e in private.items("execution"))
    )
    assert execs
    row = next(e for e in private.items("execution") if e["orderId"] == sl_id)
    assert row["stopOrderType"] == "StopLoss" and row["createType"] == "CreateByStopLoss"
    assert row["side"] == "Sell" and row["execQty"] == "0.010" and row["closedSize"] == "0.010"
    private.wait_for(
        lambda _m: any(
            o["orderId"] == tp_id and o["orderStatus"] == "Deactivated"
            for o in private.items("order")
        )
    )
    sl_states = [o["orderStatus"] for o in private.items("order") if o["orderId"] == sl_id]
    assert sl_states[-2:] == ["Triggered", "Filled"]
    tp_final = [o for o in private.items("order") if o["orderId"] == tp_id][-1]
    assert tp_final["cancelType"] == "CancelByTpSlTsClear"
    private.wait_for(lambda _m: private.items("position")[-1]["side"] == "")
    assert private.items("position")[-1]["stopLoss"] == "0"
    assert _stops(flat) == {} and _position(flat)["side"] == ""
    # The fill is in the REST execution list too, as the exchange holds it.
    listed = flat.get_executions(**BTC, orderId=sl_id)["result"]["list"]
    assert [(e["execId"], e["execQty"]) for e in listed] == [(row["execId"], "0.010")]


def test_take_profit_of_a_short_triggers_on_the_way_down(
    exchange: RunningExchange, flat: HTTP
) -> None:
    _open(flat, side="Sell")
    flat.set_trading_stop(**FULL, takeProfit="59000")
    tp = _stops(flat)["TakeProfit"]
    assert tp["side"] == "Buy" and tp["triggerDirection"] == 2
    exchange.control.price("BTCUSDT", "59500")
    assert _position(flat)["size"] == "0.010"
    exchange.control.price("BTCUSDT", "58990")
    assert _position(flat)["side"] == ""
    order = flat.get_order_history(**BTC, orderId=tp["orderId"])["result"]["list"][0]
    assert order["orderStatus"] == "Filled" and order["stopOrderType"] == "TakeProfit"


def test_trailing_stop_follows_the_high_and_triggers_on_the_pullback(
    exchange: RunningExchange, flat: HTTP
) -> None:
    _open(flat)
    flat.set_trading_stop(**FULL, trailingStop="500")
    assert _position(flat)["trailingStop"] == "500.00"
    assert _stops(flat)["TrailingStop"]["triggerPrice"] == "59500.00"
    exchange.control.price("BTCUSDT", "61000")
    assert _stops(flat)["TrailingStop"]["triggerPrice"] == "60500.00"
    exchange.control.price("BTCUSDT", "60700")  # a pullback above the stop: the stop stays
    assert _stops(flat)["TrailingStop"]["triggerPrice"] == "60500.00"
    exchange.control.price("BTCUSDT", "60450")
    assert _position(flat)["side"] == "" and _stops(flat) == {}


def test_trailing_stop_waits_for_its_activation_price(
    exchange: RunningExchange, flat: HTTP
) -> None:
    _open(flat)
    flat.set_trading_stop(**FULL, trailingStop="500", activePrice="61000")
    exchange.control.price("BTCUSDT", "59000")  # below where it would trail: not active yet
    assert _position(flat)["size"] == "0.010"
    exchange.control.price("BTCUSDT", "61200")
    assert _stops(flat)["TrailingStop"]["triggerPrice"] == "60700.00"
    exchange.control.price("BTCUSDT", "60600")
    assert _position(flat)["side"] == ""


def test_a_closed_position_takes_its_stops_with_it(flat: HTTP) -> None:
    _open(flat)
    flat.set_trading_stop(**FULL, stopLoss="58000", trailingStop="800")
    ids = {o["orderId"] for o in _stops(flat).values()}
    flat.place_order(**BTC, side="Sell", orderType="Market", qty="0.010", reduceOnly=True)
    assert _stops(flat) == {}
    history = flat.get_order_history(**BTC, limit=20)["result"]["list"]
    ended = {o["orderId"]: o for o in history if o["orderId"] in ids}
    assert {o["orderStatus"] for o in ended.values()} == {"Deactivated"}
    assert {o["cancelType"] for o in ended.values()} == {"CancelByTpSlTsClear"}


REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    ("Partial mode", {"tpslMode": "Partial", "takeProfit": "62000"}, 10001, "Partial"),
    ("unknown mode", {"tpslMode": "Half", "takeProfit": "62000"}, 10001, "tpslMode invalid"),
    ("no mode", {"tpslMode": None, "takeProfit": "62000"}, 10001, "tpslMode is required"),
    ("hedge idx", {"positionIdx": 1, "takeProfit": "62000"}, 10001, "position idx"),
    ("TP below a long", {"takeProfit": "59000"}, 10001, "should be higher than base_price"),
    ("SL above a long", {"stopLoss": "61000"}, 10001, "should lower than base_price"),
    ("negative", {"stopLoss": "-1"}, 10001, "cannot be less than 0"),
    ("off tick", {"takeProfit": "62000.05"}, 10001, "tickSize"),
    ("trigger type", {"takeProfit": "62000", "tpTriggerBy": "Bid"}, 10001, "tpTriggerBy"),
    ("limit in Full", {"takeProfit": "62000", "tpOrderType": "Limit"}, 10001, "Market"),
    ("active below", {"trailingStop": "500", "activePrice": "59000"}, 10001, "ActivePrice"),
    ("nothing", {}, 34040, "not modified"),
]


@pytest.mark.parametrize(
    ("body", "code", "text"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_refusals_carry_bybits_codes(
    flat: HTTP, body: dict[str, Any], code: int, text: str
) -> None:
    _open(flat)
    args = {k: v for k, v in {**FULL, **body}.items() if v is not None}
    got_code, msg = _code(flat.set_trading_stop, **args)
    assert got_code == code and text in msg
    assert _stops(flat) == {}  # a refused request changes nothing


def test_zero_position_and_same_values_are_refused(flat: HTTP) -> None:
    assert _code(flat.set_trading_stop, **FULL, stopLoss="58000") == (
        10001,
        "params error: can not set tp/sl/ts for zero position",
    )
    _open(flat)
    flat.set_trading_stop(**FULL, stopLoss="58000")
    code, _msg = _code(flat.set_trading_stop, **FULL, stopLoss="58000")
    assert code == 34040  # what core/exchange treats as success (docs/bybit.md)


def test_wrong_json_types_are_refused_before_the_engine(
    exchange: RunningExchange, flat: HTTP
) -> None:
    _open(flat)
    for body in ({**FULL, "takeProfit": 62000}, {**FULL, "positionIdx": "0", "stopLoss": "58000"}):
        reply = raw_request(exchange, "POST", "/v5/position/trading-stop", json.dumps(body)).json()
        assert (reply["retCode"], reply["retMsg"]) == (10001, "Request parameter error.")
    assert _stops(flat) == {}
