"""Malformed requests get Bybit's retCode and text; other categories and the start-up
account endpoints answer like Bybit (issue 23).

The table sends each request hand-signed (pybit would stringify some fields itself) to a
strict exchange and to a ``lenient`` one: a wrong JSON type is refused only by the
strict one, every other fault (enum, qty step, minimum, maximum, tick) by both.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from pe_helpers import ACCOUNTS, make_http, raw_request
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from core.exchange.client import AlphaHTTP
from paper_exchange.testing import RunningExchange, running_exchange, spawn_exchange

TYPE_MSG = "Request parameter error."
LIN = {"category": "linear"}
LIMIT = {
    **LIN,
    "symbol": "BTCUSDT",
    "side": "Buy",
    "orderType": "Limit",
    "qty": "0.01",
    "price": "50000",
}
STOP = {
    **LIN,
    "symbol": "BTCUSDT",
    "side": "Sell",
    "orderType": "Market",
    "qty": "0.01",
    "triggerPrice": "59000",
    "triggerDirection": 2,
}
CREATE = "/v5/order/create"
LINK, LINK_INT = "<link>", "<link as a number>"  # the order a case amends or cancels
_links = itertools.count(int("7" * 12))


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    path: str
    body: dict[str, Any]
    strict: int  # retCode from a strict exchange
    lenient: int  # retCode with type checks off (0: only the type was wrong)
    msg: str | None = None  # part of retMsg (both modes) when the types are right
    wrong_type: bool = False  # then the strict retMsg is Bybit's TYPE_MSG

    @property
    def needs_order(self) -> bool:
        return any(v in (LINK, LINK_INT) for v in self.body.values())


def create(name: str, strict: int, lenient: int, msg: str | None = None, **body: Any) -> Case:
    """An order: a conditional one (``STOP``) when the case gives a ``triggerPrice``."""
    base = STOP if "triggerPrice" in body else LIMIT
    return Case(name, CREATE, {**base, **body}, strict, lenient, msg)


def create_typed(name: str, lenient: int = 0, **body: Any) -> Case:
    """An order with one field of the wrong JSON type (``lenient``: retCode without the check)."""
    return dataclasses.replace(create(name, 10001, lenient, **body), wrong_type=True)


def wrong_type(name: str, path: str, lenient: int = 0, **body: Any) -> Case:
    return Case(name, path, body, 10001, lenient, wrong_type=True)


def refused(name: str, code: int, msg: str, **body: Any) -> Case:
    """An order whose types are right but a value is not: the same answer in both modes."""
    return create(name, code, code, msg, **body)


def refused_at(name: str, path: str, code: int, msg: str, **body: Any) -> Case:
    return Case(name, path, body, code, code, msg)


AMEND, CANCEL, CANCEL_ALL = "/v5/order/amend", "/v5/order/cancel", "/v5/order/cancel-all"
LEVERAGE = "/v5/position/set-leverage"

# fmt: off
CASES = [
    # --- a wrong JSON type for each typed field: only the strict exchange refuses -----
    create_typed("qty number", qty=0.01),
    create_typed("price number", price=50000),
    create_typed("triggerPrice number", triggerPrice=59000),
    create_typed("takeProfit number", takeProfit=70000),
    create_typed("stopLoss number", stopLoss=40000),
    create_typed("reduceOnly string", reduceOnly="false"),
    create_typed("reduceOnly integer", reduceOnly=0),
    create_typed("closeOnTrigger string", closeOnTrigger="false"),
    create_typed("positionIdx string", positionIdx="0"),
    create_typed("triggerDirection string", triggerDirection="2", triggerPrice="59000"),
    # wrong type and wrong value: the lenient exchange still refuses the value
    create_typed("side number", 10001, side=1),
    create_typed("category array", 10001, category=["linear"]),
    create_typed("orderLinkId number", 10001, orderLinkId=12345),
    wrong_type("amend qty number", AMEND, **LIN, symbol="BTCUSDT", orderLinkId=LINK, qty=0.02),
    wrong_type("amend price number", AMEND, **LIN, symbol="BTCUSDT", orderLinkId=LINK,
               price=50100),
    wrong_type("amend orderLinkId number", AMEND, **LIN, symbol="BTCUSDT",
               orderLinkId=LINK_INT, qty="0.02"),
    wrong_type("cancel orderLinkId number", CANCEL, **LIN, symbol="BTCUSDT",
               orderLinkId=LINK_INT),
    wrong_type("cancel orderId number", CANCEL, 110001, **LIN, symbol="BTCUSDT", orderId=1),
    wrong_type("cancel-all stopOrderType number", CANCEL_ALL, **LIN, symbol="BTCUSDT",
               stopOrderType=1),
    wrong_type("cancel-all symbol number", CANCEL_ALL, 10001, **LIN, symbol=1),
    wrong_type("leverage buy number", LEVERAGE, **LIN, symbol="BTCUSDT", buyLeverage=7,
               sellLeverage="7"),
    wrong_type("leverage sell number", LEVERAGE, **LIN, symbol="BTCUSDT", buyLeverage="8",
               sellLeverage=8),
    # --- bad enum values: refused in both modes ---------------------------------------
    refused("side", 10001, "params error: side invalid", side="Long"),
    refused("orderType", 10001, "orderType invalid", orderType="Stop"),
    refused("timeInForce", 10001, "timeInForce invalid", timeInForce="GoodTillCancel"),
    refused("triggerBy", 10001, "triggerBy invalid", triggerPrice="59000", triggerBy="Mark"),
    refused("triggerDirection", 10001, "triggerDirection invalid", triggerDirection=3,
            triggerPrice="59000"),
    refused("positionIdx hedge", 10001, "position idx not match", positionIdx=1),
    refused("unknown category", 10001, "Illegal category", category="futures"),
    refused("spot category", 10001, "only support linear", category="spot"),
    refused_at("cancel-all orderFilter", CANCEL_ALL, 10001, "orderFilter invalid", **LIN,
               symbol="BTCUSDT", orderFilter="Bad"),
    # --- the instrument's rules: refused in both modes ---------------------------------
    refused("qty off qtyStep", 10001, "Qty invalid", qty="0.0015"),
    refused("qty truncated to zero", 110017, "truncated to zero", qty="0.0001"),
    refused("qty below minOrderQty", 10001, "exceeds minimum limit allowed", qty="0.5",
            symbol="LINKUSDT", price="14.000"),
    refused("qty above maxOrderQty", 10001,
            "too large, order_qty:119100000000 > max_qty:119000000000", qty="1191"),
    refused("market qty above maxMktOrderQty", 10001,
            "order_qty:12000000000 > max_qty:11900000000", orderType="Market", qty="120"),
    refused("price off tickSize", 10001, "tickSize", price="50000.05"),
    refused("price out of range", 110003, "out of permissible range", price="2000000.0"),
    refused("takeProfit off tickSize", 10001, "tickSize", takeProfit="70000.05"),
    refused("notional below minimum", 110094, "notional", qty="0.001", price="1000"),
    refused("trigger below, expected rising", 110092, "expect Rising", side="Buy",
            triggerPrice="59000", triggerDirection=1),
    refused("trigger above, expected falling", 110093, "expect Falling", triggerPrice="61000"),
    refused_at("amend qty off qtyStep", AMEND, 10001, "Qty invalid", **LIN,
               symbol="BTCUSDT", orderLinkId=LINK, qty="0.0155"),
    refused_at("amend price off tickSize", AMEND, 10001, "tickSize", **LIN, symbol="BTCUSDT",
               orderLinkId=LINK, price="50000.05"),
    refused_at("leverage above max", LEVERAGE, 10001, "leverage invalid", **LIN,
               symbol="BTCUSDT", buyLeverage="500", sellLeverage="500"),
    refused_at("leverage off step", LEVERAGE, 10001, "leverage invalid", **LIN,
               symbol="BTCUSDT", buyLeverage="5.005", sellLeverage="5.005"),
]
# fmt: on


def _start(lenient: bool) -> Iterator[RunningExchange]:
    with running_exchange(accounts=ACCOUNTS, seed=7, history_minutes=60, lenient=lenient) as ex:
        # An instrument whose minOrderQty is above its qtyStep, as some of Bybit's are.
        def raise_min() -> None:
            inst = ex.exchange.engine.instruments["LINKUSDT"]
            ex.exchange.engine.instruments["LINKUSDT"] = dataclasses.replace(
                inst, min_qty=Decimal(1)
            )

        ex.call(raise_min)
        yield ex


@pytest.fixture(scope="module")
def strict_ex() -> Iterator[RunningExchange]:
    yield from _start(lenient=False)


@pytest.fixture(scope="module")
def lenient_ex() -> Iterator[RunningExchange]:
    yield from _start(lenient=True)


def _send(ex: RunningExchange, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = raw_request(ex, "POST", path, json.dumps(body))
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def _prepare(ex: RunningExchange, case: Case) -> dict[str, Any]:
    """Known prices, no open orders, leverage 3; the order the case refers to, if any."""
    ex.control.price("BTCUSDT", "60000")
    _send(ex, CANCEL_ALL, {**LIN, "symbol": "BTCUSDT"})
    _send(ex, CANCEL_ALL, {**LIN, "symbol": "LINKUSDT"})
    _send(ex, LEVERAGE, {**LIN, "symbol": "BTCUSDT", "buyLeverage": "3", "sellLeverage": "3"})
    body = dict(case.body)
    if case.needs_order:
        link = str(next(_links))
        placed = _send(ex, CREATE, {**LIMIT, "orderLinkId": link})
        assert placed["retCode"] == 0, placed
        for key, value in body.items():
            if value == LINK:
                body[key] = link
            elif value == LINK_INT:
                body[key] = int(link)
    return body


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_strict_exchange_refuses_like_bybit(strict_ex: RunningExchange, case: Case) -> None:
    reply = _send(strict_ex, case.path, _prepare(strict_ex, case))
    assert reply["retCode"] == case.strict, reply
    if case.wrong_type:
        assert reply["retMsg"] == TYPE_MSG  # names no field, as on Bybit
    elif case.msg:
        assert case.msg in reply["retMsg"], reply


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_lenient_exchange_checks_all_but_types(lenient_ex: RunningExchange, case: Case) -> None:
    reply = _send(lenient_ex, case.path, _prepare(lenient_ex, case))
    assert reply["retCode"] == case.lenient, reply
    if case.msg:
        assert case.msg in reply["retMsg"], reply


def test_table_covers_every_typed_field() -> None:
    named = " ".join(c.name for c in CASES if c.wrong_type)
    for field in (
        "qty",
        "price",
        "triggerPrice",
        "takeProfit",
        "stopLoss",
        "leverage buy",
        "leverage sell",
        "reduceOnly",
        "closeOnTrigger",
        "positionIdx",
        "triggerDirection",
    ):
        assert field in named, field


def test_pybit_and_the_project_client_against_strict_types(strict_ex: RunningExchange) -> None:
    """pybit stringifies qty and price itself but not the leverage or the booleans: a
    caller's wrong type reaches Bybit, and here; the project's client sends them right."""
    http = make_http(strict_ex)
    with pytest.raises(InvalidRequestError) as info:
        http.set_leverage(**LIN, symbol="ETHUSDT", buyLeverage=4, sellLeverage=4)
    assert info.value.status_code == 10001 and TYPE_MSG in info.value.message
    with pytest.raises(InvalidRequestError) as info:
        http.place_order(**LIMIT, reduceOnly="true")
    assert info.value.status_code == 10001
    assert http.place_order(**{**LIMIT, "qty": 0.01, "price": 50000})["retCode"] == 0
    key, secret = strict_ex.accounts["main"]
    alpha = AlphaHTTP(base_url=strict_ex.rest_url, api_key=key, api_secret=secret)
    assert (
        alpha.set_leverage(**LIN, symbol="ETHUSDT", buyLeverage=4, sellLeverage=4)["retCode"] == 0
    )
    http.cancel_all_orders(**LIN, symbol="BTCUSDT")


def test_lenient_flag_on_the_command_line() -> None:
    ex = spawn_exchange(["--lenient", "--speed", "manual", "--history-minutes", "10"])
    try:
        assert ex.control.state()["lenient"] is True
        signed = SimpleNamespace(
            rest_url=ex.rest_url, accounts={"main": ("paper-key", "paper-secret")}
        )
        body = {**LIMIT, "qty": 0.01, "reduceOnly": "false"}
        reply = raw_request(signed, "POST", CREATE, json.dumps(body))  # type: ignore[arg-type]
        assert reply.json()["retCode"] == 0, reply.text
    finally:
        ex.stop()


# --- other categories ------------------------------------------------------------------


@pytest.mark.parametrize("category", ["inverse", "spot", "option"])
def test_other_categories_answer_empty_lists(strict_ex: RunningExchange, category: str) -> None:
    http = make_http(strict_ex)
    http.place_order(**LIMIT)  # the linear account is not empty
    queries = [http.get_open_orders, http.get_order_history, http.get_executions]
    if category != "spot":  # position/list documents linear, inverse and option only
        queries.append(http.get_positions)
    for query in queries:
        reply = query(category=category)
        assert reply["retCode"] == 0, query
        assert reply["result"] == {"category": category, "list": [], "nextPageCursor": ""}
    assert http.get_open_orders(**LIN, symbol="BTCUSDT")["result"]["list"]
    http.cancel_all_orders(**LIN, symbol="BTCUSDT")


def test_categories_bybit_does_not_know_are_refused(strict_ex: RunningExchange) -> None:
    http = make_http(strict_ex)
    calls: list[tuple[Any, str]] = [
        (http.get_positions, "spot"),
        *(
            (q, "futures")
            for q in (
                http.get_open_orders,
                http.get_order_history,
                http.get_executions,
                http.get_positions,
            )
        ),
    ]
    for query, category in calls:
        with pytest.raises(InvalidRequestError) as info:
            query(category=category)
        assert info.value.status_code == 10001 and "Illegal category" in info.value.message


# --- the account endpoints ccxt reads on start ---------------------------------------------


def _types(item: dict[str, Any], expected: dict[str, type]) -> None:
    for name, kind in expected.items():
        assert isinstance(item[name], kind) and not (kind is int and item[name] is True), name


def test_coin_info(strict_ex: RunningExchange) -> None:
    http: HTTP = make_http(strict_ex)
    rows = http.get_coin_info()["result"]["rows"]
    assert [r["coin"] for r in rows] == ["USDT"]  # the coins of the wallet
    assert rows[0] == {"name": "USDT", "coin": "USDT", "remainAmount": "0", "chains": []}
    assert http.get_coin_info(coin="USDT")["result"]["rows"] == rows
    assert http.get_coin_info(coin="BTC")["result"]["rows"] == []


def test_api_key_information(strict_ex: RunningExchange) -> None:
    main = make_http(strict_ex).get_api_key_information()["result"]
    other = make_http(strict_ex, "other").get_api_key_information()["result"]
    assert main["apiKey"] == strict_ex.accounts["main"][0] and main["secret"] == ""
    assert other["apiKey"] == strict_ex.accounts["other"][0]
    assert main["userID"] != other["userID"] and main["id"] != other["id"]
    assert main["readOnly"] == 0  # read-write
    assert main["permissions"]["ContractTrade"] == ["Order", "Position"]
    assert main["permissions"]["Derivatives"] == ["DerivativesTrade"]
    assert main["uta"] == 1 and main["isMaster"] is True and main["parentUid"] == "0"
    _types(
        main,
        {
            "id": str,
            "note": str,
            "readOnly": int,
            "ips": list,
            "type": int,
            "deadlineDay": int,
            "expiredAt": str,
            "createdAt": str,
            "uta": int,
            "userID": int,
            "inviterID": int,
            "vipLevel": str,
            "mktMakerLevel": str,
            "affiliateID": int,
            "rsaPublicKey": str,
            "isMaster": bool,
            "kycLevel": str,
            "kycRegion": str,
        },
    )
    assert all(isinstance(v, list) for v in main["permissions"].values())


def test_account_info(strict_ex: RunningExchange) -> None:
    info = make_http(strict_ex).get_account_info()["result"]
    assert info["unifiedMarginStatus"] == 5  # unified trading account 2.0
    assert info["marginMode"] == "REGULAR_MARGIN"  # cross margin, as the engine settles
    assert info["spotHedgingStatus"] == "OFF" and info["dcpStatus"] == "OFF"
    _types(
        info,
        {
            "unifiedMarginStatus": int,
            "marginMode": str,
            "isMasterTrader": bool,
            "spotHedgingStatus": str,
            "updatedTime": str,
            "dcpStatus": str,
            "timeWindow": int,
            "smpGroup": int,
        },
    )
    assert info["updatedTime"].isdigit()
