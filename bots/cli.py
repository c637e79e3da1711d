"""``alpha backtest``: run a bot type over closed candles from a CSV or the market data
store, optionally storing the run; ``alpha backtest list|show|compare`` read stored runs
(docs/research.md)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from decimal import Decimal, InvalidOperation

from core.candles import Candle
from core.cli import Cli
from core.errors import UserError


def _backtest(args: argparse.Namespace) -> int:
    from datetime import UTC

    from bots.backtest import Backtest, BacktestResult
    from bots.backtest.commands import STORED_RUN_COMMANDS, run_stored_command, save
    from bots.backtest.rules import HostRules
    from core import plugins
    from core.candles import INTERVAL_SECONDS, read_csv
    from core.risk import split_config

    if args.type in STORED_RUN_COMMANDS:
        return run_stored_command(args)
    if args.chart is not None:
        raise UserError("--chart draws a stored run: alpha backtest show ID --chart FILE.png")
    if args.ids:
        raise UserError(f"unexpected argument(s) after the bot type: {' '.join(args.ids)}")
    if args.candles is None and args.from_store is None:
        raise UserError("say where the candles are: --candles FILE.csv or --from-store SYMBOL")

    try:
        overrides = json.loads(args.config) if args.config else {}
    except json.JSONDecodeError as exc:
        raise UserError(f"--config is not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(overrides, dict):
        raise UserError("--config must be a JSON object, e.g. '{\"pivot_len\": 3}'")
    try:
        # The host's part ("risk" limits, "notify") is the host's, as in a registration.
        overrides, limits = split_config(overrides)
    except ValueError as exc:
        raise UserError(f"--config risk: {_first_error(exc)}") from None
    cls = plugins.load(args.type)
    symbols = [args.symbol]
    if args.from_store is not None:
        from market_data.cli import parse_symbols

        symbols = parse_symbols(args.from_store)
        if args.start is None or args.end is None:
            raise UserError("--from-store needs --from and --to")
    elif args.start is not None or args.end is not None:
        raise UserError("--from and --to select candles from the store: use --from-store")
    symbol = ",".join(symbols)
    overrides.setdefault("symbols", symbols)
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
    interval: str = config.interval  # type: ignore[attr-defined]
    funding: dict[str, list[tuple[datetime, Decimal]]] | None = None
    strategy = cls(config)
    warm: list[Candle] = []
    if args.from_store is not None:
        # Several symbols are one portfolio: one equity, bars interleaved by time as the
        # live host receives them, each symbol charged its own funding.
        candles, rates_of = [], {}
        for name in symbols:
            found, rates = _stored_candles(name, interval, str(args.start), str(args.end))
            candles += found
            if rates and not args.no_funding:
                rates_of[name] = rates
            if not args.no_warmup:
                warm += _stored_warmup(name, interval, found[0].start, strategy.warmup_bars)
        candles.sort(key=lambda c: (c.start, c.symbol))
        warm.sort(key=lambda c: (c.start, c.symbol))
        funding = rates_of or None
    else:
        candles = read_csv(args.candles, symbol, interval)
        if not candles:
            raise UserError(f"{args.candles}: no candles")
    rules = HostRules(strategy, limits)
    started = datetime.now(UTC)
    result: BacktestResult = Backtest(
        strategy, initial_equity=equity, funding=funding, rules=rules
    ).run([*warm, *candles], warmup=len(warm))
    finished = datetime.now(UTC)
    _print(result, symbol, args.type, quiet=args.quiet)
    if warm:
        print(f"warm-up       {len(warm)} stored bar(s) before --from, as a live bot warms up")
    if rules.refused or rules.halts:
        refused = ", ".join(f"{n} by {rule}" for rule, n in sorted(rules.refused.items()))
        halts = rules.halts
        print(f"host rules    intents refused: {refused or 'none'}; loss-limit halts: {halts}")
    if args.save:
        run_id = save(args, config, candles, result, started, finished, limits=limits)
        print(f"saved as run {run_id} (alpha backtest show {run_id})")
    return 0


def _stored_candles(
    symbol: str, interval: str, start_text: str, end_text: str
) -> tuple[list[Candle], list[tuple[datetime, Decimal]]]:
    """The store's candles and funding settlements of ``[--from, --to)`` for the
    configured exchange; holes in the candles are said on stderr (a backtest across
    missing bars is not the market)."""
    import sys

    from core.candles import EXCHANGE_NAMES
    from core.config import Role, load_settings
    from core.db import connect
    from market_data import store
    from market_data.spans import check_interval, parse_date, runs

    start, end = parse_date(start_text, "--from"), parse_date(end_text, "--to")
    if start >= end:
        raise UserError(f"--from {start_text} is not before --to {end_text}")
    settings = load_settings()
    exchange = EXCHANGE_NAMES[settings.bybit.env]
    with connect(settings, Role.READONLY) as conn:
        candles = store.read_candles(conn, exchange, symbol, interval, start, end)
        rates = store.read_funding(conn, exchange, symbol, start, end)
    if not candles:
        raise UserError(
            f"the store has no {exchange} {symbol} {interval} candles in {start_text} … "
            f"{end_text}: alpha data download {symbol} --interval {interval} "
            f"--from {start_text} --to {end_text}"
        )
    step = check_interval(interval)
    stored = [c.start for c in candles]
    if len(list(runs(stored, step))) > 1:
        missing = int((stored[-1] - stored[0]) / step) + 1 - len(stored)
        print(
            f"alpha: warning: {missing} bar(s) missing between the first and last stored "
            f"candle (alpha data show --symbol {symbol} --interval {interval} --gaps)",
            file=sys.stderr,
        )
    return candles, rates


def _first_error(exc: ValueError) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(exc)


def _stored_warmup(symbol: str, interval: str, first: datetime, bars: int) -> list[Candle]:
    """The ``bars`` stored bars before ``first`` when the store holds all of them (what
    a live bot started at ``first`` warms up on, bots/runtime/market.py), else none: a
    partial warm-up would not be the live bot's."""
    from bots.runtime.market import stored_history
    from core.candles import EXCHANGE_NAMES
    from core.config import Role, load_settings
    from core.db import connect

    if bars <= 0:
        return []
    settings = load_settings()
    with connect(settings, Role.READONLY) as conn:
        found = stored_history(
            conn, EXCHANGE_NAMES[settings.bybit.env], symbol, interval, bars, first
        )
    return found or []


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
    if r.funding_modelled:
        print(f"funding       {r.funding:.4f}  ({r.settlements} settlement(s) on open positions)")
    else:
        print("funding       not modelled (zero)")


