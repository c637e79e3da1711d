"""The order book with realistic depth: a market order walks it in several executions,
``GET /v5/market/orderbook`` and ``orderbook.{depth}.{symbol}`` serve it, through pybit."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pe_helpers import Collector, LocalWebSocket, make_http, make_ws, subscribed, wait_until
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from paper_exchange.engine.instruments import DEFAULT_INSTRUMENTS
from paper_exchange.engine.orderbook import Liquidity, OrderBook
from paper_exchange.testing import RunningExchange, running_exchange

LIN = {"category": "linear"}
ACCOUNTS = (("main", "key-main", "secret-main", "2000000"),)


@pytest.fixture(scope="module")
def exchange() -> Iterator[RunningExchange]:
    with running_exchange(accounts=ACCOUNTS, seed=3, liquidity="realistic") as ex:
        yield ex


@pytest.fixture
def http(exchange: RunningExchange) -> HTTP:
    return make_http(exchange)


def book(http: HTTP, symbol: str = "BTCUSDT", limit: int = 25) -> dict[str, Any]:
    result: dict[str, Any] = http.get_orderbook(**LIN, symbol=symbol, limit=limit)["result"]
    return result


def test_orderbook_rest_shape(exchange: RunningExchange, http: HTTP) -> None:
    exchange.control.price("BTCUSDT", "60000")
    r = http.get_orderbook(**LIN, symbol="BTCUSDT")["result"]
    assert set(r) == {"s", "b", "a", "ts", "u", "seq", "cts"} and r["s"] == "BTCUSDT"
    assert len(r["b"]) == len(r["a"]) == 25  # Bybit's default limit for linear
    assert all(isinstance(r[k], int) for k in ("ts", "u", "seq", "cts"))
    bids = [Decimal(p) for p, _q in r["b"]]
    asks = [Decimal(p) for p, _q in r["a"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < Decimal(60000) < asks[0]
    assert all(isinstance(x, str) for row in r["b"] + r["a"] for x in row)
    # Deeper levels hold more: BTC is deep, an alt is thin.
    sizes = [Decimal(q) for _p, q in r["a"]]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    btc_usdt = Decimal(r["a"][0][0]) * sizes[0]
    link = book(http, "LINKUSDT", 1)
    link_usdt = Decimal(link["a"][0][0]) * Decimal(link["a"][0][1])
    assert btc_usdt > 10 * link_usdt
    assert len(book(http, limit=1)["a"]) == 1
    with pytest.raises(InvalidRequestError):
        http.get_orderbook(**LIN, symbol="BTCUSDT", limit=1001)
    with pytest.raises(InvalidRequestError):
        http.get_orderbook(**LIN, symbol="NOPEUSDT")


def test_market_order_walks_the_book(exchange: RunningExchange, http: HTTP) -> None:
    exchange.control.price("BTCUSDT", "60000")
    col = Collector()
    ws = make_ws(exchange, "main")
    ws.execution_stream(col)
    wait_until(subscribed(exchange, "main", "execution"))
    try:
        before = book(http, limit=3)["a"]
        top = [Decimal(q) for _p, q in before]
        qty = top[0] + top[1] + top[2] / 2  # the first two levels and half the third
        r = http.place_order(**LIN, symbol="BTCUSDT", side="Buy", orderType="Market", qty=str(qty))
        oid = r["result"]["orderId"]
        fills = http.get_executions(**LIN, orderId=oid)["result"]["list"]
        fills.sort(key=lambda f: Decimal(f["execPrice"]))
        assert len(fills) == 3 and len({f["execId"] for f in fills}) == 3
        assert [[f["execPrice"], f["execQty"]] for f in fills[:2]] == before[:2]
        assert Decimal(fills[2]["execQty"]) == top[2] / 2
        prices = [Decimal(f["execPrice"]) for f in fills]
        assert prices[0] < prices[1] < prices[2]
        order = http.get_order_history(**LIN, orderId=oid)["result"]["list"][0]
        assert order["orderStatus"] == "Filled" and Decimal(order["cumExecQty"]) == qty
        value = sum(Decimal(f["execPrice"]) * Decimal(f["execQty"]) for f in fills)
        assert abs(Decimal(order["avgPrice"]) - value / qty) < Decimal("0.1")
        # The same executions, each once, on the private WebSocket.
        pushed = col.wait_items("execution", 3)
        assert sorted(e["execId"] for e in pushed) == sorted(f["execId"] for f in fills)
        # The book remembers: the two emptied levels are gone, the third is half there...
        after = book(http, limit=3)["a"]
        assert after[0] == [before[2][0], str(top[2] - top[2] / 2)]
        # A refill period later the book is full again (back at the same price to compare).
        http.place_order(**LIN, symbol="BTCUSDT", side="Sell", orderType="Market", qty=str(qty))
        exchange.control.advance(30_000)
        exchange.control.price("BTCUSDT", "60000")
        assert book(http, limit=3)["a"] == before
    finally:
        ws.exit()


class RawWebSocket(LocalWebSocket):
    """pybit's client, also keeping each orderbook message's type as the server sent it
    (pybit hands its callback the merged book, always labelled a snapshot)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.kinds: list[str] = []
        super().__init__(*args, **kwargs)

    def _process_normal_message(self, message: dict[str, Any]) -> None:
        if str(message.get("topic", "")).startswith("orderbook."):
            self.kinds.append(message["type"])
        super()._process_normal_message(message)


