"""One clock under ``--speed`` (issue 23): a client that signs with the time
``/v5/market/time`` reports is accepted when the simulated clock runs at another speed
and starts in the past, and a client on the host's wall clock (pybit as shipped) still is.

The synced client is the real pybit client with its one clock function
(``pybit._helpers.generate_timestamp``) answering the exchange's time, fetched before
each request: at 10x a clock synced only once drifts 9 ms per millisecond, so no
client can follow the simulated clock without re-reading it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import websocket
from pe_helpers import ACCOUNTS, make_http
from pybit import _helpers
from pybit.exceptions import FailedRequestError

from paper_exchange.server.auth import sign
from paper_exchange.testing import RunningExchange, running_exchange

DAY_MS = 86_400_000
SPEED = 10.0


@pytest.fixture(scope="module")
def fast() -> Iterator[RunningExchange]:
    start = int(time.time() * 1000) - 3 * DAY_MS
    with running_exchange(
        accounts=ACCOUNTS, seed=3, speed=SPEED, history_minutes=120, start_ms=start
    ) as ex:
        yield ex


def _server_ms(ex: RunningExchange) -> int:
    return int(make_http(ex).get_server_time()["result"]["timeNano"]) // 1_000_000


def test_server_time_is_the_simulated_clock(fast: RunningExchange) -> None:
    first = _server_ms(fast)
    assert first < int(time.time() * 1000) - 2 * DAY_MS  # started three days back
    time.sleep(0.3)
    assert _server_ms(fast) - first >= 0.3 * 1000 * SPEED  # runs at (at least) 10x


def test_a_client_signing_with_server_time_is_accepted(
    fast: RunningExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    timer = make_http(fast)  # /v5/market/time is public: no signature, no clock needed
    monkeypatch.setattr(
        _helpers,
        "generate_timestamp",
        lambda: int(timer.get_server_time()["result"]["timeNano"]) // 1_000_000,
    )
    http = make_http(fast, max_retries=1)
    for _ in range(3):
        wallet = http.get_wallet_balance(accountType="UNIFIED")
        assert wallet["retCode"] == 0
        time.sleep(0.6)  # 6 s of simulated time: more than the whole receive window
    placed = http.place_order(
        category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.001"
    )
    assert placed["retCode"] == 0


def test_a_client_on_the_wall_clock_is_still_accepted(fast: RunningExchange) -> None:
    http = make_http(fast, max_retries=1)
    assert http.get_wallet_balance(accountType="UNIFIED")["retCode"] == 0


def test_a_timestamp_on_neither_clock_is_refused(
    fast: RunningExchange, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_helpers, "generate_timestamp", lambda: int(time.time() * 1000) - DAY_MS)
    http = make_http(fast, max_retries=1)
    with pytest.raises(FailedRequestError):  # pybit retries 10002 once, then gives up
        http.get_wallet_balance(accountType="UNIFIED")
    assert "ErrCode: 10002" in caplog.text and "server_timestamp[" in caplog.text


def test_websocket_auth_expiring_on_server_time_is_accepted(fast: RunningExchange) -> None:
    # A minute after the exchange's time is three days in the wall clock's past.
    expires = _server_ms(fast) + 60_000
    key, secret = fast.accounts["main"]
    sock = websocket.create_connection(fast.private_url, timeout=5)
    try:
        signature = sign(secret, f"GET/realtime{expires}")
        sock.send(json.dumps({"op": "auth", "args": [key, expires, signature]}))
        reply = json.loads(sock.recv())
        assert reply["success"] is True, reply
        stale = expires - 120_000  # past on both clocks
        sock.send(
            json.dumps({"op": "auth", "args": [key, stale, sign(secret, f"GET/realtime{stale}")]})
        )
        assert json.loads(sock.recv())["ret_msg"] == "Params Error: request expired"
    finally:
        sock.close()
