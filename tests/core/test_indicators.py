"""Incremental indicators against straightforward, non-incremental reference formulas."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from decimal import Decimal

import pytest

from core.indicators import ATR, EMA, RSI, SMA, Bollinger, RollingStdev

rng = random.Random(42)
PRICES = [
    Decimal(str(round(100 + 10 * math.sin(i / 7) + rng.uniform(-2, 2), 2))) for i in range(300)
]


def close_to(a: Decimal | None, b: Decimal, tol: str = "1e-18") -> bool:
    assert a is not None
    return abs(a - b) <= Decimal(tol) * max(Decimal(1), abs(b))


def test_sma_matches_window_mean() -> None:
    sma = SMA(20)
    for i, p in enumerate(PRICES):
        value = sma.update(p)
        if i < 19:
            assert value is None
        else:
            assert value == sum(PRICES[i - 19 : i + 1]) / 20


def test_ema_seeds_with_sma_then_recurses() -> None:
    period = 10
    ema = EMA(period)
    values = [ema.update(p) for p in PRICES]
    assert values[: period - 1] == [None] * (period - 1)
    ref = sum(PRICES[:period]) / period
    assert values[period - 1] == ref
    alpha = Decimal(2) / (period + 1)
    for i in range(period, len(PRICES)):
        ref = alpha * PRICES[i] + (1 - alpha) * ref
        assert close_to(values[i], ref)


def test_ema_known_value() -> None:
    # EMA(3) of 1..6: seed mean(1,2,3)=2, then 3, 4, 5 (α = 0.5): 2 + (4-2)/2 = 3 …
    ema = EMA(3)
    out = [ema.update(Decimal(x)) for x in range(1, 7)]
    assert out == [None, None, Decimal(2), Decimal(3), Decimal(4), Decimal(5)]


def rsi_reference(prices: list[Decimal], n: int) -> list[Decimal | None]:
    changes = [b - a for a, b in itertools.pairwise(prices)]
    out: list[Decimal | None] = [None] * (n + 1)
    gain = sum(max(c, Decimal(0)) for c in changes[:n]) / n
    loss = sum(max(-c, Decimal(0)) for c in changes[:n]) / n
    out[n] = 100 - 100 / (1 + gain / loss)
    for c in changes[n:]:
        gain = (gain * (n - 1) + max(c, Decimal(0))) / n
        loss = (loss * (n - 1) + max(-c, Decimal(0))) / n
        out.append(100 - 100 / (1 + gain / loss))
    return out


@pytest.mark.parametrize("period", [14, 84])
def test_rsi_wilder_matches_reference(period: int) -> None:
    rsi = RSI(period)
    got = [rsi.update(p) for p in PRICES]
    ref = rsi_reference(PRICES, period)
    for g, r in zip(got, ref, strict=True):
        if r is None:
            assert g is None
        else:
            assert close_to(g, r, "1e-20")


def test_rsi_known_value_wilder_textbook() -> None:
    # Wilder's classic 14-period example (New Concepts, 1978) as reproduced by StockCharts:
    closes = [
        "44.34", "44.09", "44.15", "43.61", "44.33", "44.83", "45.10", "45.42", "45.84",
        "46.08", "45.89", "46.03", "45.61", "46.28", "46.28", "46.00", "46.03", "46.41",
    ]  # fmt: skip
    rsi = RSI(14)
    out = [rsi.update(Decimal(c)) for c in closes]
    assert round(out[14], 2) == Decimal("70.46")  # type: ignore[arg-type]
    assert round(out[15], 2) == Decimal("66.25")  # type: ignore[arg-type]


def test_rsi_all_gains_is_100_and_flat_is_50() -> None:
    up, flat = RSI(3), RSI(3)
    for x in range(6):
        up.update(Decimal(x))
        flat.update(Decimal(1))
    assert up.value == 100 and flat.value == 50


def test_rolling_stdev_matches_statistics() -> None:
    s, pop = RollingStdev(144), RollingStdev(30, ddof=0)
    returns = [b / a - 1 for a, b in itertools.pairwise(PRICES)]
    for i, r in enumerate(returns):
        s.update(r)
        pop.update(r)
        if i >= 143:
            ref = Decimal(str(statistics.stdev(float(x) for x in returns[i - 143 : i + 1])))
            assert close_to(s.value, ref, "1e-12")
        if i >= 29:
            ref = Decimal(str(statistics.pstdev(float(x) for x in returns[i - 29 : i + 1])))
            assert close_to(pop.value, ref, "1e-12")


def test_rolling_stdev_constant_series_is_zero() -> None:
    s = RollingStdev(5)
    for _ in range(50):
        s.update(Decimal("0.1"))
    assert s.value == 0


def test_bollinger_uses_sample_stdev() -> None:
    bb = Bollinger(20, Decimal(2))
    for i, p in enumerate(PRICES):
        width = bb.update(p)
        if i < 19:
            assert width is None
            continue
        window = PRICES[i - 19 : i + 1]
        mid = sum(window) / 20
        sd = (sum((x - mid) ** 2 for x in window) / 19).sqrt()
        assert close_to(bb.middle, mid)
        assert close_to(bb.upper, mid + 2 * sd, "1e-20")
        assert close_to(bb.lower, mid - 2 * sd, "1e-20")
        assert close_to(width, 4 * sd / mid, "1e-20")


def test_atr_wilder_matches_reference() -> None:
    bars = [(p + Decimal("1.5"), p - Decimal("1.25"), p) for p in PRICES]
    atr = ATR(14)
    got = [atr.update(h, lo, c) for h, lo, c in bars]
    trs = [bars[0][0] - bars[0][1]]
    for (h, lo, _c), (_ph, _pl, pc) in zip(bars[1:], bars, strict=False):
        trs.append(max(h - lo, abs(h - pc), abs(lo - pc)))
    ref = sum(trs[:14]) / 14
    assert got[12] is None and got[13] == ref
    for i in range(14, len(bars)):
        ref = (ref * 13 + trs[i]) / 14
        assert close_to(got[i], ref)
