"""Index and mark price, derived from the last price the way Bybit describes them.

On Bybit the index price is a spot price index over other exchanges, and a perpetual's
mark price is that index plus a basis (Bybit's "Mark Price Calculation (Perpetual
Contract)" help article)::

    mark   = median(price1, price2, last traded price)
    price1 = index * (1 + last funding rate * time until funding / 8 h)
    price2 = index + moving average of the basis (mid price - index), over 5 minutes

Mark price values unrealised P&L, triggers liquidation and, when asked, conditional
orders; last price cannot move it alone, which is the point of the dual-price
mechanism.

The paper exchange has no spot markets, so its index is a reference that follows the
last price with a lag: a time-weighted exponential average of it (``INDEX_LAG_MS``).
The basis average is a time-weighted exponential average too, over a window of the
same mean age as Bybit's 5-minute average, and the mid price is the last price (the
synthetic book is centred on it). Both use only prices and simulated times, so they
are as deterministic as the market under its seed: a sudden trade moves the last price
at once, the index over seconds, and the mark, being a median, only as far as the
index and basis carry it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from paper_exchange.engine.numbers import ZERO

#: Mean lag of the index behind the last price, in simulated milliseconds.
INDEX_LAG_MS = 10_000
#: Mean age of a 5-minute moving average's samples.
BASIS_LAG_MS = 150_000
FUNDING_INTERVAL_MS = 8 * 3_600_000


def _weight(elapsed_ms: int, lag_ms: int) -> Decimal:
    """How far an exponential average moves toward a new sample after ``elapsed_ms``:
    ``dt / (dt + lag)``, the rational form of ``1 - exp(-dt / lag)`` (exact in Decimal,
    the same on every machine, 0 for no time and toward 1 for long gaps)."""
    if elapsed_ms <= 0:
        return ZERO
    return Decimal(elapsed_ms) / Decimal(elapsed_ms + lag_ms)


def _median(a: Decimal, b: Decimal, c: Decimal) -> Decimal:
    return max(min(a, b), min(max(a, b), c))


@dataclass
class MarkIndex:
    """One symbol's index and mark, moved by each trade of the market."""

    tick: Decimal
    last: Decimal
    index_raw: Decimal
    basis_avg: Decimal = ZERO
    updated_ms: int = 0
    funding_rate: Decimal = ZERO
    #: (time, mark) of the last ``mark`` call: every fill and view asks, trades are rarer.
    _cached: tuple[int, Decimal] | None = None

    @classmethod
    def start(cls, tick: Decimal, last: Decimal, now_ms: int) -> MarkIndex:
        """At rest: index and mark equal the last price."""
        return cls(tick=tick, last=last, index_raw=last, updated_ms=now_ms)

    def on_trade(self, last: Decimal, now_ms: int, funding_rate: Decimal) -> None:
        """The market traded at ``last`` at ``now_ms``: the averages take in the time
        since the previous trade (at the previous price: it held until now), then the
        new price is the one they move toward from here."""
        elapsed = now_ms - self.updated_ms
        if elapsed > 0:
            self.index_raw += (self.last - self.index_raw) * _weight(elapsed, INDEX_LAG_MS)
            basis = self.last - self.index_raw
            self.basis_avg += (basis - self.basis_avg) * _weight(elapsed, BASIS_LAG_MS)
            self.updated_ms = now_ms
        self.last = last
        self.funding_rate = funding_rate
        self._cached = None

    @property
    def index(self) -> Decimal:
        return self._to_tick(self.index_raw)

    def mark(self, now_ms: int) -> Decimal:
        if self._cached is not None and self._cached[0] == now_ms:
            return self._cached[1]
        until_funding = FUNDING_INTERVAL_MS - now_ms % FUNDING_INTERVAL_MS
        price1 = self.index_raw * (
            1 + self.funding_rate * Decimal(until_funding) / FUNDING_INTERVAL_MS
        )
        price2 = self.index_raw + self.basis_avg
        mark = self._to_tick(_median(price1, price2, self.last))
        self._cached = (now_ms, mark)
        return mark

    def _to_tick(self, price: Decimal) -> Decimal:
        return (price / self.tick).quantize(Decimal(1), ROUND_HALF_EVEN) * self.tick


class MarkPrices(Mapping[str, Decimal]):
    """Every symbol's mark price now, read-only, where views want a price per symbol."""

    def __init__(self, marks: dict[str, MarkIndex], now: Callable[[], int]) -> None:
        self._marks = marks
        self._now = now

    def __getitem__(self, symbol: str) -> Decimal:
        return self._marks[symbol].mark(self._now())

    def __iter__(self) -> Iterator[str]:
        return iter(self._marks)

    def __len__(self) -> int:
        return len(self._marks)
