"""The paper exchange as one object: engine + market + clock + hubs + the aiohttp app.

``PaperExchange(config)`` builds the state (``config.ExchangeConfig``, re-exported
here); ``await exchange.start()`` binds the port (0 picks a free one) and starts the
clock task; ``await exchange.stop()`` undoes both. The handlers see it as a
``host.Host``, so they never import this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any

from aiohttp import web

from paper_exchange.engine.errors import params_error
from paper_exchange.engine.exchange import Engine
from paper_exchange.engine.instruments import DEFAULT_INSTRUMENTS
from paper_exchange.engine.numbers import fmt, parse_int
from paper_exchange.engine.state import empty_page, other_category
from paper_exchange.market.clock import SimClock
from paper_exchange.market.market import Market, MarketConfig
from paper_exchange.server import control
from paper_exchange.server.appkey import EXCHANGE_KEY
from paper_exchange.server.config import AccountSpec, ExchangeConfig
from paper_exchange.server.depth_ids import UpdateIds
from paper_exchange.server.faults import RestFaults
from paper_exchange.server.private_hub import PrivateHub
from paper_exchange.server.ratelimit import RateLimiter
from paper_exchange.server.rest import handle_rest
from paper_exchange.server.ws_private import handle_private
from paper_exchange.server.ws_public import INTERVALS_MS, PUBLIC_HUB_KEY, PublicHub, handle_public

__all__ = ["AccountSpec", "ExchangeConfig", "PaperExchange"]

log = logging.getLogger(__name__)

TICK_SECONDS = 0.1  # how often a live clock catches the market up and pushes public data


class PaperExchange:
    def __init__(self, config: ExchangeConfig) -> None:
        self.config = config
        self.engine = Engine(
            DEFAULT_INSTRUMENTS,
            now=lambda: 0,
            maker_fee=config.maker_fee,
            taker_fee=config.taker_fee,
            funding_rate=config.funding_rate,
            liquidity_profile=config.liquidity,
            depth_usdt=config.depth,
        )
        for spec in config.accounts:
            self.engine.add_account(spec.name, spec.api_key, spec.api_secret, spec.balance)
        self.market = Market(
            self.engine,
            MarketConfig(
                seed=config.seed,
                scenario=config.scenario,
                history_minutes=config.history_minutes,
                market_files=config.market_files,
                start_ms=config.start_ms,
            ),
            now_ms=int(time.time() * 1000),
        )
        self.engine.now = lambda: self.market.now_ms
        self.started_ms = self.market.now_ms  # when the accounts were opened
        self.clock = SimClock(self.market.now_ms, config.speed)
        self.private_hub = PrivateHub(lambda: self.market.now_ms)
        self.engine.sink = self.private_hub
        self.public_hub = PublicHub(self)
        self.depth_ids = UpdateIds()
        self.market.listeners.append(self.public_hub.on_market)
        self.rate_limiter = RateLimiter()
        self.requests: Counter[str] = Counter()
        self.rate_limiter.enabled = config.rate_limits
        self.rest_faults = RestFaults()
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._clock_changed = asyncio.Event()
        self.port: int = 0
        self.background: set[asyncio.Task[object]] = set()

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app[EXCHANGE_KEY] = self  # mypy checks here that this class is a ``host.Host``
        app[PUBLIC_HUB_KEY] = self.public_hub
        app.router.add_get("/v5/private", handle_private)
        app.router.add_get("/v5/public/{category}", handle_public)
        control.add_routes(app)
        app.router.add_route("*", "/{tail:.*}", handle_rest)
        return app

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> int:
        self._clock_changed = asyncio.Event()
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.clock.set(self.market.now_ms)
        self._ticker = asyncio.create_task(self._run_clock())
        return self.port

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for task in list(self.background):
            task.cancel()
        for conn in list(self.private_hub.all_conns):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"server shutdown")
        for pconn in list(self.public_hub.conns):
            with contextlib.suppress(Exception):
                await pconn.ws.close(code=1001, message=b"server shutdown")
        if self._runner is not None:
            await self._runner.cleanup()

    def spawn(self, coro: Coroutine[Any, Any, object]) -> asyncio.Task[object]:
        task: asyncio.Task[object] = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    # -- the clock -----------------------------------------------------------------------

    def clock_changed(self) -> None:
        self._clock_changed.set()

    async def _run_clock(self) -> None:
        while True:
            try:
                speed = self.clock.speed
                if speed is None:
                    self._clock_changed.clear()
                    await self._clock_changed.wait()
                elif speed == 0:
                    # As fast as possible: one market step per loop turn, yielding to I/O.
                    nxt = self.market.next_event_time()
                    self.market.advance_to(nxt)
                    self.clock.set(self.market.now_ms)
                    await asyncio.sleep(0)
                else:
                    self.sync_clock()
                    await asyncio.sleep(TICK_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("paper exchange: clock step failed")
                await asyncio.sleep(TICK_SECONDS)

    def sync_clock(self) -> None:
        """Catch the market up with a live clock (no-op for manual or max-speed clocks)."""
        if self.clock.speed:
            self.market.advance_to(self.clock.target())

    def advance_to(self, target: int) -> None:
        if target < self.market.now_ms:
            raise ValueError(f"the clock cannot go back: now is {self.market.now_ms}")
        self.market.advance_to(target)
        self.clock.set(target)

    # -- market endpoints ------------------------------------------------------------------

    def server_time(self) -> dict[str, object]:
        now = self.market.now_ms
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    def instruments_info(self, p: dict[str, object]) -> dict[str, object]:
        # Spot, inverse and option are real product types with no instrument listed here:
        # an empty list, as a client that loads every category (ccxt) expects.
        if other := other_category(p):
            return empty_page(other)
        symbol = p.get("symbol")
        items = [
            inst.view()
            for inst in self.engine.instruments.values()
            if not symbol or inst.symbol == symbol
        ]
        return {"category": "linear", "list": items, "nextPageCursor": ""}

    def kline(self, p: dict[str, object]) -> dict[str, object]:
        category = p.get("category") or "linear"
        if category != "linear":
            raise params_error("category only support linear")
        symbol = p.get("symbol")
        series = self.market.series.get(str(symbol)) if symbol else None
        if series is None:
            raise params_error(f"symbol invalid: {symbol}")
        interval = str(p.get("interval") or "")
        if interval not in INTERVALS_MS:
            raise params_error(f"interval invalid: {interval}")
        iv = INTERVALS_MS[interval]
        if iv % series.base_ms:
            raise params_error(f"interval {interval} is finer than the market data of {symbol}")
        limit = parse_int(p.get("limit"), "limit", 200)
        if not 1 <= limit <= 1000:
            raise params_error("limit must be in [1, 1000]")
        start = parse_int(p.get("start"), "start") if p.get("start") not in (None, "") else None
        end = parse_int(p.get("end"), "end") if p.get("end") not in (None, "") else None
        inst = series.inst
        rows = []
        for b, o, h, lo, c, v in series.klines(iv, start, end, limit):
            volume = v * inst.qty_step
            close = series.price(c)
            rows.append(
                [
                    str(b),
                    inst.price_str(series.price(o)),
                    inst.price_str(series.price(h)),
                    inst.price_str(series.price(lo)),
                    inst.price_str(close),
                    fmt(volume),
                    fmt(volume * close),
                ]
            )
        return {"category": "linear", "symbol": series.symbol, "list": rows}

    def funding_history(self, p: dict[str, object]) -> dict[str, object]:
        """``/v5/market/funding/history``: the settlements so far, newest first.

        Bybit's rules (docs/bybit.md#funding-rate-history): ``startTime`` alone is an
        error; ``endTime`` alone, or neither, gives up to ``limit`` (≤ 200) rows up to it.
        """
        category = p.get("category")
        if category not in ("linear", "inverse"):
            raise params_error("category only support linear")
        symbol = p.get("symbol")
        if not symbol or str(symbol) not in self.engine.instruments:
            raise params_error(f"symbol invalid: {symbol}")
        limit = parse_int(p.get("limit"), "limit", 200)
        if not 1 <= limit <= 200:
            raise params_error("limit must be in [1, 200]")
        start = parse_int(p.get("startTime"), "startTime", -1)
        end = parse_int(p.get("endTime"), "endTime", -1)
        if start >= 0 and end < 0:
            raise params_error("endTime is required when startTime is given")
        rows = []
        for ts, rate in reversed(self.engine.funding_log):
            if end >= 0 and ts > end:
                continue
            if ts < start:
                break
            rows.append(
                {"symbol": str(symbol), "fundingRate": fmt(rate), "fundingRateTimestamp": str(ts)}
            )
            if len(rows) == limit:
                break
        return {"category": category, "list": rows}

    def ticker(self, symbol: str) -> dict[str, object]:
        series = self.market.series[symbol]
        inst = series.inst
        last = series.last_price
        day = self._window_stats(series, 86_400_000)
        hour_ago = series.bucket(3_600_000, (series.start // 3_600_000 - 1) * 3_600_000)
        prev24 = series.price(day[0]) if day else last
        now = self.market.now_ms
        next_funding = self.market.next_funding_ms
        bids, asks = self.engine.depth[symbol].depth(last, 1, now)
        bid1 = bids[0] if bids else (last - inst.tick_size, Decimal(0))
        ask1 = asks[0] if asks else (last + inst.tick_size, Decimal(0))
        return {
            "symbol": symbol,
            "tickDirection": "PlusTick",
            "price24hPcnt": fmt(round((last - prev24) / prev24, 6)) if prev24 else "0",
            "lastPrice": inst.price_str(last),
            "prevPrice24h": inst.price_str(prev24),
            "highPrice24h": inst.price_str(series.price(day[1])) if day else inst.price_str(last),
            "lowPrice24h": inst.price_str(series.price(day[2])) if day else inst.price_str(last),
            "prevPrice1h": inst.price_str(series.price(hour_ago[4]))
            if hour_ago
            else inst.price_str(last),
            "markPrice": inst.price_str(self.engine.mark_price(symbol)),
            "indexPrice": inst.price_str(self.engine.index_price(symbol)),
            "openInterest": "0",
            "openInterestValue": "0",
            "turnover24h": fmt(day[3] * inst.qty_step * last) if day else "0",
            "volume24h": fmt(day[3] * inst.qty_step) if day else "0",
            "nextFundingTime": str(next_funding),
            "fundingRate": fmt(self.engine.funding_rate),
            "fundingIntervalHour": "8",
            "fundingCap": "0.005",
            "bid1Price": inst.price_str(bid1[0]),
            "bid1Size": inst.qty_str(bid1[1]),
            "ask1Price": inst.price_str(ask1[0]),
            "ask1Size": inst.qty_str(ask1[1]),
            "deliveryTime": "0",
            "basisRate": "",
            "deliveryFeeRate": "",
            "predictedDeliveryPrice": "",
            "basis": "",
            "preOpenPrice": "",
            "preQty": "",
            "curPreListingPhase": "",
            "basisRateYear": "",
        }

    @staticmethod
    def _window_stats(series: object, span: int) -> tuple[int, int, int, int] | None:
        from paper_exchange.market.series import Series

        assert isinstance(series, Series)
        start = series.start - span
        i = 0
        from bisect import bisect_left

        i = bisect_left(series.closed_starts, start)
        rows = series.closed[i:]
        if not rows:
            return None
        high = max(max(r[2] for r in rows), series.high)
        low = min(min(r[3] for r in rows), series.low)
        vol = sum(r[5] for r in rows) + series.volume
        return rows[0][1], high, low, vol

    def tickers(self, p: dict[str, object]) -> dict[str, object]:
        if p.get("category") != "linear":
            raise params_error("category only support linear")
        symbol = p.get("symbol")
        if symbol:
            if symbol not in self.market.series:
                raise params_error(f"symbol invalid: {symbol}")
            symbols = [str(symbol)]
        else:
            symbols = list(self.market.series)
        return {"category": "linear", "list": [self.ticker(s) for s in symbols]}