def test_orderbook_stream_snapshot_then_deltas(exchange: RunningExchange, http: HTTP) -> None:
    exchange.control.price("ETHUSDT", "3000")
    col = Collector()
    pub = RawWebSocket("linear", exchange.ws_url)
    try:
        pub.orderbook_stream(50, "ETHUSDT", col)
        pub.orderbook_stream(1, "ETHUSDT", col)
        col.wait_for(lambda ms: {m["topic"] for m in ms} >= {"orderbook.50.ETHUSDT"})
        col.wait_for(lambda ms: {m["topic"] for m in ms} >= {"orderbook.1.ETHUSDT"})
        # pybit updates its book in place: keep a copy of the snapshot as it came.
        first = copy.deepcopy(col.items("orderbook.50.ETHUSDT")[-1])
        assert len(first["b"]) == len(first["a"]) == 50 and first["s"] == "ETHUSDT"
        assert [first["b"], first["a"]] == [book(http, "ETHUSDT", 50)[k] for k in ("b", "a")]
        top_qty = Decimal(first["a"][0][1])
        http.place_order(**LIN, symbol="ETHUSDT", side="Buy", orderType="Market", qty=str(top_qty))
        exchange.control.price("ETHUSDT", "3000")  # a market step: the public hub pushes
        col.wait_for(lambda ms: len([m for m in ms if m["topic"] == "orderbook.50.ETHUSDT"]) >= 2)
        assert pub.kinds.count("delta") >= 1
        merged = col.items("orderbook.50.ETHUSDT")[-1]
        rest = book(http, "ETHUSDT", 50)
        # pybit's book, built from the snapshot and the deltas, is the REST book.
        assert sorted(merged["a"], key=lambda r: Decimal(r[0])) == rest["a"]
        assert sorted(merged["b"], key=lambda r: -Decimal(r[0])) == rest["b"]
        assert merged["a"][0] == first["a"][1]  # the emptied touch is gone
        assert merged["u"] == rest["u"] > first["u"]
        # The level-1 stream is a topic of its own: its push may come after the 50's.
        col.wait_for(
            lambda ms: (
                [m["data"]["a"] for m in ms if m["topic"] == "orderbook.1.ETHUSDT"][-1]
                == rest["a"][:1]
            )
        )
        level1 = col.items("orderbook.1.ETHUSDT")[-1]
        assert level1["a"] == rest["a"][:1] and len(level1["b"]) == 1
        http.place_order(**LIN, symbol="ETHUSDT", side="Sell", orderType="Market", qty=str(top_qty))
    finally:
        pub.exit()


def test_a_taken_level_refills_linearly_and_the_control_api_reshapes_the_book(
    exchange: RunningExchange, http: HTTP
) -> None:
    inst = next(i for i in DEFAULT_INSTRUMENTS if i.symbol == "SOLUSDT")
    liq = Liquidity(qty_per_level=Decimal(10), growth=Decimal("0.5"), refill_ms=1000)
    ob = OrderBook(inst, liq)
    ref = Decimal(150)
    k, price, qty = next(iter(ob.levels("a", ref, 0)))
    assert (k, qty) == (0, Decimal(10))
    ob.take("a", k, price, Decimal(8), now=0)
    assert ob.depth(ref, 1, 0)[1] == [(price, Decimal(2))]
    assert ob.depth(ref, 1, 500)[1] == [(price, Decimal(7))]  # half the level back
    assert ob.depth(ref, 1, 1000)[1] == [(price, Decimal(10))]
    assert ob.fingerprint(1000) == ()
    # A symbol's depth changes at run time through the control API.
    exchange.control.price("SOLUSDT", "150")
    reply = exchange.control.post(
        "/paper/liquidity", symbol="SOLUSDT", qty_per_level="4", growth="1", refill_ms=0
    )
    assert reply["growth"] == "1" and reply["refill_ms"] == 0
    sizes = [q for _p, q in book(http, "SOLUSDT", 3)["a"]]
    assert sizes == ["4.0", "8.0", "12.0"]
