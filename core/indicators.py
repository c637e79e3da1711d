"""Incremental indicators: O(1) work per closed candle, no DataFrame rebuilds.

Every indicator takes one value (or one candle's numbers) per ``update`` and exposes the
current result as ``value`` (``None`` until it has enough data). Arithmetic is ``Decimal``:
the results are compared against thresholds that decide real orders, and Decimal keeps a
backtest bit-for-bit equal to the live run (measured fast enough: see bench/README.md).

Definitions (docs/strategies.md#rules-every-strategy-follows):

* :class:`EMA` seeds with the SMA of its first ``period`` values, then α = 2/(period+1).
* :class:`RSI` is Wilder's: the first average gain/loss is the mean of the first
  ``period`` changes, then ``avg = (avg·(n−1) + x)/n``.
* :class:`RollingStdev` is the *sample* standard deviation (ddof = 1) unless told otherwise.
* :class:`ATR` is Wilder's average of the true range; the first bar's true range is
  high − low.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


class SMA:
    """Simple moving average over the last ``period`` values (exact running sum)."""

    __slots__ = ("_sum", "_window", "period", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError("period must be ≥ 1")
        self.period = period
        self._window: deque[Decimal] = deque()
        self._sum = ZERO
        self.value: Decimal | None = None

    def update(self, x: Decimal) -> Decimal | None:
        window = self._window
        window.append(x)
        self._sum += x
        if len(window) > self.period:
            self._sum -= window.popleft()
        if len(window) == self.period:
            self.value = self._sum / self.period
        return self.value


class EMA:
    """Exponential moving average seeded with the SMA of the first ``period`` values."""

    __slots__ = ("_alpha", "_count", "_seed", "period", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError("period must be ≥ 1")
        self.period = period
        self._alpha = Decimal(2) / (period + 1)
        self._count = 0
        self._seed = ZERO
        self.value: Decimal | None = None

    def update(self, x: Decimal) -> Decimal | None:
        value = self.value
        if value is not None:
            self.value = value = value + (x - value) * self._alpha
            return value
        self._count += 1
        self._seed += x
        if self._count == self.period:
            self.value = self._seed / self.period
        return self.value


class RSI:
    """Relative strength index with Wilder smoothing.

    :meth:`add` folds a value into the two averages; :attr:`value` derives the index from
    them only when read (a strategy that reads it behind a rarer gate skips a division
    per bar). :meth:`update` is both.
    """

    __slots__ = ("_avg_gain", "_avg_loss", "_count", "_n1", "_prev", "period")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError("period must be ≥ 1")
        self.period = period
        self._n1 = period - 1
        self._prev: Decimal | None = None
        self._count = 0
        self._avg_gain = ZERO
        self._avg_loss = ZERO

    def add(self, x: Decimal) -> None:
        prev = self._prev
        self._prev = x
        if prev is None:
            return
        n = self.period
        if self._count == n:
            # Wilder: avg = (avg·(n−1) + x)/n; the side without a move only decays.
            if x > prev:
                self._avg_gain = (self._avg_gain * self._n1 + (x - prev)) / n
                self._avg_loss = self._avg_loss * self._n1 / n
            elif x < prev:
                self._avg_gain = self._avg_gain * self._n1 / n
                self._avg_loss = (self._avg_loss * self._n1 + (prev - x)) / n
            else:
                self._avg_gain = self._avg_gain * self._n1 / n
                self._avg_loss = self._avg_loss * self._n1 / n
            return
        self._count += 1
        if x > prev:
            self._avg_gain += x - prev
        elif x < prev:
            self._avg_loss += prev - x
        if self._count == n:
            self._avg_gain /= n
            self._avg_loss /= n

    @property
    def value(self) -> Decimal | None:
        if self._count < self.period:
            return None
        if self._avg_loss == 0:
            # No losses in the window: 100, or the neutral 50 for a perfectly flat market.
            return HUNDRED if self._avg_gain > 0 else Decimal(50)
        return HUNDRED - HUNDRED / (ONE + self._avg_gain / self._avg_loss)

    def update(self, x: Decimal) -> Decimal | None:
        self.add(x)
        return self.value


class RollingStdev:
    """Standard deviation of the last ``period`` values (running sums; ``ddof`` 1 = sample)."""

    __slots__ = ("_squares", "_sum", "_sumsq", "_window", "ddof", "period")

    def __init__(self, period: int, ddof: int = 1) -> None:
        if period <= ddof:
            raise ValueError("period must exceed ddof")
        self.period = period
        self.ddof = ddof
        self._window: deque[Decimal] = deque()
        self._squares: deque[Decimal] = deque()  # x², kept so a leaving value costs no product
        self._sum = ZERO
        self._sumsq = ZERO

    def update(self, x: Decimal) -> None:
        window = self._window
        squares = self._squares
        sq = x * x
        window.append(x)
        squares.append(sq)
        if len(window) > self.period:
            self._sum = self._sum + x - window.popleft()
            self._sumsq = self._sumsq + sq - squares.popleft()
        else:
            self._sum += x
            self._sumsq += sq

    @property
    def ready(self) -> bool:
        return len(self._window) == self.period

    @property
    def mean(self) -> Decimal | None:
        return self._sum / self.period if self.ready else None

    @property
    def variance(self) -> Decimal | None:
        if not self.ready:
            return None
        n = self.period
        var = (self._sumsq - self._sum * self._sum / n) / (n - self.ddof)
        # Running sums can leave a rounding residue below zero for a constant series.
        return var if var > 0 else ZERO

    @property
    def value(self) -> Decimal | None:
        var = self.variance
        return None if var is None else var.sqrt()


class Bollinger:
    """Bollinger bands: SMA(period) ± k · sample stdev(period) of the same values."""

    __slots__ = ("_std", "k", "lower", "middle", "std", "upper")

    def __init__(self, period: int = 20, k: Decimal = Decimal(2)) -> None:
        self._std = RollingStdev(period, ddof=1)
        self.k = k
        self.middle: Decimal | None = None
        self.upper: Decimal | None = None
        self.lower: Decimal | None = None
        self.std: Decimal | None = None

    def update(self, x: Decimal) -> Decimal | None:
        """Returns the band width (upper − lower) / middle, ``None`` until ready."""
        s = self._std
        s.update(x)
        if not s.ready:
            return None
        self.middle = middle = s.mean
        self.std = std = s.value
        assert middle is not None and std is not None
        half = std * self.k
        self.upper = middle + half
        self.lower = middle - half
        return (half + half) / middle if middle else None


class ATR:
    """Average true range with Wilder smoothing."""

    __slots__ = ("_count", "_prev_close", "_sum", "period", "value")

    def __init__(self, period: int = 14) -> None:
        self.period = period
        self._prev_close: Decimal | None = None
        self._count = 0
        self._sum = ZERO
        self.value: Decimal | None = None

    def update(self, high: Decimal, low: Decimal, close: Decimal) -> Decimal | None:
        pc = self._prev_close
        tr = high - low
        if pc is not None:
            up = high - pc if high > pc else pc - high
            down = low - pc if low > pc else pc - low
            if up > tr:
                tr = up
            if down > tr:
                tr = down
        self._prev_close = close
        n = self.period
        if self.value is None:
            self._count += 1
            self._sum += tr
            if self._count == n:
                self.value = self._sum / n
        else:
            self.value = (self.value * (n - 1) + tr) / n
        return self.value
