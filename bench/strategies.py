"""Closed candles per second per strategy through the backtest loop.

    .venv/bin/python bench/strategies.py [--bars 200000]

Candles are generated (bots.samples.generate) and parsed to Decimal before timing: the
figure is the strategy (incremental indicators, decisions, trade management) plus the
backtest's fill model and equity curve, not CSV parsing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bots.backtest import Backtest
from bots.samples.generate import rows
from core import plugins
from core.candles import candle_from_row

CASES = {"shortseller": "5", "lxalgo": "5", "momentum": "240", "orderblock": "15"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'bot type':<12} {'candles':>9} {'trades':>7} {'candles/s':>12}")
    for bot_type, interval in CASES.items():
        candles = [
            candle_from_row("BTCUSDT", interval, r) for r in rows(args.bars, interval, seed=7)
        ]
        cls = plugins.load(bot_type)
        config: dict[str, object] = {"symbols": ["BTCUSDT"]}
        best, trades = 0.0, 0
        for _ in range(args.repeat):
            bt = Backtest(cls(config), keep_fills=False)
            t0 = time.perf_counter()
            result = bt.run(candles)
            elapsed = time.perf_counter() - t0
            best = max(best, len(candles) / elapsed)
            trades = len(result.trades)
        print(f"{bot_type:<12} {len(candles):>9} {trades:>7} {best:>12,.0f}")
    cmd = f".venv/bin/python bench/strategies.py --bars {args.bars} --repeat {args.repeat}"
    print(f"\nreproduce: {cmd}")


if __name__ == "__main__":
    main()
