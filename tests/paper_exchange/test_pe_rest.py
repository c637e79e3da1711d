"""REST through the real pybit HTTP client: orders, fills, queries, every error code."""

from __future__ import annotations

import json
import random
import time
from decimal import Decimal

import pytest
from pe_helpers import make_http, raw_request
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

from paper_exchange.testing import RunningExchange

LIN = {"category": "linear"}


def code_of(call: object, *args: object, **kwargs: object) -> int:
    with pytest.raises(InvalidRequestError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return int(info.value.status_code)


@pytest.fixture(autouse=True)
def _flat(exchange: RunningExchange, http: HTTP) -> None:
    """Every test starts with no open orders and known prices."""
    exchange.control.clear_faults()
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"):
        http.cancel_all_orders(category="linear", symbol=symbol)
    exchange.control.post(
        "/paper/liquidity", symbol="BTCUSDT", qty_per_level="30", slippage_band="0.05"
    )
    exchange.control.price("BTCUSDT", "60000")


def test_create_amend_cancel_roundtrip(http: HTTP) -> None:
    r = http.place_order(
        **LIN,
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.01",
        price="59000",
        orderLinkId="t-amend-1",
    )
    assert r["retCode"] == 0 and r["result"]["orderLinkId"] == "t-amend-1"
    oid = r["result"]["orderId"]
    opened = http.get_open_orders(**LIN, symbol="BTCUSDT")["result"]["list"]
    assert [o["orderId"] for o in opened] == [oid]
    o = opened[0]
    assert o["orderStatus"] == "New" and o["price"] == "59000.00" and o["qty"] == "0.010"
    assert o["positionIdx"] == 0 and o["reduceOnly"] is False and isinstance(o["createdTime"], str)

    http.amend_order(**LIN, symbol="BTCUSDT", orderLinkId="t-amend-1", price="58500", qty="0.02")
    o = http.get_open_orders(**LIN, symbol="BTCUSDT", orderId=oid)["result"]["list"][0]
    assert (o["price"], o["qty"]) == ("58500.00", "0.020")
    assert code_of(http.amend_order, **LIN, symbol="BTCUSDT", orderId=oid, price="58500") == 10001

    r = http.cancel_order(**LIN, symbol="BTCUSDT", orderId=oid)
    assert r["result"]["orderLinkId"] == "t-amend-1"
    assert http.get_open_orders(**LIN, symbol="BTCUSDT")["result"]["list"] == []
    assert code_of(http.cancel_order, **LIN, symbol="BTCUSDT", orderId=oid) == 110001
    assert code_of(http.amend_order, **LIN, symbol="BTCUSDT", orderId=oid, qty="0.03") == 110001
    hist = http.get_order_history(**LIN, symbol="BTCUSDT", orderId=oid)["result"]["list"]
    assert hist[0]["orderStatus"] == "Cancelled" and hist[0]["cancelType"] == "CancelByUser"
    closed = http.get_open_orders(**LIN, symbol="BTCUSDT", openOnly=1)["result"]["list"]
    assert oid in [c["orderId"] for c in closed]


def test_cancel_all_and_filters(http: HTTP) -> None:
    ids = set()
    for i in range(3):
        r = http.place_order(
            **LIN,
            symbol="ETHUSDT",
            side="Sell",
            orderType="Limit",
            qty="0.1",
            price=str(4000 + i),
        )
        ids.add(r["result"]["orderId"])
    stop = http.place_order(
        **LIN,
        symbol="ETHUSDT",
        side="Sell",
        orderType="Market",
        qty="0.1",
        triggerPrice="1000",
        triggerDirection=2,
    )["result"]["orderId"]
    r = http.cancel_all_orders(**LIN, symbol="ETHUSDT", orderFilter="Order")
    assert {x["orderId"] for x in r["result"]["list"]} == ids and r["result"]["success"] == "1"
    left = http.get_open_orders(**LIN, symbol="ETHUSDT")["result"]["list"]
    assert [o["orderId"] for o in left] == [stop] and left[0]["orderStatus"] == "Untriggered"
    r = http.cancel_all_orders(**LIN, settleCoin="USDT")
    assert [x["orderId"] for x in r["result"]["list"]] == [stop]
    assert code_of(http.cancel_all_orders, **LIN) == 10001


def test_market_order_fills_and_moves_position_and_wallet(exchange: RunningExchange) -> None:
    http = make_http(exchange, "other")
    before = Decimal(
        http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]["totalWalletBalance"]
    )
    r = http.place_order(**LIN, symbol="SOLUSDT", side="Buy", orderType="Market", qty="10")
    oid = r["result"]["orderId"]
    ex_rows = http.get_executions(**LIN, orderId=oid)["result"]["list"]
    assert len(ex_rows) == 1
    row = ex_rows[0]
    assert row["execType"] == "Trade" and row["isMaker"] is False and isinstance(row["seq"], int)
    assert row["execQty"] == "10.0" and row["feeRate"] == "0.00055"
    assert Decimal(row["execFee"]) == Decimal(row["execValue"]) * Decimal("0.00055")
    pos = http.get_positions(**LIN, symbol="SOLUSDT")["result"]["list"][0]
    assert pos["side"] == "Buy" and pos["size"] == "10.0"
    assert Decimal(pos["avgPrice"]) == Decimal(row["execPrice"])
    after = Decimal(
        http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]["totalWalletBalance"]
    )
    assert after == before - Decimal(row["execFee"])
    # Close with reduceOnly at a higher price: realised P&L lands in the wallet.
    exchange.control.price("SOLUSDT", str(Decimal(row["execPrice"]) + 10))
    r = http.place_order(
        **LIN, symbol="SOLUSDT", side="Sell", orderType="Market", qty="50", reduceOnly=True
    )
    close = http.get_executions(**LIN, orderId=r["result"]["orderId"])["result"]["list"][0]
    assert close["closedSize"] == "10.0" and close["execQty"] == "10.0"  # capped to the position
    assert Decimal(close["execPnl"]) > 0
    pos = http.get_positions(**LIN, symbol="SOLUSDT")["result"]["list"][0]
    assert pos["size"] == "0.0" and pos["side"] == ""
    assert (
        code_of(
            http.place_order,
            **LIN,
            symbol="SOLUSDT",
            side="Sell",
            orderType="Market",
            qty="1",
            reduceOnly=True,
        )
        == 110017
    )
    listed = http.get_positions(**LIN, settleCoin="USDT")["result"]["list"]
    assert all(p["symbol"] != "SOLUSDT" for p in listed)


