"""``alpha backtest``: run a bot type over a CSV of closed candles."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal, InvalidOperation

from core.cli import Cli
from core.errors import UserError


def _backtest(args: argparse.Namespace) -> int:
    from bots.backtest import Backtest, BacktestResult
    from core import plugins
    from core.candles import INTERVAL_SECONDS, read_csv

    try:
        overrides = json.loads(args.config) if args.config else {}
    except json.JSONDecodeError as exc:
        raise UserError(f"--config is not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(overrides, dict):
        raise UserError("--config must be a JSON object, e.g. '{\"pivot_len\": 3}'")
    cls = plugins.load(args.type)
    overrides.setdefault("symbols", [args.symbol])
    if args.interval is not None:
        if args.interval not in INTERVAL_SECONDS:
            known = ", ".join(INTERVAL_SECONDS)
            raise UserError(f"--interval {args.interval!r} is not a Bybit interval ({known})")
        overrides["interval"] = args.interval
    if args.type == "shortseller" and "exits" not in overrides:
        # The per-asset exit table has rows for BTC/ETH/SOL only; other symbols reuse BTC's.
        from bots.shortseller.config import DEFAULT_EXITS

        overrides["exits"] = {
            s: DEFAULT_EXITS.get(s, DEFAULT_EXITS["BTCUSDT"]) for s in overrides["symbols"]
        }
    config = plugins.validate_config(args.type, overrides)
    try:
        equity = Decimal(args.equity)
    except InvalidOperation:
        raise UserError(f"--equity {args.equity!r} is not a number") from None
    candles = read_csv(args.candles, args.symbol, config.interval)  # type: ignore[attr-defined]
    if not candles:
        raise UserError(f"{args.candles}: no candles")
    result: BacktestResult = Backtest(cls(config), initial_equity=equity).run(candles)
    _print(result, args.symbol, args.type, quiet=args.quiet)
    return 0


def _print(r: object, symbol: str, bot_type: str, quiet: bool) -> None:
    from bots.backtest import BacktestResult

    assert isinstance(r, BacktestResult)
    if not quiet:
        print(
            f"{'opened (UTC)':<17} {'closed (UTC)':<17} {'side':<4} {'qty':>12} "
            f"{'entry':>12} {'exit':>12} {'pnl':>12} exit"
        )
        for t in r.trades:
            print(
                f"{t.opened:%Y-%m-%d %H:%M} {t.closed:%Y-%m-%d %H:%M} {t.side:<4} {t.qty:>12} "
                f"{t.entry_price:>12.6g} {t.exit_price:>12.6g} {t.pnl:>12.4f} "
                f"{t.exit_reason.long_name}"
            )
        print()
    win = "n/a" if r.win_rate is None else f"{r.win_rate * 100:.1f}%"
    print(f"bot type      {bot_type} on {symbol}, {r.candles} candles")
    print(f"trades        {len(r.trades)}")
    print(
        f"net P&L       {r.net_pnl:.4f}  "
        f"({r.net_pnl / r.initial_equity * 100:.2f}% of {r.initial_equity})"
    )
    print(f"win rate      {win}")
    print(f"max drawdown  {r.max_drawdown:.4f}  ({r.max_drawdown_pct:.2f}%)")
    print(f"fees          {r.fees:.4f}")


def register(cli: Cli) -> None:
    p = cli.command(
        None,
        "backtest",
        "run a bot type's strategy code over a CSV of closed candles and print its trades",
        _backtest,
    )
    p.add_argument(
        "type", metavar="TYPE", help="bot type, e.g. shortseller, lxalgo, momentum, orderblock"
    )
    p.add_argument(
        "--candles",
        required=True,
        metavar="FILE.csv",
        help="columns start,open,high,low,close,volume,turnover; start in ms",
    )
    p.add_argument("--symbol", default="BTCUSDT", help="symbol of the candles (default BTCUSDT)")
    p.add_argument("--config", metavar="JSON", help="config overrides as a JSON object")
    p.add_argument(
        "--interval",
        metavar="N",
        help="candle interval in Bybit spelling (default: the bot type's)",
    )
    p.add_argument("--equity", default="10000", help="initial equity in USDT (default 10000)")
    p.add_argument("--quiet", action="store_true", help="print the summary only")
