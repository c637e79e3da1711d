"""Private and public WebSocket streams that cannot die silently.

A bare pybit socket dies for good, without telling anyone (docs/bybit.md#pybit-sockets),
when a callback raises; a message arrives that is not auth/subscribe/pong
and has no subscribed topic; auth or subscribe is refused; a reconnect fails ~10 fast
tries in a row. ``subscribe()`` blocks forever while the socket is down, and app-level
pings stop after a reconnect that needed more than one attempt.

So this module never lets pybit reconnect on its own (``restart_on_error=False``)
and never calls ``subscribe()``. Each connection is a fresh pybit object built by one
watchdog thread, which:

* routes every message through :meth:`_Stream._route` (pybit's ``callback_function``),
  which never raises: owner callback errors and unexpected messages are logged,
  counted and dropped, and the socket stays up;
* sends the subscribe frame itself and waits for the auth and subscribe acks (with a
  timeout) before it calls the connection healthy;
* polls liveness every ``poll_interval``: ``is_connected()`` and the age of the last
  frame received (any message, app pong or protocol pong) against
  ``ping_interval + ping_timeout``; it sends its own ``{"op":"ping"}`` every
  ``ping_interval`` so liveness does not depend on pybit's timer;
* tears a dead socket down (``exit()``, bounded in time) and rebuilds it after an
  exponential backoff with jitter; the backoff resets only after a connection stayed
  healthy for ``stable_after`` seconds, so a server that accepts and drops at once is
  not hammered;
* calls ``on_reconnect(account)`` after every connect, the first included (the
  listener runs its REST catch-up there) — retried with backoff until it succeeds,
  because a failed catch-up is a gap.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from core.config import Settings
from core.exchange.client import make_websocket
from core.exchange.guarded_socket import GuardedWebSocket, bounded_exit
from core.exchange.ws_metrics import (
    WS_CALLBACK_ERRORS,
    WS_CONNECTED,
    WS_CONNECTS,
    WS_FAILURES,
    WS_UNEXPECTED,
)
from core.ids import AccountName
from core.retry import Jitter, backoff_delay

log = logging.getLogger(__name__)

MessageHandler = Callable[[dict[str, Any]], None]
ReconnectHandler = Callable[[AccountName | None], None]

#: Bybit documents 10 args per subscribe request for spot only, none for linear
#: (docs/bybit.md#candles); batches of 10 keep within either.
_MAX_ARGS_PER_SUBSCRIBE = 10


class _Stream:
    """One logical subscription that the watchdog keeps alive across sockets."""

    def __init__(
        self,
        settings: Settings,
        channel: str,
        account: AccountName | None,
        topics: Sequence[str],
        on_message: MessageHandler,
        on_reconnect: ReconnectHandler | None = None,
        *,
        poll_interval: float = 0.5,
        ping_interval: float = 20.0,
        ping_timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        stable_after: float = 30.0,
        ack_timeout: float = 10.0,
    ) -> None:
        if not topics:
            raise ValueError("a stream needs at least one topic")
        if ping_timeout >= ping_interval:
            raise ValueError("ping_timeout must be shorter than ping_interval (websocket-client)")
        self._settings = settings
        self._channel = channel
        self.account = account
        self.topics = tuple(dict.fromkeys(topics))
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._poll = poll_interval
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._stable_after = stable_after
        self._ack_timeout = ack_timeout
        self._labels = {"stream": channel, "account": str(account or "-")}

        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ws: GuardedWebSocket | None = None
        self._gen = 0  # messages from an older socket are ignored
        self._lock = threading.Lock()
        # Per-connection state, reset by _connect_once.
        self._auth_ok: bool | None = None
        self._pending_subs: dict[str, tuple[str, ...]] = {}
        self._sub_error: str | None = None
        self._last_rx = 0.0
        self._last_ping = 0.0
        self._up_since = 0.0
        # Owner-visible state.
        self._connected = threading.Event()
        self.connects = 0
        self.reconnects = 0
        self.failures = 0
        self.callback_errors = 0
        self.unexpected_messages = 0
        self.last_error: str | None = None
        self.auth_refused = False
        self._attempts = 0  # consecutive failures, drives the backoff
        self._next_attempt = 0.0
        self._reconnect_pending = False
        self._next_reconnect_cb = 0.0
        self._reconnect_cb_failures = 0

    # --- owner API ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Authenticated (private) and every topic acknowledged, and still alive."""
        return self._connected.is_set()

    @property
    def generation(self) -> int:
        """Changes whenever a socket is torn down or a new one starts connecting, before
        that socket can deliver anything: an owner that reads the same value before and
        after some work knows no other socket delivered messages meanwhile."""
        return self._gen

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("stream already started")
        name = f"ws-watchdog-{self._channel}-{self.account or 'public'}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._teardown("stopped", count=False)

    def status(self) -> dict[str, Any]:
        """For ``/healthz`` and the listener's status hash."""
        return {
            "connected": self.connected,
            "connects": self.connects,
            "reconnects": self.reconnects,
            "failures": self.failures,
            "callback_errors": self.callback_errors,
            "unexpected_messages": self.unexpected_messages,
            "auth_refused": self.auth_refused,
            "last_error": self.last_error,
            "last_message_age_s": round(time.monotonic() - self._last_rx, 3)
            if self._last_rx
            else None,
        }

    def drop_connection(self) -> None:
        """Close the current socket as if the network did (operators' and tests' lever)."""
        ws = self._ws
        if ws is not None:
            bounded_exit(ws)

    # --- watchdog thread ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # the watchdog itself must outlive any surprise
                log.exception("%s watchdog tick failed", self._describe())
            self._stop.wait(self._poll)

    def _tick(self) -> None:
        now = time.monotonic()
        if self._ws is None:
            if now >= self._next_attempt:
                self._connect_once()
            return
        reason = self._dead_reason(now)
        if reason:
            self._teardown(reason)
            return
        if self._up_since and now - self._up_since >= self._stable_after:
            self._attempts = 0
        if now - self._last_ping >= self._ping_interval:
            self._send_json({"op": "ping"})
            self._last_ping = now
        if self._reconnect_pending and now >= self._next_reconnect_cb:
            self._call_on_reconnect()

    def _dead_reason(self, now: float) -> str | None:
        ws = self._ws
        if ws is None:
            return "no socket"
        if self._auth_ok is False:
            return "auth refused"
        if not ws.is_connected():
            return "disconnected"
        if now - self._last_rx > self._ping_interval + self._ping_timeout:
            return "silent"
        return None

    def _connect_once(self) -> None:
        with self._lock:
            self._gen += 1
            gen = self._gen
            self._auth_ok = None
            self._pending_subs = {}
            self._sub_error = None
        self._last_rx = self._last_ping = time.monotonic()
        try:
            ws = make_websocket(
                self._settings,
                self._channel,
                self.account,
                callback_function=lambda msg: self._route(gen, msg),
                on_rx=self._touch,
                socket_class=GuardedWebSocket,
                # pybit raises on its *last* attempt even when it connected, so 2 means
                # exactly one real attempt; our backoff does the retrying.
                retries=2,
                restart_on_error=False,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout,
                private_auth_expire=5,  # pybit's 1 s expiry fails on slow hosts (pybit #152)
            )
        except Exception as exc:
            self._fail("connect", f"{type(exc).__name__}: {_first_line(exc)}")
            return
        self._ws = ws
        if not self._subscribe(ws) or not self._await_acks(ws):
            reason = "auth refused" if self._auth_ok is False else "subscribe"
            self._teardown(reason)
            return
        self._up_since = time.monotonic()
        self.connects += 1
        if self.connects > 1:
            self.reconnects += 1
        self.auth_refused = False
        self._connected.set()
        WS_CONNECTED.labels(**self._labels).set(1)
        WS_CONNECTS.labels(**self._labels).inc()
        log.info(
            "%s connected (connects=%d, reconnects=%d)",
            self._describe(), self.connects, self.reconnects,
        )  # fmt: skip
        self._reconnect_pending = self._on_reconnect is not None
        self._reconnect_cb_failures = 0
        self._next_reconnect_cb = 0.0
        if self._reconnect_pending:
            self._call_on_reconnect()

    def _subscribe(self, ws: GuardedWebSocket) -> bool:
        topics = list(self.topics)
        for i in range(0, len(topics), _MAX_ARGS_PER_SUBSCRIBE):
            chunk = tuple(topics[i : i + _MAX_ARGS_PER_SUBSCRIBE])
            req_id = str(uuid.uuid4())
            with self._lock:
                # Stored before sending: pybit's store-after-send race is ours to avoid too,
                # since the ack may arrive before send() returns (docs/bybit.md#pybit-sockets).
                self._pending_subs[req_id] = chunk
            if not self._send_json({"op": "subscribe", "req_id": req_id, "args": list(chunk)}):
                return False
        return True

    def _await_acks(self, ws: GuardedWebSocket) -> bool:
        deadline = time.monotonic() + self._ack_timeout
        need_auth = self._channel == "private"
        while time.monotonic() < deadline and not self._stop.is_set():
            with self._lock:
                auth_done = not need_auth or self._auth_ok is True
                if self._auth_ok is False or self._sub_error:
                    return False
                if auth_done and not self._pending_subs:
                    return True
            if not ws.is_connected():
                return False
            time.sleep(0.005)
        if not self._stop.is_set():
            self.last_error = f"no auth/subscribe acknowledgement within {self._ack_timeout:.1f}s"
        return False

    def _call_on_reconnect(self) -> None:
        assert self._on_reconnect is not None
        try:
            self._on_reconnect(self.account)
        except Exception as exc:
            self._reconnect_cb_failures += 1
            delay = _backoff(self._backoff_base, self._backoff_max, self._reconnect_cb_failures)
            self._next_reconnect_cb = time.monotonic() + delay
            log.error(
                "%s on_reconnect failed (%s: %s); retrying in %.1fs",
                self._describe(), type(exc).__name__, _first_line(exc), delay,
            )  # fmt: skip
            return
        self._reconnect_pending = False

    def _teardown(self, reason: str, *, count: bool = True) -> None:
        ws, self._ws = self._ws, None
        with self._lock:
            self._gen += 1  # anything still arriving on the old socket is ignored
        was_up = self._connected.is_set()
        self._connected.clear()
        self._up_since = 0.0
        WS_CONNECTED.labels(**self._labels).set(0)
        if ws is not None:
            bounded_exit(ws)
        if count:
            detail = self.last_error if reason in ("auth refused", "subscribe") else None
            self._fail(reason, detail, was_up=was_up)

    def _fail(self, reason: str, detail: str | None, *, was_up: bool = False) -> None:
        self.failures += 1
        self._attempts += 1
        if reason == "auth refused":
            self.auth_refused = True
        delay = _backoff(self._backoff_base, self._backoff_max, self._attempts)
        self._next_attempt = time.monotonic() + delay
        if detail:
            self.last_error = detail
        elif reason not in ("connect",):
            self.last_error = reason
        WS_FAILURES.labels(reason=reason, **self._labels).inc()
        level = logging.WARNING if was_up else logging.ERROR
        log.log(
            level,
            "%s %s%s; reconnecting in %.2fs (attempt %d)",
            self._describe(), "lost: " if was_up else "failed: ", detail or reason,
            delay, self._attempts,
        )  # fmt: skip

    # --- reader thread ------------------------------------------------------------------

    def _touch(self) -> None:
        self._last_rx = time.monotonic()

    def _send_json(self, message: dict[str, Any]) -> bool:
        ws = self._ws
        try:
            if ws is None or not ws.is_connected():
                return False
            ws.ws.send(json.dumps(message))
            return True
        except Exception as exc:
            log.debug("%s send failed: %s", self._describe(), type(exc).__name__)
            return False

    def _route(self, gen: int, msg: Any) -> None:
        """pybit's ``callback_function``: every parsed frame comes here. Never raises."""
        try:
            if gen != self._gen:
                return
            if not isinstance(msg, dict):
                self._unexpected(msg)
                return
            op = msg.get("op")
            if op == "auth" or msg.get("type") == "AUTH_RESP":
                self._on_auth(msg)
            elif op == "subscribe" or msg.get("type") == "COMMAND_RESP":
                self._on_subscribe_ack(msg)
            elif op in ("pong", "ping", "unsubscribe") or msg.get("ret_msg") == "pong":
                pass
            elif isinstance(msg.get("topic"), str) and msg["topic"] in self.topics:
                self._deliver(msg)
            else:
                self._unexpected(msg)
        except Exception:
            log.exception("%s router failed on a message; dropped", self._describe())

    def _on_auth(self, msg: dict[str, Any]) -> None:
        ok = msg.get("success") is True
        if not ok:
            self.last_error = f"authentication refused: {msg.get('ret_msg') or 'no reason'}"
        with self._lock:
            self._auth_ok = ok

    def _on_subscribe_ack(self, msg: dict[str, Any]) -> None:
        with self._lock:
            chunk = self._pending_subs.pop(str(msg.get("req_id", "")), None)
            if chunk is None and not msg.get("req_id") and self._pending_subs:
                self._pending_subs.pop(next(iter(self._pending_subs)))
            if msg.get("success") is False:
                self._sub_error = f"subscribe refused: {msg.get('ret_msg') or 'no reason'}"
                self.last_error = self._sub_error

    def _deliver(self, msg: dict[str, Any]) -> None:
        try:
            self._on_message(msg)
        except Exception as exc:
            self.callback_errors += 1
            WS_CALLBACK_ERRORS.labels(**self._labels).inc()
            log.error(
                "%s message handler raised %s: %s (message on %s dropped, socket kept)",
                self._describe(), type(exc).__name__, _first_line(exc), msg.get("topic"),
            )  # fmt: skip

    def _unexpected(self, msg: Any) -> None:
        self.unexpected_messages += 1
        WS_UNEXPECTED.labels(**self._labels).inc()
        shape = sorted(msg)[:6] if isinstance(msg, dict) else type(msg).__name__
        log.warning("%s dropped an unexpected message (keys %s)", self._describe(), shape)

    def _describe(self) -> str:
        return f"{self._channel} stream" + (f" [{self.account}]" if self.account else "")


class PrivateStream(_Stream):
    """An account's private topics (``execution``, ``order``, ``position``, ``wallet``)."""

    def __init__(
        self,
        settings: Settings,
        account: AccountName | str,
        topics: Iterable[str],
        on_message: MessageHandler,
        on_reconnect: ReconnectHandler | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            settings, "private", AccountName(account), tuple(topics), on_message, on_reconnect,
            **options,
        )  # fmt: skip


class PublicStream(_Stream):
    """Public market data (``kline.{interval}.{symbol}``, ``tickers.{symbol}``)."""

    def __init__(
        self,
        settings: Settings,
        topics: Iterable[str],
        on_message: MessageHandler,
        on_reconnect: ReconnectHandler | None = None,
        *,
        category: str = "linear",
        **options: Any,
    ) -> None:
        super().__init__(
            settings, category, None, tuple(topics), on_message, on_reconnect, **options
        )


def _backoff(base: float, cap: float, attempt: int) -> float:
    """Equal jitter: never (almost) zero — an immediate reconnect would only be refused
    again — and never synchronised across sockets."""
    return backoff_delay(attempt, base=base, cap=cap, jitter=Jitter.EQUAL)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
