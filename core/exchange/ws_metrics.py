"""The Prometheus metrics of the exchange WebSocket streams (see ``watchdog``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

WS_CONNECTED = Gauge(
    "alpha_exchange_ws_connected", "1 while the stream is authenticated and subscribed",
    ["stream", "account"],
)  # fmt: skip
WS_CONNECTS = Counter(
    "alpha_exchange_ws_connects", "Successful (re)connects", ["stream", "account"]
)
WS_FAILURES = Counter(
    "alpha_exchange_ws_failures",
    "Connections that failed or died, by reason",
    ["stream", "account", "reason"],
)
WS_CALLBACK_ERRORS = Counter(
    "alpha_exchange_ws_callback_errors", "Owner callbacks that raised", ["stream", "account"]
)
WS_UNEXPECTED = Counter(
    "alpha_exchange_ws_unexpected_messages",
    "Messages dropped because they had no subscribed topic",
    ["stream", "account"],
)
