"""Self-match prevention (``smpType``) through the real pybit client: an account's own
resting limits are part of the book its takers walk, and the taker's ``smpType`` decides
what happens when it meets one (paper_exchange/engine/selfmatch.py)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pe_helpers import Collector, make_http, make_ws, raw_request, subscribed, wait_until
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from paper_exchange.testing import RunningExchange

LIN = {"category": "linear", "symbol": "BTCUSDT"}
LAST = "60000"


@pytest.fixture(autouse=True)
def _flat(exchange: RunningExchange, http: HTTP) -> Iterator[None]:
    exchange.control.clear_faults()
    exchange.control.post("/paper/liquidity", symbol="BTCUSDT", qty_per_level="30")
    exchange.control.price("BTCUSDT", LAST)
    yield
    for account in ("main", "other"):
        make_http(exchange, account).cancel_all_orders(category="linear", symbol="BTCUSDT")
    _close(http)


def _close(http: HTTP) -> None:
    """Back to flat, whatever the test left (wash trades leave none; taker fills do)."""
    for pos in http.get_positions(**LIN)["result"]["list"]:
        if Decimal(pos["size"]):
            side = "Sell" if pos["side"] == "Buy" else "Buy"
            http.place_order(**LIN, side=side, orderType="Market", qty=pos["size"],
                             reduceOnly=True)  # fmt: skip


def _rest_buy(http: HTTP, price: str = LAST, qty: str = "0.01") -> str:
    """A buy limit at the last price rests: it is the best bid, above the book's."""
    r = http.place_order(**LIN, side="Buy", orderType="Limit", qty=qty, price=price)
    return str(r["result"]["orderId"])


def _order(http: HTTP, order_id: str) -> dict[str, Any]:
    (o,) = http.get_order_history(**LIN, orderId=order_id)["result"]["list"]
    return o  # type: ignore[no-any-return]


def _execs(http: HTTP, *order_ids: str) -> list[dict[str, Any]]:
    rows = []
    for oid in order_ids:
        rows += http.get_executions(**LIN, orderId=oid)["result"]["list"]
    return rows


def test_cancel_maker_cancels_the_resting_order_and_the_taker_trades_on(http: HTTP) -> None:
    maker = _rest_buy(http)
    r = http.place_order(**LIN, side="Sell", orderType="Market", qty="0.01", smpType="CancelMaker")
    taker = r["result"]["orderId"]

    m, t = _order(http, maker), _order(http, taker)
    assert (m["orderStatus"], m["cancelType"], m["rejectReason"]) == (
        "Cancelled", "CancelBySmp", "EC_BySelfMatch",
    )  # fmt: skip
    assert (m["smpOrderId"], m["smpType"], m["smpGroup"]) == (taker, "None", 0)
    assert (t["orderStatus"], t["smpType"], t["smpOrderId"]) == ("Filled", "CancelMaker", "")
    # The taker went on to the market's book, below its own bid: one execution, a taker's.
    (ex,) = _execs(http, maker, taker)
    assert (ex["orderId"], ex["isMaker"], ex["execPrice"]) == (taker, False, "59999.90")
    assert http.get_open_orders(**LIN)["result"]["list"] == []


def test_cancel_taker_cancels_the_incoming_order_and_the_resting_one_stays(http: HTTP) -> None:
    maker = _rest_buy(http)
    r = http.place_order(**LIN, side="Sell", orderType="Limit", qty="0.01", price=LAST,
                         smpType="CancelTaker")  # fmt: skip
    taker = r["result"]["orderId"]

    t = _order(http, taker)
    assert (t["orderStatus"], t["cancelType"], t["rejectReason"], t["smpOrderId"]) == (
        "Cancelled", "CancelBySmp", "EC_BySelfMatch", maker,
    )  # fmt: skip
    (m,) = http.get_open_orders(**LIN)["result"]["list"]
    assert (m["orderId"], m["orderStatus"], m["smpOrderId"]) == (maker, "New", "")
    assert _execs(http, maker, taker) == []


def test_cancel_both_cancels_both_each_naming_the_other(http: HTTP) -> None:
    maker = _rest_buy(http)
    r = http.place_order(**LIN, side="Sell", orderType="Market", qty="0.01", smpType="CancelBoth")
    taker = r["result"]["orderId"]

    m, t = _order(http, maker), _order(http, taker)
    smp = ("Cancelled", "CancelBySmp")
    assert (m["orderStatus"], m["cancelType"], m["smpOrderId"]) == (*smp, taker)
    assert (t["orderStatus"], t["cancelType"], t["smpOrderId"]) == (*smp, maker)
    assert _execs(http, maker, taker) == []


