"""One authenticated private WebSocket per configured account.

The socket itself is ``core.exchange.watchdog.PrivateStream``: it rebuilds dead pybit
sockets with backoff, never lets a callback exception kill one, and calls
``on_reconnect`` after every (re)connect — here, the trigger of the account's catch-up,
because from that moment the socket delivers what the REST catch-up may have missed.

The message callback runs on pybit's reader thread, so it does the least possible: wrap
the message in an :class:`Envelope` and enqueue it for the writer. It never waits on
the database (a slow commit must not stall the reader and cost a ping timeout).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.config import Settings
from core.exchange.watchdog import PrivateStream
from core.ids import AccountName
from websocket_listener import metrics
from websocket_listener.envelope import Envelope

TOPICS = ("execution", "order", "wallet", "position")


class AccountStream:
    """The private stream of one account, feeding the writer."""

    def __init__(
        self,
        settings: Settings,
        account: str,
        on_message: Callable[[Envelope], None],
        on_connected: Callable[[str], None],
        **options: Any,
    ) -> None:
        self.account = account
        self._on_message = on_message
        self._on_connected = on_connected
        self.last_message_at = 0.0
        options.setdefault("ping_interval", 10.0)
        options.setdefault("ping_timeout", 5.0)
        self.stream = PrivateStream(
            settings, account, TOPICS, self._message, self._reconnected, **options
        )

    def start(self) -> None:
        self.stream.start()

    def stop(self) -> None:
        self.stream.stop()

    @property
    def connected(self) -> bool:
        return self.stream.connected

    @property
    def generation(self) -> int:
        return self.stream.generation

    def _message(self, message: dict[str, Any]) -> None:
        self.last_message_at = time.time()
        self._on_message(Envelope.from_ws(self.account, message))

    def _reconnected(self, _account: AccountName | None) -> None:
        metrics.RECONNECTS.labels(self.account).inc()
        self._on_connected(self.account)
