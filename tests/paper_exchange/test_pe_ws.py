"""Private and public WebSocket through the real pybit WebSocket, and fault injection."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pe_helpers import Collector, make_http, make_ws, subscribed, wait_until
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

from paper_exchange.testing import RunningExchange

LIN = {"category": "linear"}
TOPICS = ("execution", "order", "position", "wallet")


@pytest.fixture
def private(exchange: RunningExchange) -> Iterator[tuple[Any, Collector]]:
    exchange.control.clear_faults()
    col = Collector()
    ws = make_ws(exchange, "main")
    for topic in TOPICS:
        getattr(ws, f"{topic}_stream")(col)
    wait_until(subscribed(exchange, "main", *TOPICS))
    yield ws, col
    ws.exit()
    exchange.control.clear_faults()


def buy(http: HTTP, qty: str = "0.01", link: str = "") -> str:
    args: dict[str, Any] = {**LIN, "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market"}
    if link:
        args["orderLinkId"] = link
    return str(http.place_order(**args, qty=qty)["result"]["orderId"])


def test_private_topics_shapes_and_types(
    exchange: RunningExchange, http: HTTP, private: tuple[Any, Collector]
) -> None:
    _ws, col = private
    exchange.control.price("BTCUSDT", "60000")
    oid = buy(http, link="ws-shape-1")
    col.wait_for(lambda ms: {m["topic"] for m in ms} >= set(TOPICS))
    msgs = col.messages
    for m in msgs:
        assert isinstance(m["creationTime"], int) and isinstance(m["id"], str)
    ex = col.items("execution")[0]
    assert ex["orderId"] == oid and ex["orderLinkId"] == "ws-shape-1"
    assert ex["isMaker"] is False and isinstance(ex["seq"], int)
    for field in ("execPrice", "execQty", "execFee", "execValue", "execTime", "leavesQty"):
        assert isinstance(ex[field], str)
    order = [o for o in col.items("order") if o["orderId"] == oid][-1]
    assert order["orderStatus"] == "Filled" and order["reduceOnly"] is False
    assert order["positionIdx"] == 0 and order["cumExecQty"] == "0.010"
    pos = col.items("position")[-1]
    assert "entryPrice" in pos and "avgPrice" not in pos and isinstance(pos["seq"], int)
    assert pos["seq"] == ex["seq"]  # the fill and its position update share the cross sequence
    wallet = col.items("wallet")[-1]
    assert wallet["accountType"] == "UNIFIED" and wallet["coin"][0]["coin"] == "USDT"
    http.place_order(**LIN, symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.01")


def test_resting_limit_fill_is_pushed_as_maker(
    exchange: RunningExchange, http: HTTP, private: tuple[Any, Collector]
) -> None:
    _ws, col = private
    exchange.control.price("BTCUSDT", "60000")
    oid = http.place_order(
        **LIN, symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.01", price="59500"
    )["result"]["orderId"]
    col.wait_for(lambda ms: any(o["orderId"] == oid for o in col.items("order")))
    assert not col.items("execution")
    exchange.control.price("BTCUSDT", "59400")
    execs = col.wait_items("execution", 1)
    assert execs[0]["isMaker"] is True and execs[0]["execPrice"] == "59500.00"
    http.place_order(**LIN, symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.01")


def test_each_account_sees_only_its_own_events(
    exchange: RunningExchange, private: tuple[Any, Collector]
) -> None:
    _ws, col = private
    other = Collector()
    ws2 = make_ws(exchange, "other")
    ws2.execution_stream(other)
    wait_until(subscribed(exchange, "other", "execution"))
    try:
        h_other = make_http(exchange, "other")
        oid = h_other.place_order(
            **LIN, symbol="ETHUSDT", side="Buy", orderType="Market", qty="0.1"
        )["result"]["orderId"]
        other.wait_items("execution", 1)
        time.sleep(0.1)
        assert all(e["orderId"] != oid for e in col.items("execution"))
        h_other.place_order(**LIN, symbol="ETHUSDT", side="Sell", orderType="Market", qty="0.1")
    finally:
        ws2.exit()


def test_ping_pong_auth_failure_and_unknown_topic(exchange: RunningExchange) -> None:
    import websocket

    sock = websocket.create_connection(exchange.private_url, timeout=5)
    try:
        sock.send(json.dumps({"op": "ping", "req_id": "p1"}))
        pong = json.loads(sock.recv())
        assert pong["op"] == "pong" and pong["req_id"] == "p1" and isinstance(pong["args"][0], str)
        sock.send(json.dumps({"op": "subscribe", "req_id": "s0", "args": ["execution"]}))
        assert json.loads(sock.recv())["success"] is False  # not authenticated yet
        sock.send(
            json.dumps({"op": "auth", "args": ["key-main", int(time.time() * 1000) + 5000, "bad"]})
        )
        reply = json.loads(sock.recv())
        assert reply["op"] == "auth" and reply["success"] is False
        sock.send(json.dumps({"op": "auth", "args": ["key-main", 1, "x"]}))
        assert json.loads(sock.recv())["success"] is False  # expired
        sock.send("{not json")
        assert json.loads(sock.recv())["success"] is False
        sock.ping(b"x")  # protocol ping is answered (pybit's app pings depend on it)
    finally:
        sock.close()
    # A bad key through pybit: auth fails and the socket ends (pybit's documented behaviour).
    from pe_helpers import LocalWebSocket

    bad = LocalWebSocket(
        "private", exchange.ws_url, api_key="nope", api_secret="x", private_auth_expire=10
    )
    wait_until(lambda: not bad.is_connected(), timeout=5)
    bad.exit()


def test_public_kline_confirm_and_tickers(exchange: RunningExchange) -> None:
    col = Collector()
    pub = make_ws(exchange, None)
    try:
        pub.kline_stream(1, "ETHUSDT", col)
        pub.kline_stream(5, "ETHUSDT", col)
        pub.ticker_stream("ETHUSDT", col)
        col.wait_for(
            lambda ms: (
                {m["topic"] for m in ms}
                >= {"kline.1.ETHUSDT", "kline.5.ETHUSDT", "tickers.ETHUSDT"}
            )
        )
        now = exchange.control.state()["now_ms"]
        exchange.control.advance(6 * 60_000 - now % 60_000)
        col.wait_for(
            lambda ms: (
                any(m["topic"] == "kline.5.ETHUSDT" and m["data"][0]["confirm"] for m in ms)
                and sum(m["topic"] == "kline.1.ETHUSDT" and m["data"][0]["confirm"] for m in ms)
                >= 6
            )
        )
        ones = [k for k in col.items("kline.1.ETHUSDT") if k["confirm"]]
        assert len(ones) >= 6
        starts = [k["start"] for k in ones]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)
        k = ones[0]
        assert isinstance(k["start"], int) and isinstance(k["end"], int)
        assert k["end"] == k["start"] + 59_999 and k["interval"] == "1"
        assert all(isinstance(k[f], str) for f in ("open", "high", "low", "close", "volume"))
        # REST agrees with the confirmed candle.
        http = make_http(exchange)
        rows = http.get_kline(
            category="linear", symbol="ETHUSDT", interval="1", start=k["start"], end=k["start"]
        )["result"]["list"]
        assert rows[0][1:5] == [k["open"], k["high"], k["low"], k["close"]]
        tick = col.items("tickers.ETHUSDT")[-1]
        assert tick["symbol"] == "ETHUSDT" and Decimal(tick["lastPrice"]) > 0
    finally:
        pub.exit()


def test_funding_every_8h_is_an_execution(
    exchange: RunningExchange, private: tuple[Any, Collector]
) -> None:
    _ws, col = private
    h = make_http(exchange, "main")
    h.place_order(**LIN, symbol="XRPUSDT", side="Buy", orderType="Market", qty="1000")
    exchange.control.advance_past_scheduled_funding()
    funding = [
        e
        for e in col.wait_for(
            lambda ms: any(
                e.get("execType") == "Funding"
                for m in ms
                if m["topic"] == "execution"
                for e in m["data"]
            )
        )
    ]
    rows = [
        e
        for m in funding
        if m["topic"] == "execution"
        for e in m["data"]
        if e["execType"] == "Funding"
    ]
    assert rows[0]["symbol"] == "XRPUSDT" and rows[0]["orderType"] == "UNKNOWN"
    assert rows[0]["orderLinkId"] == "" and Decimal(rows[0]["execFee"]) > 0  # long pays
    listed = h.get_executions(**LIN, execType="Funding")["result"]["list"]
    assert rows[0]["execId"] in [r["execId"] for r in listed]
    h.place_order(
        **LIN, symbol="XRPUSDT", side="Sell", orderType="Market", qty="1000", reduceOnly=True
    )


# -- fault injection, observed from the pybit side ----------------------------------------


def test_fault_drop_keeps_rest_ledger(
    exchange: RunningExchange, http: HTTP, private: tuple[Any, Collector]
) -> None:
    _ws, col = private
    exchange.control.post("/paper/faults/drop", account="main", count=2)
    ids = [buy(http) for _ in range(3)]
    col.wait_items("execution", 1)
    time.sleep(0.1)
    pushed = {e["orderId"] for e in col.items("execution")}
    assert pushed == {ids[2]}
    listed = {e["orderId"] for e in http.get_executions(**LIN, symbol="BTCUSDT")["result"]["list"]}
    assert set(ids) <= listed
    http.place_order(**LIN, symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.03")


def test_fault_duplicate(
    exchange: RunningExchange, http: HTTP, private: tuple[Any, Collector]
) -> None:
    _ws, col = private
    exchange.control.post("/paper/faults/duplicate", account="main", count=1)
    oid = buy(http)
    execs = col.wait_items("execution", 2)
    assert [e["orderId"] for e in execs] == [oid, oid]
    assert execs[0]["execId"] == execs[1]["execId"]
    http.place_order(**LIN, symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.01")


def test_fault_reorder(
    exchange: RunningExchange, http: HTTP, private: tuple[Any, Collector]
) -> None:
    _ws, col = private
    exchange.control.post("/paper/faults/reorder", account="main", window=3)
    ids = [buy(http) for _ in range(3)]
    execs = col.wait_items("execution", 3)
    assert [e["orderId"] for e in execs] == list(reversed(ids))
    http.place_order(**LIN, symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.03")


def test_fault_delay(exchange: RunningExchange, http: HTTP, private: tuple[Any, Collector]) -> None:
    _ws, col = private
    exchange.control.post("/paper/faults/delay", account="main", ms=300, count=1)
    started = time.monotonic()
    buy(http)
    col.wait_for(lambda ms: any(m["topic"] == "order" for m in ms))
    assert not col.items("execution")  # the order update came, the execution is late
    col.wait_items("execution", 1, timeout=3)
    assert time.monotonic() - started >= 0.28
    http.place_order(**LIN, symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.01")


def test_fault_close_sockets_pybit_reconnects(
    exchange: RunningExchange, http: HTTP, private: tuple[Any, Collector]
) -> None:
    ws, col = private
    closed = exchange.control.post("/paper/faults/close-sockets", account="main")["closed"]
    assert closed >= 1
    # pybit reconnects, re-authenticates and resubscribes by itself.
    wait_until(lambda: ws.is_connected(), timeout=5)
    wait_until(subscribed(exchange, "main", *TOPICS), timeout=5)
    oid = buy(http)
    execs = col.wait_items("execution", 1)
    assert execs[-1]["orderId"] == oid
    http.place_order(**LIN, symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.01")


def test_fault_rest_failures(exchange: RunningExchange) -> None:
    http = make_http(exchange)
    exchange.control.post("/paper/faults/rest", count=1, ret_code=10016, path="/v5/position/list")
    with pytest.raises(InvalidRequestError) as info:
        http.get_positions(**LIN, symbol="BTCUSDT")
    assert info.value.status_code == 10016
    assert http.get_positions(**LIN, symbol="BTCUSDT")["retCode"] == 0
    exchange.control.post("/paper/faults/rest", count=2, http_status=503)
    with pytest.raises(FailedRequestError) as failed:
        http.get_wallet_balance(accountType="UNIFIED")
    assert failed.value.status_code == 503
    with pytest.raises(FailedRequestError):
        http.get_server_time()
    assert http.get_server_time()["retCode"] == 0
    # 10006 with a future reset header: pybit waits and retries successfully.
    exchange.control.post("/paper/faults/rest", count=1, ret_code=10006)
    assert http.get_positions(**LIN, symbol="BTCUSDT")["retCode"] == 0


def test_synthetic_executions_reach_socket_and_ledger(
    exchange: RunningExchange, http: HTTP, private: tuple[Any, Collector]
) -> None:
    _ws, col = private
    exchange.control.post(
        "/paper/synthetic",
        account="main",
        symbol="SOLUSDT",
        count=1000,
        rate=0,
        batch=100,
        link_prefix="syn",
    )
    execs = col.wait_items("execution", 1000, timeout=10)
    assert len({e["execId"] for e in execs}) == 1000
    assert any(len(m["data"]) > 1 for m in col.messages if m["topic"] == "execution")
    pos = http.get_positions(**LIN, symbol="SOLUSDT")["result"]["list"][0]
    assert pos["size"] == "0.0"  # synthetic fills come in Buy/Sell pairs


def test_emission_times_record_when_each_execution_left(
    exchange: RunningExchange, private: tuple[Any, Collector]
) -> None:
    _ws, col = private
    control = exchange.control
    control.post("/paper/emission-times", account="main", record=True)
    before = time.time()
    control.post("/paper/synthetic", account="main", symbol="SOLUSDT", count=300, batch=50)
    execs = col.wait_items("execution", 300, timeout=10)
    after = time.time()
    times = control.get("/paper/emission-times", account="main")
    assert set(times) == {e["execId"] for e in execs}
    assert all(before <= t <= after for t in times.values())
    assert control.get("/paper/emission-times", account="main") == {}  # taken, then forgotten
    control.post("/paper/emission-times", account="main", record=False)
    with pytest.raises(RuntimeError, match="not being recorded"):
        control.get("/paper/emission-times", account="main")
    with pytest.raises(RuntimeError, match="record must be true or false"):
        control.post("/paper/emission-times", account="main", record="yes")


def test_manual_trade_has_no_link_id(
    exchange: RunningExchange, http: HTTP, private: tuple[Any, Collector]
) -> None:
    _ws, col = private
    r = exchange.control.manual_trade("main", "ETHUSDT", "Buy", "0.5")
    execs = col.wait_items("execution", 1)
    assert execs[0]["orderId"] == r["orderId"] and execs[0]["orderLinkId"] == ""
    dump = exchange.control.dump("main")
    assert any(p["symbol"] == "ETHUSDT" and p["size"] == "0.50" for p in dump["positions"])
    exchange.control.manual_trade("main", "ETHUSDT", "Sell", "0.5")
