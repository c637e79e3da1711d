"""The exchange client: pybit ``HTTP``/``WebSocket`` for every ``BYBIT_ENV``, kept alive.

* :func:`make_http` — REST session for an account (or ``None`` for market data).
* :class:`PrivateStream` / :class:`PublicStream` — WebSockets under a watchdog.
* :mod:`core.exchange.rest` — paged walks (executions, orders, positions, wallet).
"""

from core.exchange.client import endpoints, make_http, make_websocket
from core.exchange.watchdog import PrivateStream, PublicStream

__all__ = ["PrivateStream", "PublicStream", "endpoints", "make_http", "make_websocket"]
