"""Optimisation trials per minute: ``alpha optimize``'s search loop on generated candles.

    .venv/bin/python bench/optimize.py [--bars 20000] [--trials 40] [--type orderblock]

Three figures from one run, same candles, same space, same number of backtests:

* **raw**: the trials' backtests called one after the other in this process
  (``runner.evaluate``, no Optuna, no pool): the limit of one core;
* **--jobs 1** and **--jobs 2**: ``runner.optimise`` as ``alpha optimize`` runs it (TPE
  ask/tell in the parent, backtests in forked worker processes).

``--jobs 2`` over 2 × raw says how much of the second core the search uses; ``--jobs 1``
over raw is the price of Optuna and the process hop. Nothing touches the database (the
trials' storing is one transaction at the end, not per trial).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from decimal import Decimal

from bots.optimize import runner, space
from bots.samples.generate import rows
from core import plugins
from core.candles import candle_from_row

CASES = {
    "orderblock": ("15", "pivot_len=2:10,rr=1:4"),
    "lxalgo": ("5", "stop_loss_pct=2:15,take_profit_pct=5:40"),
    "momentum": ("240", "bb_period=10:40,stop_pct=2:15"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--type", default="orderblock", choices=sorted(CASES))
    args = parser.parse_args()
    interval, spec = CASES[args.type]
    candles = [candle_from_row("BTCUSDT", interval, r) for r in rows(args.bars, interval, seed=7)]
    base: dict[str, object] = {"symbols": ["BTCUSDT"]}
    params = space.parse(spec, plugins.load(args.type).Config)
    job = runner.Job(args.type, "net_pnl", Decimal(10_000), None)
    load = os.getloadavg()[0]

    # raw: the same backtests, sequential, here (the parameters TPE picked at --jobs 1).
    runner._init(job, candles)
    whole = (0, len(candles))

    def search(jobs: int) -> tuple[float, list[dict[str, object]]]:
        t0 = time.perf_counter()
        folds = runner.optimise(
            job, candles, base, params, args.trials, 0, "tpe", jobs, 1,
            lambda c: None, progress=lambda line: None,
        )  # fmt: skip
        elapsed = time.perf_counter() - t0
        return args.trials / elapsed * 60, [t.params for t in folds[0].trials]

    one, picked = search(1)
    t0 = time.perf_counter()
    for p in picked:
        runner.evaluate({**base, **p}, whole)
    raw = len(picked) / (time.perf_counter() - t0) * 60
    two, _ = search(2)
    print(
        f"bot type {args.type}, {len(candles):,} candles per trial, {args.trials} trials,"
        f" space {spec}"
    )
    print(f"load average before → after: {load:.1f} → {os.getloadavg()[0]:.1f}")
    print(f"{'path':<34} {'trials/min':>11}")
    print(f"{'raw (sequential backtests, 1 core)':<34} {raw:>11.1f}")
    print(f"{'alpha optimize --jobs 1':<34} {one:>11.1f}")
    print(
        f"{'alpha optimize --jobs 2':<34} {two:>11.1f}  ({two / (2 * raw) * 100:.0f}% of 2 × raw)"
    )
    print(
        "\nreproduce: .venv/bin/python bench/optimize.py"
        f" --bars {args.bars} --trials {args.trials} --type {args.type}"
    )


if __name__ == "__main__":
    main()
