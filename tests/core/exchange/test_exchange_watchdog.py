"""The watchdog keeps real pybit sockets alive against the paper exchange's faults."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from paper_helpers import exchange_settings, wait_for

from core.config import Settings
from core.exchange import PrivateStream, PublicStream, make_websocket
from paper_exchange.testing import RunningExchange

FAST = {"poll_interval": 0.05, "backoff_base": 0.05, "backoff_max": 0.4, "ping_interval": 5.0,
        "ping_timeout": 2.0}  # fmt: skip


class Recorder:
    def __init__(self, fail_first: int = 0) -> None:
        self.exec_ids: list[str] = []
        self.reconnects: list[object] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def on_message(self, msg: dict[str, Any]) -> None:
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                raise RuntimeError("boom in the owner's callback")
            self.exec_ids += [d["execId"] for d in msg["data"]]

    def on_reconnect(self, account: object) -> None:
        self.reconnects.append(account)


def _trade(ex: RunningExchange, side: str = "Buy") -> str:
    ex.control.manual_trade("main", "BTCUSDT", side, "0.001")
    execs = ex.control.dump("main")["executions"]
    return str(execs[-1]["execId"])


def _stream(settings: Settings, rec: Recorder, **kw: Any) -> PrivateStream:
    stream = PrivateStream(settings, "main", ["execution"], rec.on_message, rec.on_reconnect,
                           **{**FAST, **kw})  # fmt: skip
    stream.start()
    assert stream.wait_connected(10), stream.status()
    return stream


def test_recovers_after_the_exchange_closes_private_sockets_many_times(
    exchange: RunningExchange, settings: Settings
) -> None:
    rec = Recorder()
    stream = _stream(settings, rec)
    try:
        assert rec.reconnects == ["main"]  # called on the first connect too
        for i in range(1, 7):
            exchange.control.post("/paper/faults/close-sockets", account="main")
            wait_for(lambda i=i: stream.reconnects == i and stream.connected, what=f"reconnect {i}")
            exec_id = _trade(exchange, "Buy" if i % 2 else "Sell")
            wait_for(lambda e=exec_id: e in rec.exec_ids, what="execution after reconnect")
        assert stream.reconnects == 6
        assert rec.reconnects == ["main"] * 7
        assert len(rec.exec_ids) == len(set(rec.exec_ids)) == 6
    finally:
        stream.stop()
    assert not stream.connected


def test_rebuilds_when_pybit_would_have_given_up(
    exchange: RunningExchange, settings: Settings
) -> None:
    """The exchange refuses new sockets for 1.5 s: pybit's 10 fast tries would fail for good."""
    rec = Recorder()
    stream = _stream(settings, rec)
    try:
        exchange.control.post("/paper/faults/close-sockets", account="main", block_ms=1500)
        wait_for(lambda: stream.failures >= 2, what="failed reconnect attempts")
        wait_for(lambda: stream.connected, timeout=15, what="recovery after the block")
        assert stream.reconnects == 1 and len(rec.reconnects) == 2
        exec_id = _trade(exchange)
        wait_for(lambda: exec_id in rec.exec_ids, what="execution after recovery")
    finally:
        stream.stop()


def test_callback_exception_keeps_the_socket(exchange: RunningExchange, settings: Settings) -> None:
    rec = Recorder(fail_first=1)
    stream = _stream(settings, rec)
    try:
        _trade(exchange)
        wait_for(lambda: stream.callback_errors == 1, what="the callback error")
        exec_id = _trade(exchange, "Sell")
        wait_for(lambda: exec_id in rec.exec_ids, what="the next execution")
        assert stream.connected and stream.reconnects == 0
    finally:
        stream.stop()


def _inject(exchange: RunningExchange, payload: dict[str, Any]) -> None:
    def send() -> None:
        for conns in exchange.exchange.private_hub.conns.values():
            for conn in conns:
                conn.send_raw(payload)

    exchange.call(send)


def test_unexpected_messages_keep_the_socket(exchange: RunningExchange, settings: Settings) -> None:
    rec = Recorder()
    stream = _stream(settings, rec)
    try:
        _inject(exchange, {"something": "odd"})
        _inject(exchange, {"topic": "greeks", "data": []})  # a topic we never subscribed
        wait_for(lambda: stream.unexpected_messages == 2, what="unexpected messages counted")
        exec_id = _trade(exchange)
        wait_for(lambda: exec_id in rec.exec_ids, what="execution after odd frames")
        assert stream.connected and stream.reconnects == 0
    finally:
        stream.stop()


def test_bare_pybit_dies_on_what_the_watchdog_survives(
    exchange: RunningExchange, settings: Settings
) -> None:
    """The failure mode is real: without the watchdog the same frame kills the socket."""
    ws = make_websocket(settings, "private", "main", ping_interval=5, ping_timeout=2)
    try:
        ws.execution_stream(lambda msg: None)
        wait_for(ws.is_connected, what="bare pybit connected")
        # pybit says "connected" before auth and subscribe; the exchange only sends to
        # an authenticated socket, so wait until it lists the subscription.
        wait_for(
            lambda: "execution" in exchange.control.state()["subscriptions"].get("main", []),
            what="subscription active on the exchange",
        )
        _inject(exchange, {"something": "odd"})
        wait_for(lambda: not ws.is_connected(), timeout=30, what="bare pybit socket death")
    finally:
        ws.exit()


def test_wrong_credentials_are_reported_not_raised(exchange: RunningExchange) -> None:
    settings = exchange_settings(exchange, {"main": ("main-key-0001", "wrong-secret-9999")})
    rec = Recorder()
    stream = PrivateStream(settings, "main", ["execution"], rec.on_message, rec.on_reconnect,
                           **FAST)  # fmt: skip
    stream.start()
    try:
        wait_for(lambda: stream.auth_refused, what="auth refusal")
        assert not stream.connected and rec.reconnects == []
        assert "authentication refused" in str(stream.last_error)
        assert "wrong-secret-9999" not in str(stream.status())
    finally:
        stream.stop()


def test_on_reconnect_failure_is_retried(exchange: RunningExchange, settings: Settings) -> None:
    calls: list[object] = []

    def flaky(account: object) -> None:
        calls.append(account)
        if len(calls) < 3:
            raise RuntimeError("catch-up failed")

    stream = PrivateStream(settings, "main", ["execution"], lambda m: None, flaky, **FAST)
    stream.start()
    try:
        wait_for(lambda: len(calls) == 3, what="on_reconnect retried until it succeeds")
        assert stream.connected
    finally:
        stream.stop()


@pytest.mark.parametrize("topic", ["kline.1.BTCUSDT", "tickers.BTCUSDT"])
def test_public_stream_rebuilds_a_dropped_socket(
    exchange: RunningExchange, settings: Settings, topic: str
) -> None:
    got: list[dict[str, Any]] = []
    stream = PublicStream(settings, [topic], got.append, **FAST)
    stream.start()
    try:
        assert stream.wait_connected(10)
        exchange.control.advance(61_000)
        wait_for(lambda: got, what=f"{topic} push")
        stream.drop_connection()
        wait_for(lambda: stream.reconnects == 1 and stream.connected, what="public reconnect")
        before = len(got)
        exchange.control.advance(61_000)
        wait_for(lambda: len(got) > before, what=f"{topic} push after reconnect")
    finally:
        stream.stop()
