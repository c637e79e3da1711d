"""One symbol's candles: closed history, the forming candle and its intra-candle path.

Prices are integer ticks. Each base candle is walked as four points: open at the start,
then low and high (a rising candle) or high and low (a falling one) at one and two thirds,
then the close just before the end; every point is a trade the engine matches against.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from paper_exchange.engine.instruments import Instrument
from paper_exchange.market.generator import Candle

KlineRow = tuple[int, int, int, int, int, int]  # start, open, high, low, close, volume


class CandleSource(Protocol):
    def next_candle(self, index: int, start: int, open_ticks: int) -> Candle: ...


class Series:
    def __init__(
        self,
        inst: Instrument,
        base_ms: int,
        source: CandleSource,
        first_start: int,
        first_open_ticks: int,
    ) -> None:
        self.inst = inst
        self.symbol = inst.symbol
        self.base_ms = base_ms
        self.source = source
        self.closed_starts: list[int] = []
        self.closed: list[KlineRow] = []
        self._agg_cache: dict[tuple[int, int], KlineRow] = {}
        self._index = 0
        self.start = first_start
        self._open_candle(first_open_ticks)

    # -- the forming candle ------------------------------------------------------------

    def _open_candle(self, open_ticks: int) -> None:
        o, h, lo, c, v = self.source.next_candle(self._index, self.start, open_ticks)
        third = self.base_ms // 3
        first, second = (lo, h) if c >= o else (h, lo)
        share = max(v // 3, 0)
        self.plan: list[tuple[int, int, int]] = [
            (0, o, 0),
            (third, first, share),
            (2 * third, second, share),
            (self.base_ms - 1, c, v - 2 * share),
        ]
        self._next = 0
        self.open = self.high = self.low = self.last = o
        self.volume = 0

    def _close_candle(self) -> None:
        self.closed_starts.append(self.start)
        self.closed.append((self.start, self.open, self.high, self.low, self.last, self.volume))
        self._index += 1
        self.start += self.base_ms
        self._open_candle(self.last)

    def next_point_time(self) -> int:
        if self._next < len(self.plan):
            return self.start + self.plan[self._next][0]
        return self.start + self.base_ms  # the next candle's open

    def step(self, on_trade: Callable[[int, int, int], None]) -> None:
        """Play the next point (closing the candle first when it is complete); the
        callback gets its time, price and traded volume (ticks and qty steps)."""
        if self._next >= len(self.plan):
            self._close_candle()
        offset, price, vol = self.plan[self._next]
        self._next += 1
        self._trade(price, vol)
        on_trade(self.start + offset, price, vol)

    def _trade(self, price: int, vol: int) -> None:
        self.last = price
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.volume += vol

    def force_price(self, price: int) -> None:
        """A control-API trade at ``price``: the rest of this candle stays at that price."""
        self._trade(price, 0)
        self.plan = [
            *self.plan[: self._next],
            *((o, price, v) for o, _p, v in self.plan[self._next :]),
        ]

    # -- prices ------------------------------------------------------------------------

    def price(self, ticks: int) -> Decimal:
        return ticks * self.inst.tick_size

    @property
    def last_price(self) -> Decimal:
        return self.price(self.last)

    # -- aggregation ---------------------------------------------------------------------

    def bucket(self, interval_ms: int, bucket_start: int) -> KlineRow | None:
        """The aggregated candle starting at ``bucket_start`` (forming if not yet closed)."""
        end = bucket_start + interval_ms
        closed_bucket = end <= self.start
        key = (interval_ms, bucket_start)
        if closed_bucket:
            cached = self._agg_cache.get(key)
            if cached is not None:
                return cached
        i = bisect_left(self.closed_starts, bucket_start)
        o = h = lo = c = None
        vol = 0
        n = len(self.closed)
        while i < n and self.closed[i][0] < end:
            _s, co, ch, cl, cc, cv = self.closed[i]
            if o is None:
                o, h, lo = co, ch, cl
            else:
                h = max(h, ch)  # type: ignore[type-var]
                lo = min(lo, cl)  # type: ignore[type-var]
            c = cc
            vol += cv
            i += 1
        if not closed_bucket and bucket_start <= self.start < end:
            if o is None:
                o, h, lo = self.open, self.high, self.low
            else:
                h = max(h, self.high)  # type: ignore[type-var]
                lo = min(lo, self.low)  # type: ignore[type-var]
            c = self.last
            vol += self.volume
        if o is None:
            return None
        row = (bucket_start, o, h, lo, c, vol)
        if closed_bucket:
            self._agg_cache[key] = row  # type: ignore[assignment]
        return row  # type: ignore[return-value]

    def klines(
        self, interval_ms: int, start: int | None, end: int | None, limit: int
    ) -> list[KlineRow]:
        """Newest first, the forming candle included, like ``/v5/market/kline``."""
        newest = (self.start // interval_ms) * interval_ms
        if end is not None:
            newest = min(newest, (end // interval_ms) * interval_ms)
        oldest_data = self.closed_starts[0] if self.closed_starts else self.start
        floor = max(oldest_data - oldest_data % interval_ms, start or 0)
        rows: list[KlineRow] = []
        b = newest
        while b >= floor and len(rows) < limit:
            row = self.bucket(interval_ms, b)
            if row is not None and (start is None or b >= start):
                rows.append(row)
            b -= interval_ms
        return rows
