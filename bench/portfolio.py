"""Candles per second of a 10-symbol portfolio backtest from the market data store.

    .venv/bin/python bench/portfolio.py [--symbols 10] [--bars 20000] [--type orderblock]

Starts its own PostgreSQL roles, scratch database and PgBouncer (the test harness's
``ServiceStack``; nothing shared is touched), stores ``--bars`` generated closed candles
per symbol in ``market.candles`` as the owner, then measures, best of ``--repeat``:

* **raw**: reading the same candles back from the store alone, as ``alpha backtest
  --from-store`` reads them (``market_data.store.read_candles`` per symbol, as the
  readonly role through PgBouncer, merged by time): the limit of the whole path;
* **loop**: the backtest over the candles already in memory, one portfolio (one
  equity, bars interleaved by time) with the host's rules (risk gate, loss limits,
  universe) as ``alpha backtest`` runs it, and without them;
* **from the store**: read + backtest, end to end;
* for scale, the same number of candles of **one symbol** through the same loop (no
  store, no rules): what ``bench/strategies.py`` measures per bot.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bots.backtest import Backtest
from bots.backtest.rules import HostRules
from bots.samples.generate import rows
from core import plugins
from core.candles import Candle, candle_from_row
from core.config import Role
from core.risk import RiskLimits
from market_data import store
from tests.harness.services import ServiceStack

INTERVALS = {"orderblock": "15", "momentum": "240", "lxalgo": "5", "shortseller": "5"}
#: The host's limits the "with rules" loop runs under: every check is evaluated on every
#: bar and intent, and the limits are wide enough never to refuse, so both loops make
#: the same trades (printed) and the difference is the rules' cost alone.
LIMITS = {
    "max_notional_per_symbol": "1000000000",
    "max_total_notional": "10000000000",
    "max_open_positions": 1000,
    "max_daily_loss_pct": "99.99",
    "max_drawdown_pct": "99.99",
}


def read_store(stack: ServiceStack, name: str, symbols: list[str], interval: str) -> list[Candle]:
    start, end = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    candles: list[Candle] = []
    with stack.connect(name, Role.READONLY) as conn:
        for symbol in symbols:
            candles += store.read_candles(conn, "paper", symbol, interval, start, end)
    candles.sort(key=lambda c: (c.start, c.symbol))
    return candles


def backtest(bot_type: str, symbols: list[str], interval: str, rules: bool) -> Backtest:
    cls = plugins.load(bot_type)
    config = plugins.validate_config(bot_type, {"symbols": symbols, "interval": interval})
    strategy = cls(config)
    host = HostRules(strategy, RiskLimits.model_validate(LIMITS)) if rules else None
    return Backtest(strategy, keep_fills=False, rules=host)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--bars", type=int, default=20_000, help="bars per symbol")
    parser.add_argument("--type", default="orderblock", choices=sorted(INTERVALS))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    interval = INTERVALS[args.type]
    symbols = [f"S{i:02d}USDT" for i in range(args.symbols)]

    stack = ServiceStack.start()
    name = stack.create_database()
    try:
        t = time.perf_counter()
        with stack.connect(name, Role.OWNER, direct=True) as conn:
            for i, symbol in enumerate(symbols):
                bars = [
                    candle_from_row(symbol, interval, r)
                    for r in rows(args.bars, interval, seed=11 + i, price=50.0 + 10 * i)
                ]
                for page in range(0, len(bars), 1000):
                    store.upsert_candles(conn, "paper", bars[page : page + 1000])
            conn.commit()
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE market.candles")
        total = args.symbols * args.bars
        print(
            f"stored {total:,} candles ({args.symbols} symbols) in {time.perf_counter() - t:.1f} s"
        )

        def best(label: str, fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
            rate, out = 0.0, None
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                out = fn()
                rate = max(rate, total / (time.perf_counter() - t0))
            print(f"{label:<44} {rate:>12,.0f} candles/s")
            return rate, out

        raw, candles = best("raw: read from the store alone", lambda: read_store(
            stack, name, symbols, interval))  # fmt: skip
        assert isinstance(candles, list) and len(candles) == total
        _, result = best(
            f"loop: {args.type} portfolio, host rules",
            lambda: backtest(args.type, symbols, interval, True).run(candles),
        )
        _, bare = best(
            f"loop: {args.type} portfolio, no host rules",
            lambda: backtest(args.type, symbols, interval, False).run(candles),
        )
        same = len(bare.trades) == len(result.trades)  # type: ignore[attr-defined]
        assert same, "the wide limits refused something: the loops are not comparable"
        end, _ = best(
            "from the store: read + loop (host rules)",
            lambda: backtest(args.type, symbols, interval, True).run(
                read_store(stack, name, symbols, interval)
            ),
        )
        single = [
            candle_from_row(symbols[0], interval, r)
            for r in rows(total, interval, seed=11, price=50.0)
        ]
        best(
            f"loop: {args.type}, one symbol, {total:,} candles",
            lambda: backtest(args.type, symbols[:1], interval, False).run(single),
        )
        trades = len(result.trades)  # type: ignore[attr-defined]
        print(f"\n{trades} round trips; end to end is {end / raw:.0%} of the raw read's rate")
        print(
            "reproduce: .venv/bin/python bench/portfolio.py "
            f"--symbols {args.symbols} --bars {args.bars} --type {args.type} --repeat {args.repeat}"
        )
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
