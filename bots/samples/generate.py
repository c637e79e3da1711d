"""Deterministic synthetic klines (a seeded random walk with trends, squeezes and pumps).

``python -m bots.samples.generate OUT.csv --bars N --interval 5`` writes a Bybit-style
kline CSV. The series is built to exercise every strategy: slow down-trends (ShortSeller),
sudden pumps (LXAlgo), quiet ranges followed by breakouts (Momentum) and swing pivots
(order blocks). It is not market data and says nothing about profitability.
"""

from __future__ import annotations

import argparse
import random
from decimal import Decimal
from pathlib import Path

from core.candles import INTERVAL_SECONDS

START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def rows(bars: int, interval: str = "5", seed: int = 7, price: float = 100.0) -> list[list[str]]:
    """Kline rows ``[start, open, high, low, close, volume, turnover]`` as strings.

    Float is fine here: it only shapes synthetic test data, which is then written as
    fixed-point strings and read back as Decimal like real exchange data.
    """
    rng = random.Random(seed)
    step_ms = INTERVAL_SECONDS[interval] * 1000
    out: list[list[str]] = []
    drift, vol, regime_left = 0.0, 0.002, 0
    close = price
    for i in range(bars):
        if regime_left <= 0:
            kind = rng.random()
            if kind < 0.35:
                drift, vol = -0.0006, 0.002  # down-trend
            elif kind < 0.6:
                drift, vol = 0.0, 0.0006  # squeeze
            elif kind < 0.8:
                drift, vol = 0.0004, 0.002  # up-trend
            else:
                drift, vol = 0.012, 0.004  # pump
            regime_left = rng.randint(10, 30) if kind >= 0.8 else rng.randint(60, 400)
        regime_left -= 1
        open_ = close
        close = max(0.01, open_ * (1 + drift + rng.gauss(0, vol)))
        high = max(open_, close) * (1 + abs(rng.gauss(0, vol / 2)))
        low = min(open_, close) * (1 - abs(rng.gauss(0, vol / 2)))
        volume = 1000 * (1 + abs(rng.gauss(0, 0.5))) * (4 if abs(drift) > 0.005 else 1)
        q = Decimal("0.0001")
        o, h, lo, c = (Decimal(repr(x)).quantize(q) for x in (open_, high, low, close))
        v = Decimal(repr(volume)).quantize(Decimal("0.001"))
        out.append(
            [
                str(START_MS + i * step_ms),
                str(o),
                str(h),
                str(lo),
                str(c),
                str(v),
                str((v * c).quantize(q)),
            ]
        )
    return out


def write(path: Path, bars: int, interval: str = "5", seed: int = 7) -> Path:
    lines = ["start,open,high,low,close,volume,turnover"]
    lines += [",".join(r) for r in rows(bars, interval, seed)]
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--bars", type=int, default=5000)
    parser.add_argument("--interval", default="5")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    write(args.out, args.bars, args.interval, args.seed)


if __name__ == "__main__":
    main()
