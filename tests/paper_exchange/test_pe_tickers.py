"""Public ``tickers.{symbol}``: one snapshot, then deltas of the changed fields only, as
Bybit sends them for linear contracts (issue 23); pybit's merged view must equal what
the exchange holds."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from pe_helpers import make_http, make_ws, wait_until

from paper_exchange.server.ws_public import ticker_update
from paper_exchange.testing import RunningExchange

TOPIC = "tickers.BTCUSDT"


@pytest.fixture
def raw(exchange: RunningExchange) -> Iterator[websocket.WebSocket]:
    """A plain socket, to see the messages exactly as sent (pybit merges deltas)."""
    sock = websocket.create_connection(exchange.public_url, timeout=5)
    yield sock
    sock.close()


def _subscribe(sock: websocket.WebSocket, op: str = "subscribe") -> None:
    sock.send(json.dumps({"op": op, "req_id": op, "args": [TOPIC]}))
    assert json.loads(sock.recv())["success"] is True


def _next_ticker(sock: websocket.WebSocket) -> dict[str, Any]:
    while True:
        msg = json.loads(sock.recv())
        if msg.get("topic") == TOPIC:
            return dict(msg)


def test_snapshot_then_deltas_of_changed_fields(
    exchange: RunningExchange, raw: websocket.WebSocket
) -> None:
    exchange.control.price("BTCUSDT", "60000")
    _subscribe(raw)
    first = _next_ticker(raw)
    assert first["type"] == "snapshot"
    full = first["data"]
    assert full["lastPrice"] == "60000.00" and len(full) > 20
    assert isinstance(first["cs"], int) and isinstance(first["ts"], int)

    exchange.control.price("BTCUSDT", "60100")
    delta = _next_ticker(raw)
    assert delta["type"] == "delta"
    data = delta["data"]
    assert data["symbol"] == "BTCUSDT" and data["lastPrice"] == "60100.00"
    assert "fundingRate" not in data and "fundingIntervalHour" not in data  # unchanged
    assert set(data) < set(full)  # only fields of the snapshot, and not all of them
    rest = make_http(exchange).get_tickers(category="linear", symbol="BTCUSDT")
    now = rest["result"]["list"][0]
    assert {**full, **data} == now  # snapshot + delta is the exchange's ticker

    # Re-subscribing starts over with a snapshot.
    _subscribe(raw, "unsubscribe")
    _subscribe(raw)
    again = _next_ticker(raw)
    assert again["type"] == "snapshot" and again["data"] == now


def test_pybits_merged_ticker_equals_the_exchange(exchange: RunningExchange) -> None:
    seen: list[dict[str, Any]] = []
    lock = threading.Lock()

    def on_ticker(message: dict[str, Any]) -> None:
        with lock:  # pybit hands over its live merged dict: keep a copy of each state
            seen.append(copy.deepcopy(message["data"]))

    pub = make_ws(exchange, None)
    try:
        pub.ticker_stream("BTCUSDT", on_ticker)
        wait_until(lambda: bool(seen))
        for price in ("60500", "60400", "61000"):
            before = len(seen)
            exchange.control.price("BTCUSDT", price)
            wait_until(lambda b=before: len(seen) > b)  # type: ignore[misc]
            want = make_http(exchange).get_tickers(category="linear", symbol="BTCUSDT")
            with lock:
                assert seen[-1] == want["result"]["list"][0]
                assert seen[-1]["lastPrice"] == f"{price}.00"
    finally:
        pub.exit()


def test_no_message_when_nothing_changed() -> None:
    view: dict[str, object] = {"symbol": "X", "lastPrice": "1", "bid1Size": "2"}
    assert ticker_update(None, view) == ("snapshot", view)
    assert ticker_update(dict(view), view)[1] is None
    moved = {**view, "bid1Size": "3"}
    assert ticker_update(view, moved) == ("delta", {"symbol": "X", "bid1Size": "3"})