def test_partial_fills_against_liquidity(exchange: RunningExchange, http: HTTP) -> None:
    exchange.control.post(
        "/paper/liquidity", symbol="BTCUSDT", qty_per_level="0.01", slippage_band="0.0003"
    )
    r = http.place_order(**LIN, symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.1")
    oid = r["result"]["orderId"]
    fills = http.get_executions(**LIN, orderId=oid)["result"]["list"]
    assert 1 < len(fills) < 10  # walked several levels, then the band stopped it
    order = http.get_open_orders(**LIN, symbol="BTCUSDT", orderId=oid)["result"]["list"][0]
    assert order["orderStatus"] == "Cancelled"
    assert Decimal(order["cumExecQty"]) == sum(Decimal(f["execQty"]) for f in fills)
    prices = [Decimal(f["execPrice"]) for f in fills]
    assert max(prices) <= Decimal(60000) * Decimal("1.0003")
    # A resting limit crossed by the market fills level by level (maker), then completes.
    r = http.place_order(
        **LIN, symbol="BTCUSDT", side="Sell", orderType="Limit", qty="0.025", price="60100"
    )
    oid = r["result"]["orderId"]
    exchange.control.price("BTCUSDT", "60150")
    o = http.get_open_orders(**LIN, symbol="BTCUSDT", orderId=oid)["result"]["list"][0]
    assert o["orderStatus"] == "PartiallyFilled" and o["cumExecQty"] == "0.010"
    exchange.control.price("BTCUSDT", "60050")
    exchange.control.price("BTCUSDT", "60200")
    exchange.control.price("BTCUSDT", "60050")
    exchange.control.price("BTCUSDT", "60200")
    o = http.get_open_orders(**LIN, symbol="BTCUSDT", orderId=oid)["result"]["list"][0]
    assert o["orderStatus"] == "Filled" and o["avgPrice"] == "60100"
    fills = http.get_executions(**LIN, orderId=oid)["result"]["list"]
    assert [f["isMaker"] for f in fills] == [True, True, True]
    assert {f["feeRate"] for f in fills} == {"0.0002"}
    http.place_order(**LIN, symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.005")


def test_time_in_force_variants(exchange: RunningExchange, http: HTTP) -> None:
    def status(oid: str) -> dict[str, str]:
        return http.get_open_orders(**LIN, symbol="BTCUSDT", orderId=oid)["result"]["list"][0]

    post = http.place_order(
        **LIN,
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.01",
        price="60010",
        timeInForce="PostOnly",
    )["result"]["orderId"]
    o = status(post)
    assert o["orderStatus"] == "Cancelled" and o["rejectReason"] == "EC_PostOnlyWillTakeLiquidity"
    ok = http.place_order(
        **LIN,
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.01",
        price="59990",
        timeInForce="PostOnly",
    )["result"]["orderId"]
    assert status(ok)["orderStatus"] == "New"
    ioc = http.place_order(
        **LIN,
        symbol="BTCUSDT",
        side="Sell",
        orderType="Limit",
        qty="0.01",
        price="61000",
        timeInForce="IOC",
    )["result"]["orderId"]
    assert status(ioc)["orderStatus"] == "Cancelled"
    exchange.control.post("/paper/liquidity", symbol="BTCUSDT", qty_per_level="0.01")
    fok = http.place_order(
        **LIN,
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.5",
        price="60010",
        timeInForce="FOK",
    )["result"]["orderId"]
    assert status(fok)["orderStatus"] == "Cancelled" and status(fok)["cumExecQty"] == "0.000"
    fok2 = http.place_order(
        **LIN,
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.01",
        price="60100",
        timeInForce="FOK",
    )["result"]["orderId"]
    assert status(fok2)["orderStatus"] == "Filled"
    http.place_order(**LIN, symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.01")


def test_conditional_order_triggers_and_keeps_link_id(
    exchange: RunningExchange, http: HTTP
) -> None:
    r = http.place_order(
        **LIN,
        symbol="BTCUSDT",
        side="Buy",
        orderType="Market",
        qty="0.01",
        triggerPrice="60500",
        triggerDirection=1,
        orderLinkId="t-stop-buy",
    )
    oid = r["result"]["orderId"]
    o = http.get_open_orders(**LIN, symbol="BTCUSDT", orderId=oid)["result"]["list"][0]
    assert o["orderStatus"] == "Untriggered" and o["triggerPrice"] == "60500.00"
    assert o["triggerDirection"] == 1 and o["stopOrderType"] == "Stop"
    exchange.control.price("BTCUSDT", "60400")
    assert http.get_executions(**LIN, orderId=oid)["result"]["list"] == []
    exchange.control.price("BTCUSDT", "60600")
    fills = http.get_executions(**LIN, orderLinkId="t-stop-buy")["result"]["list"]
    assert len(fills) == 1 and fills[0]["orderId"] == oid
    assert Decimal(fills[0]["execPrice"]) == Decimal("60500.1")
    # Wrong-way trigger is refused; a conditional limit rests after triggering.
    assert (
        code_of(
            http.place_order,
            **LIN,
            symbol="BTCUSDT",
            side="Sell",
            orderType="Market",
            qty="0.01",
            triggerPrice="61000",
            triggerDirection=2,
        )
        == 110093  # Bybit's "expect Falling, but trigger_price[..] >= current[..]"
    )
    r = http.place_order(
        **LIN,
        symbol="BTCUSDT",
        side="Sell",
        orderType="Limit",
        qty="0.01",
        price="59000",
        triggerPrice="60000",
        triggerDirection=2,
        orderLinkId="t-stop-lim",
    )
    exchange.control.price("BTCUSDT", "59950")
    o = http.get_open_orders(**LIN, symbol="BTCUSDT", orderLinkId="t-stop-lim")["result"]["list"][0]
    assert o["orderStatus"] == "Filled" and o["orderLinkId"] == "t-stop-lim"


def test_leverage_and_margin(exchange: RunningExchange) -> None:
    http = make_http(exchange, "other")
    assert (
        http.set_leverage(**LIN, symbol="ETHUSDT", buyLeverage="5", sellLeverage="5")["retCode"]
        == 0
    )
    assert (
        code_of(http.set_leverage, **LIN, symbol="ETHUSDT", buyLeverage="5", sellLeverage="5")
        == 110043
    )
    assert (
        code_of(http.set_leverage, **LIN, symbol="ETHUSDT", buyLeverage="500", sellLeverage="500")
        == 10001
    )
    pos = http.get_positions(**LIN, symbol="ETHUSDT")["result"]["list"][0]
    assert pos["leverage"] == "5" and pos["size"] == "0.00"
    # 50k USDT at 5x cannot open 1M USDT of ETH.
    assert (
        code_of(
            http.place_order, **LIN, symbol="ETHUSDT", side="Buy", orderType="Market", qty="300"
        )
        == 110007
    )


def test_instrument_rule_violations(http: HTTP) -> None:
    base = {**LIN, "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "price": "50000"}
    assert code_of(http.place_order, **base, qty="0.0001") == 110017  # truncates to zero
    assert code_of(http.place_order, **base, qty="0.0015") == 10001  # off the qty step
    assert code_of(http.place_order, **{**base, "price": "50000.05"}, qty="0.01") == 10001
    assert code_of(http.place_order, **{**base, "price": "1000"}, qty="0.001") == 110094
    assert code_of(http.place_order, **{**base, "symbol": "NOPEUSDT"}, qty="1") == 10001
    assert code_of(http.place_order, **{**base, "category": "spot"}, qty="0.01") == 10001
    assert code_of(http.place_order, **{**base, "side": "Long"}, qty="0.01") == 10001


@pytest.mark.parametrize("link_id", ["a:b", "x" * 37, "bad id!", "é"])
def test_order_link_id_rules(http: HTTP, link_id: str) -> None:
    code = code_of(
        http.place_order,
        **LIN,
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.01",
        price="50000",
        orderLinkId=link_id,
    )
    # A space never even signs right through pybit (docs/bybit.md#rest-quirks).
    assert code in (10001, 10004)


def test_duplicate_order_link_id(http: HTTP) -> None:
    args = {
        **LIN,
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.01",
        "price": "50000",
        "orderLinkId": "dup-" + "x" * 32,
    }
    http.place_order(**args)
    assert code_of(http.place_order, **args) == 110072


def test_auth_errors(exchange: RunningExchange) -> None:
    bad_key = HTTP(api_key="nope", api_secret="x", retry_delay=0.01)
    bad_key.endpoint = exchange.rest_url
    assert code_of(bad_key.get_positions, **LIN, symbol="BTCUSDT") == 10003
    bad_sig = make_http(exchange)
    bad_sig.api_secret = "wrong"
    assert code_of(bad_sig.get_positions, **LIN, symbol="BTCUSDT") == 10004
    assert (
        code_of(
            bad_sig.place_order, **LIN, symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.01"
        )
        == 10004
    )
    old = raw_request(
        exchange,
        "GET",
        "/v5/position/list",
        "category=linear&symbol=BTCUSDT",
        ts=int(time.time() * 1000) - 60_000,
    )
    assert old.status_code == 200 and old.json()["retCode"] == 10002
    future = raw_request(
        exchange,
        "GET",
        "/v5/position/list",
        "category=linear&symbol=BTCUSDT",
        ts=int(time.time() * 1000) + 5_000,
    )
    assert future.json()["retCode"] == 10002
    missing = raw_request(exchange, "GET", "/v5/position/list", "category=linear", account=None)
    assert missing.json()["retCode"] == 10003
    # pybit's own retry path for 10002 gives up with FailedRequestError after 3 tries.
    skewed = make_http(exchange, recv_window=-100_000, max_retries=2)
    with pytest.raises(FailedRequestError):
        skewed.get_positions(**LIN, symbol="BTCUSDT")


def test_raw_query_is_what_gets_verified(exchange: RunningExchange) -> None:
    ok = raw_request(exchange, "GET", "/v5/order/realtime", "category=linear&symbol=BTCUSDT")
    assert ok.json()["retCode"] == 0
    # Same parameters, different order on the wire than what was signed: must fail.
    r = raw_request(
        exchange, "GET", "/v5/order/realtime", "symbol=BTCUSDT&category=linear", headers={}
    )
    assert r.json()["retCode"] == 0  # signed as sent, so fine
    body = '{"category":"linear","symbol":"BTCUSDT"}'
    ok = raw_request(exchange, "POST", "/v5/order/cancel-all", body)
    assert ok.json()["retCode"] == 0
    key, secret = exchange.accounts["main"]
    import hashlib
    import hmac

    import requests

    ts = str(int(time.time() * 1000))
    sig = hmac.new(secret.encode(), f"{ts}{key}5000{body}".encode(), hashlib.sha256).hexdigest()
    reserialised = json.dumps(json.loads(body))  # different bytes, same JSON
    r = requests.post(
        exchange.rest_url + "/v5/order/cancel-all",
        data=reserialised,
        timeout=5,
        headers={
            "X-BAPI-API-KEY": key,
            "X-BAPI-TIMESTAMP": ts,
            "X-BAPI-RECV-WINDOW": "5000",
            "X-BAPI-SIGN": sig,
        },
    )
    assert r.json()["retCode"] == 10004


def test_rate_limit_10006_header_and_pybit_recovers(exchange: RunningExchange) -> None:
    exchange.control.post("/paper/rate-limits", enabled=True)
    try:
        codes, resets = [], []
        for _ in range(14):
            r = raw_request(
                exchange,
                "POST",
                "/v5/order/cancel-all",
                '{"category":"linear","symbol":"XRPUSDT"}',
                account="other",
            )
            assert "X-Bapi-Limit-Status" in r.headers and r.headers["X-Bapi-Limit"] == "10"
            codes.append(r.json()["retCode"])
            if codes[-1] == 10006:
                resets.append(r.headers["X-Bapi-Limit-Reset-Timestamp"])
        assert 10006 in codes and codes[:10] == [0] * 10
        assert all("," not in v and int(v) > time.time() * 1000 - 5 for v in resets)
        http = make_http(exchange, "other")
        for _ in range(12):  # pybit sleeps until the reset header, then succeeds
            assert http.cancel_all_orders(**LIN, symbol="XRPUSDT")["retCode"] == 0
    finally:
        exchange.control.post("/paper/rate-limits", enabled=False)


def test_execution_list_pagination_and_window(exchange: RunningExchange, http: HTTP) -> None:
    exchange.control.post(
        "/paper/synthetic", account="main", count=523, symbol="DOGEUSDT", wait=True, batch=50
    )
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        r = http.get_executions(**LIN, symbol="DOGEUSDT", limit=100, cursor=cursor)["result"]
        seen.extend(x["execId"] for x in r["list"])
        pages += 1
        cursor = r["nextPageCursor"]
        if not cursor:
            break
    assert pages == 6 and len(seen) == len(set(seen)) >= 523
    r = http.get_executions(**LIN, symbol="DOGEUSDT", limit=1)["result"]["list"]
    assert int(r[0]["execTime"]) <= exchange.control.state()["now_ms"]
    assert code_of(http.get_executions, **LIN, limit=101) == 10001
    now = exchange.control.state()["now_ms"]
    assert code_of(http.get_executions, **LIN, startTime=now - 8 * 86_400_000, endTime=now) == 10001
    assert code_of(http.get_executions, **LIN, startTime=now, endTime=now - 1) == 10001
    old = http.get_executions(**LIN, startTime=now - 30 * 86_400_000)["result"]["list"]
    assert old == []  # only startTime: the window is [start, start + 7 days]
    dump = exchange.control.dump("main")
    assert sum(1 for e in dump["executions"] if e["symbol"] == "DOGEUSDT") == len(seen)


def test_order_history_window_and_retention(exchange: RunningExchange, http: HTTP) -> None:
    oid = http.place_order(
        **LIN, symbol="XRPUSDT", side="Buy", orderType="Limit", qty="100", price="0.4"
    )["result"]["orderId"]
    http.cancel_order(**LIN, symbol="XRPUSDT", orderId=oid)
    hist = http.get_order_history(**LIN, symbol="XRPUSDT")["result"]["list"]
    assert oid in [h["orderId"] for h in hist]
    exchange.control.advance(25 * 3_600_000)  # unfilled cancelled orders live 24 h
    hist = http.get_order_history(**LIN, symbol="XRPUSDT")["result"]["list"]
    assert oid not in [h["orderId"] for h in hist]
    assert code_of(http.get_order_history, **LIN, limit=51) == 10001


def test_market_endpoints(exchange: RunningExchange, http: HTTP) -> None:
    info = http.get_instruments_info(category="linear")["result"]["list"]
    symbols = {i["symbol"]: i for i in info}
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"} <= set(symbols)
    assert symbols["BTCUSDT"]["priceFilter"]["tickSize"] == "0.10"
    assert symbols["XRPUSDT"]["lotSizeFilter"]["qtyStep"] == "1"
    kl = http.get_kline(category="linear", symbol="ETHUSDT", interval="15", limit=5)["result"]
    rows = kl["list"]
    starts = [int(r[0]) for r in rows]
    assert len(rows) == 5 and starts == sorted(starts, reverse=True)
    assert all(isinstance(v, str) for r in rows for v in r)
    now = exchange.control.state()["now_ms"]
    assert starts[0] <= now < starts[0] + 900_000  # the forming candle comes first
    assert all(b - a == 900_000 for a, b in zip(starts[1:], starts[:-1], strict=True))
    t = http.get_tickers(category="linear", symbol="BTCUSDT")["result"]["list"][0]
    assert t["lastPrice"] and Decimal(t["ask1Price"]) > Decimal(t["bid1Price"])
    assert http.get_server_time()["result"]["timeSecond"] == str(now // 1000)
    assert code_of(http.get_kline, category="linear", symbol="BTCUSDT", interval="7") == 10001


def test_malformed_json_unknown_paths_and_methods(exchange: RunningExchange) -> None:
    r = raw_request(exchange, "POST", "/v5/order/create", '{"category": "linear", ')
    assert r.status_code == 200 and r.json()["retCode"] == 10001
    assert "JSON" in r.json()["retMsg"]
    r = raw_request(exchange, "POST", "/v5/order/create", "[1, 2]")
    assert r.json()["retCode"] == 10001
    r = raw_request(exchange, "GET", "/v5/nope/nothing", "")
    assert r.status_code == 404 and r.json()["retCode"] == 10017
    r = raw_request(exchange, "GET", "/v5/order/create", "")
    assert r.status_code == 404 and "POST" in r.json()["retMsg"]
    http = make_http(exchange)
    with pytest.raises(FailedRequestError) as info:
        http._submit_request(
            method="GET", path=f"{exchange.rest_url}/v5/unknown", query={}, auth=True
        )
    assert info.value.status_code == 404


def test_fuzzed_bad_requests_leave_server_healthy(exchange: RunningExchange) -> None:
    import requests

    rng = random.Random(1234)
    paths = [
        "/v5/order/create",
        "/v5/order/amend",
        "/v5/order/cancel",
        "/v5/execution/list",
        "/v5/position/list",
        "/v5/market/kline",
        "/v5/position/set-leverage",
        "/v5/order/realtime",
        "/v5/account/wallet-balance",
        "/v5/market/tickers",
        "/v5/x",
    ]
    junk_values = [
        "",
        "0",
        "-1",
        "1e309",
        "NaN",
        "abc",
        "9" * 40,
        "0.0000001",
        "Buy",
        "Limit",
        "linear",
        "BTCUSDT",
        None,
        True,
        [],
        {},
        1.5,
    ]
    keys = [
        "category",
        "symbol",
        "side",
        "orderType",
        "qty",
        "price",
        "limit",
        "cursor",
        "orderId",
        "orderLinkId",
        "triggerPrice",
        "startTime",
        "endTime",
        "interval",
        "buyLeverage",
        "timeInForce",
        "reduceOnly",
        "accountType",
        "triggerDirection",
    ]
    statuses = set()
    for _ in range(300):
        path = rng.choice(paths)
        params = {k: rng.choice(junk_values) for k in rng.sample(keys, rng.randint(0, 8))}
        if rng.random() < 0.5:
            payload = json.dumps(params)
            if rng.random() < 0.2:
                payload = payload[: rng.randint(0, len(payload))]
            r = raw_request(exchange, "POST", path, payload)
        else:
            query = "&".join(f"{k}={v}" for k, v in params.items())
            r = raw_request(exchange, "GET", path, query)
        statuses.add(r.status_code)
        assert r.status_code in (200, 404)
        assert isinstance(r.json()["retCode"], int)
    raw = requests.post(
        exchange.rest_url + "/v5/order/create",
        data=b"\xff\xfe\x00garbage",
        timeout=5,
        headers={"X-BAPI-API-KEY": "key-main"},
    )
    assert raw.status_code == 200 and raw.json()["retCode"] != 0
    http = make_http(exchange)
    assert http.get_server_time()["retCode"] == 0
    assert http.get_positions(**LIN, symbol="BTCUSDT")["retCode"] == 0


@pytest.mark.parametrize(
    ("header", "value", "code"),
    [
        ("X-BAPI-TIMESTAMP", "\u00b2\u00b3", 10002),  # digits to str.isdigit(), not to int()
        ("X-BAPI-RECV-WINDOW", "5\u0663", 10002),
        ("X-BAPI-SIGN", "\u00e9" * 64, 10004),  # hmac.compare_digest refuses non-ASCII str
    ],
)
def test_malformed_auth_headers_get_bybit_codes_not_a_500(
    exchange: RunningExchange, header: str, value: str, code: int
) -> None:
    import requests

    key, _ = exchange.accounts["main"]
    headers = {"X-BAPI-API-KEY": key, "X-BAPI-TIMESTAMP": str(int(time.time() * 1000)),
               "X-BAPI-RECV-WINDOW": "5000", "X-BAPI-SIGN": "0" * 64, header: value}  # fmt: skip
    r = requests.post(
        exchange.rest_url + "/v5/order/cancel-all",
        data=b'{"category":"linear"}',
        timeout=5,
        headers={k: v.encode() for k, v in headers.items()},  # UTF-8 bytes on the wire
    )
    assert r.status_code == 200, r.text
    assert r.json()["retCode"] == code