def register(cli: Cli) -> None:
    p = cli.command(
        None,
        "backtest",
        "run a bot type's strategy code over closed candles (a CSV or the market data store)"
        " and print its trades; --save stores the run; list, show ID and compare A B read"
        " stored runs",
        _backtest,
    )
    p.epilog = (
        "forms: alpha backtest TYPE (--candles FILE.csv | --from-store SYMBOL --from D --to D)"
        " [--save];  alpha backtest list [--limit N];  alpha backtest show ID [--chart F.png];"
        "  alpha backtest compare A B"
    )
    p.add_argument(
        "type",
        metavar="TYPE|list|show|compare",
        help="bot type to run, e.g. shortseller, lxalgo, momentum, orderblock; or list, show,"
        " compare to read stored runs",
    )
    p.add_argument(
        "ids", nargs="*", metavar="ID", help="with show: one run id; with compare: two run ids"
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--candles",
        metavar="FILE.csv",
        help="columns start,open,high,low,close,volume,turnover; start in ms",
    )
    source.add_argument(
        "--from-store",
        metavar="SYMBOL",
        help="read SYMBOL's candles from the market data store (alpha data download)"
        " for the exchange of BYBIT_ENV, and charge its stored funding settlements;"
        " several comma-separated symbols run as one portfolio (one equity);"
        " needs --from and --to",
    )
    p.add_argument(
        "--from", dest="start", metavar="DATE", help="with --from-store: first day, UTC, included"
    )
    p.add_argument("--to", dest="end", metavar="DATE", help="with --from-store: end, UTC, excluded")
    p.add_argument("--symbol", default="BTCUSDT", help="symbol of the candles (default BTCUSDT)")
    p.add_argument("--config", metavar="JSON", help="config overrides as a JSON object")
    p.add_argument(
        "--interval",
        metavar="N",
        help="candle interval in Bybit spelling (default: the bot type's)",
    )
    p.add_argument("--equity", default="10000", help="initial equity in USDT (default 10000)")
    p.add_argument("--quiet", action="store_true", help="print the summary only")
    p.add_argument(
        "--save",
        action="store_true",
        help="store the run, its metrics and trades in analytics.backtest_runs (needs the"
        " database; connects as the owner role, directly)",
    )
    p.add_argument(
        "--no-warmup",
        action="store_true",
        help="with --from-store: start cold at --from (default: the strategy's warm-up bars"
        " before --from, when the store holds them all, warm it up as a live bot warms up)",
    )
    p.add_argument(
        "--no-funding",
        action="store_true",
        help="with --from-store: ignore the stored funding settlements (funding is zero)",
    )
    p.add_argument(
        "--chart",
        metavar="FILE.png",
        help="with show: draw the run's equity and drawdown to a PNG file",
    )
    p.add_argument(
        "--limit", type=int, default=20, metavar="N", help="with list: newest N runs (default 20)"
    )
