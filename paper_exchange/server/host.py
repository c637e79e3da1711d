"""What the request handlers need of the running exchange, as a Protocol.

Why: the handlers (``rest``, ``control``, ``depth``, ``ws_private``, ``ws_public``,
``account_info``) used to name ``app.PaperExchange`` for their type hints while ``app``
imports every handler to build its routes: an import cycle, hidden only by
``TYPE_CHECKING``. They now depend on this Protocol, and this module depends only on
the parts of the exchange that import no handler (engine, market, clock, the private
hub, the rate limiter, the faults, the configuration). ``app.PaperExchange`` satisfies
it structurally; mypy checks that where the app stores itself under ``EXCHANGE_KEY``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from typing import Any, Protocol

from paper_exchange.engine.exchange import Engine
from paper_exchange.market.clock import SimClock
from paper_exchange.market.market import Market
from paper_exchange.server.config import ExchangeConfig
from paper_exchange.server.depth_ids import UpdateIds
from paper_exchange.server.faults import RestFaults
from paper_exchange.server.private_hub import PrivateHub
from paper_exchange.server.ratelimit import RateLimiter

Params = dict[str, object]


class Host(Protocol):
    config: ExchangeConfig
    engine: Engine
    market: Market
    clock: SimClock
    private_hub: PrivateHub
    depth_ids: UpdateIds
    rate_limiter: RateLimiter
    rest_faults: RestFaults
    #: When the accounts were opened (simulated ms).
    started_ms: int
    #: REST requests served per path, so tests can count what a client asked.
    requests: Counter[str]

    def spawn(self, coro: Coroutine[Any, Any, object]) -> asyncio.Task[object]: ...

    def clock_changed(self) -> None: ...

    def sync_clock(self) -> None: ...

    def advance_to(self, target: int) -> None: ...

    def server_time(self) -> dict[str, object]: ...

    def instruments_info(self, p: Params) -> dict[str, object]: ...

    def kline(self, p: Params) -> dict[str, object]: ...

    def funding_history(self, p: Params) -> dict[str, object]: ...

    def ticker(self, symbol: str) -> dict[str, object]: ...

    def tickers(self, p: Params) -> dict[str, object]: ...