def test_none_is_a_wash_trade_two_executions_of_one_account(http: HTTP) -> None:
    before = http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
    maker = _rest_buy(http)
    # No smpType: Bybit's default, None. The resting order's price, both sides ours.
    r = http.place_order(**LIN, side="Sell", orderType="Market", qty="0.01", orderLinkId="wash-t")
    taker = r["result"]["orderId"]

    assert _order(http, maker)["orderStatus"] == "Filled"
    t = _order(http, taker)
    assert (t["orderStatus"], t["smpType"], t["avgPrice"]) == ("Filled", "None", "60000")
    rows = {e["orderId"]: e for e in _execs(http, maker, taker)}
    assert set(rows) == {maker, taker}
    assert (rows[taker]["isMaker"], rows[taker]["side"], rows[taker]["orderLinkId"]) == (
        False, "Sell", "wash-t",
    )  # fmt: skip
    assert (rows[maker]["isMaker"], rows[maker]["side"]) == (True, "Buy")
    assert {rows[maker]["execPrice"], rows[taker]["execPrice"]} == {"60000.00"}
    assert rows[maker]["execId"] != rows[taker]["execId"]
    fees = Decimal("600") * (Decimal("0.0002") + Decimal("0.00055"))
    assert sum(Decimal(e["execFee"]) for e in rows.values()) == fees
    # The position never moved; the wallet paid both fees.
    assert all(not Decimal(p["size"]) for p in http.get_positions(**LIN)["result"]["list"])
    after = http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
    assert Decimal(before["totalWalletBalance"]) - Decimal(after["totalWalletBalance"]) == fees


def test_a_partial_wash_trade_leaves_the_rest_of_the_resting_order(http: HTTP) -> None:
    maker = _rest_buy(http, qty="0.03")
    http.place_order(**LIN, side="Sell", orderType="Market", qty="0.01", smpType="None")
    (m,) = http.get_open_orders(**LIN)["result"]["list"]
    assert (m["orderId"], m["orderStatus"], m["leavesQty"]) == (maker, "PartiallyFilled", "0.020")


def test_own_orders_behind_the_market_are_not_reached(http: HTTP) -> None:
    maker = _rest_buy(http, price="59000")
    r = http.place_order(**LIN, side="Sell", orderType="Market", qty="0.01", smpType="CancelMaker")
    (ex,) = _execs(http, maker, r["result"]["orderId"])
    assert ex["execPrice"] == "59999.90"
    (m,) = http.get_open_orders(**LIN)["result"]["list"]
    assert (m["orderId"], m["orderStatus"]) == (maker, "New")


def test_post_only_that_would_meet_its_own_order_is_cancelled(http: HTTP) -> None:
    _rest_buy(http)
    r = http.place_order(**LIN, side="Sell", orderType="Limit", qty="0.01", price=LAST,
                         timeInForce="PostOnly", smpType="CancelMaker")  # fmt: skip
    t = _order(http, r["result"]["orderId"])
    assert (t["orderStatus"], t["rejectReason"]) == ("Cancelled", "EC_PostOnlyWillTakeLiquidity")
    assert len(http.get_open_orders(**LIN)["result"]["list"]) == 1  # the resting one


def test_another_accounts_order_is_not_a_self_match(exchange: RunningExchange, http: HTTP) -> None:
    other = make_http(exchange, "other")
    theirs = _rest_buy(other)
    http.place_order(**LIN, side="Sell", orderType="Market", qty="0.01", smpType="CancelMaker")
    (o,) = other.get_open_orders(**LIN)["result"]["list"]
    assert (o["orderId"], o["orderStatus"], o["cancelType"]) == (theirs, "New", "UNKNOWN")


@pytest.mark.parametrize("value", ["cancelmaker", "CancelAll", "none", "0"])
def test_only_the_documented_smp_types_are_accepted(http: HTTP, value: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        http.place_order(**LIN, side="Buy", orderType="Limit", qty="0.01", price="59000",
                         smpType=value)  # fmt: skip
    assert info.value.status_code == 10001
    assert http.get_open_orders(**LIN)["result"]["list"] == []


def test_smp_type_of_the_wrong_json_type_is_refused(exchange: RunningExchange) -> None:
    body = ('{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit",'
            '"qty":"0.01","price":"59000","smpType":1}')  # fmt: skip
    reply = raw_request(exchange, "POST", "/v5/order/create", body)
    assert reply.json()["retCode"] == 10001


def test_the_order_topic_carries_the_smp_cancel(exchange: RunningExchange, http: HTTP) -> None:
    col = Collector()
    ws = make_ws(exchange, "main")
    ws.order_stream(col)
    try:
        wait_until(subscribed(exchange, "main", "order"))
        maker = _rest_buy(http)
        r = http.place_order(**LIN, side="Sell", orderType="Market", qty="0.01",
                             smpType="CancelMaker")  # fmt: skip
        taker = r["result"]["orderId"]
        col.wait_for(lambda _m: any(
            o["orderId"] == maker and o["orderStatus"] == "Cancelled" for o in col.items("order")
        ))  # fmt: skip
        (cancelled,) = [o for o in col.items("order") if o["orderId"] == maker and
                        o["orderStatus"] == "Cancelled"]  # fmt: skip
        assert (cancelled["cancelType"], cancelled["rejectReason"], cancelled["smpOrderId"]) == (
            "CancelBySmp", "EC_BySelfMatch", taker,
        )  # fmt: skip
        assert cancelled["smpType"] == "None"  # the resting order's own, not the taker's
    finally:
        ws.exit()


def test_no_account_is_in_an_smp_group(http: HTTP) -> None:
    assert http.get_smp_group()["result"] == {"smpGroup": 0}
