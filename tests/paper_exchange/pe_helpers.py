"""Helpers for the paper exchange tests: pybit clients pointed at it, message collectors."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from pybit.unified_trading import HTTP, WebSocket

from paper_exchange.testing import RunningExchange

ACCOUNTS = (
    ("main", "key-main", "secret-main", "100000"),
    ("other", "key-other", "secret-other", "50000"),
)


def make_http(ex: RunningExchange, account: str = "main", **kwargs: Any) -> HTTP:
    key, secret = ex.accounts[account]
    kwargs.setdefault("retry_delay", 0.05)
    kwargs.setdefault("timeout", 10)
    session = HTTP(api_key=key, api_secret=secret, **kwargs)
    session.endpoint = ex.rest_url  # pybit reads it on every call (docs/bybit.md#pybit)
    return session


class LocalWebSocket(WebSocket):
    """pybit's WebSocket with the scheme+host of its URL template rewritten to ours."""

    def __init__(self, channel_type: str, base_url: str, **kwargs: Any) -> None:
        kwargs.setdefault("testnet", False)
        self._local_base = base_url
        super().__init__(channel_type, **kwargs)

    def _connect(self, url: str) -> None:
        super()._connect(re.sub(r"^wss://[^/]+", self._local_base, url))


def make_ws(ex: RunningExchange, account: str | None = "main", **kwargs: Any) -> LocalWebSocket:
    if account is None:
        return LocalWebSocket("linear", ex.ws_url, **kwargs)
    key, secret = ex.accounts[account]
    kwargs.setdefault("private_auth_expire", 10)
    return LocalWebSocket("private", ex.ws_url, api_key=key, api_secret=secret, **kwargs)


class Collector:
    """Thread-safe message sink for pybit callbacks, with waiting helpers."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    def __call__(self, message: dict[str, Any]) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def items(self, topic: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [
                item
                for m in self.messages
                if topic is None or m.get("topic") == topic
                for item in (m["data"] if isinstance(m["data"], list) else [m["data"]])
            ]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out; got {len(self.messages)} messages")
                self._cond.wait(remaining)
            return list(self.messages)

    def wait_items(self, topic: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        self.wait_for(
            lambda msgs: sum(len(m["data"]) for m in msgs if m.get("topic") == topic) >= count,
            timeout,
        )
        return self.items(topic)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def subscribed(ex: RunningExchange, account: str, *topics: str) -> Callable[[], bool]:
    """True once the server has activated ``topics`` for ``account`` (acks are delayed)."""

    def check() -> bool:
        have = ex.control.state()["subscriptions"].get(account, [])
        return all(t in have for t in topics)

    return check


def raw_request(
    ex: RunningExchange,
    method: str,
    path: str,
    payload: str = "",
    *,
    account: str | None = "main",
    ts: int | None = None,
    recv_window: str = "5000",
    secret: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """A hand-signed request (to reach error paths pybit would never take)."""
    import hashlib
    import hmac

    import requests

    sent = dict(headers or {})
    if account is not None:
        key, real_secret = ex.accounts[account]
        stamp = str(int(time.time() * 1000) if ts is None else ts)
        sig = hmac.new(
            (secret or real_secret).encode(),
            f"{stamp}{key}{recv_window}{payload}".encode(),
            hashlib.sha256,
        ).hexdigest()
        sent.update(
            {
                "X-BAPI-API-KEY": key,
                "X-BAPI-TIMESTAMP": stamp,
                "X-BAPI-RECV-WINDOW": recv_window,
                "X-BAPI-SIGN": sig,
                "Content-Type": "application/json",
            }
        )
    url = ex.rest_url + path + (f"?{payload}" if method == "GET" and payload else "")
    body = payload.encode() if method == "POST" else None
    return requests.request(method, url, data=body, headers=sent, timeout=10)
