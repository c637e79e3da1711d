"""``alpha optimize TYPE --space SPEC --trials N --objective METRIC``: search a bot type's
config over backtests of stored or CSV candles, store every trial, print the winner as a
ready ``alpha bots`` line (docs/research.md#optimisation-alpha-optimize)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.cli import Cli
from core.errors import UserError


def _optimize(args: argparse.Namespace) -> int:
    from bots.optimize import objectives, runner, space
    from core import plugins

    direction = objectives.check(args.objective)
    if args.sampler not in ("tpe", "nsga2"):
        raise UserError(f"--sampler {args.sampler!r} is not one of: tpe, nsga2")
    if args.trials < 1:
        raise UserError(f"--trials {args.trials} must be at least 1")
    if args.walk_forward < 0:
        raise UserError(f"--walk-forward {args.walk_forward} must be 0 (off) or more")
    jobs = args.jobs or os.cpu_count() or 1
    if jobs < 1:
        raise UserError(f"--jobs {args.jobs} must be at least 1")
    try:
        equity = Decimal(args.equity)
    except InvalidOperation:
        raise UserError(f"--equity {args.equity!r} is not a number") from None
    cls = plugins.load(args.type)
    params = space.parse(args.space, cls.Config)
    base, symbols, candles, funding, source = _data(args)
    config = plugins.validate_config(args.type, base)  # the base must be valid on its own
    interval: str = config.interval  # type: ignore[attr-defined]
    job = runner.Job(args.type, args.objective, equity, funding)

    def validate(candidate: dict[str, Any]) -> str | None:
        try:
            plugins.validate_config(args.type, candidate)
        except UserError as exc:
            return str(exc)
        return None

    started = datetime.now(UTC)
    folds = runner.optimise(
        job, candles, base, params, args.trials, args.walk_forward, args.sampler, jobs,
        args.seed, validate,
    )  # fmt: skip
    finished = datetime.now(UTC)
    for line in _report(folds, args.objective, bool(args.walk_forward)):
        print(line)
    run_id = None
    if not args.no_save:
        run_id = _save(args, base, params, direction, symbols, interval, candles, source,
                       started, finished, folds)  # fmt: skip
        print(f"saved as optimisation {run_id} (analytics.optimisation_trials)")
    best = folds[-1].best_params
    if best is None:
        print("no trial had a defined objective: nothing to deploy")
        return 1
    text = json.dumps({k: v if isinstance(v, int) else str(v) for k, v in best.items()})
    full = json.dumps({k: v for k, v in base.items() if k != "symbols"} | json.loads(text))
    print("deploy the best config with one of:")
    print(f"  alpha bots update BOT_ID --config {shlex.quote(text)}")
    print(
        f"  alpha bots register BOT_ID --type {args.type} --code CODE --symbols "
        f"{','.join(symbols)} --mode paper --config {shlex.quote(full)}"
    )
    return 0


def _data(
    args: argparse.Namespace,
) -> tuple[dict[str, Any], list[str], list[Any], dict[str, Any] | None, str]:
    """The base config overrides, the symbols, the candles (several symbols interleaved by
    time, as the host feeds them) and the funding settlements."""
    from bots.cli import _stored_candles
    from core.candles import INTERVAL_SECONDS, read_csv

    try:
        base = json.loads(args.config) if args.config else {}
    except json.JSONDecodeError as exc:
        raise UserError(f"--config is not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(base, dict):
        raise UserError("--config must be a JSON object, e.g. '{\"pivot_len\": 3}'")
    if args.interval is not None:
        if args.interval not in INTERVAL_SECONDS:
            raise UserError(f"--interval {args.interval!r} is not a Bybit interval")
        base["interval"] = args.interval
    if args.from_store is None and args.candles is None:
        raise UserError("say where the candles are: --candles FILE.csv or --from-store SYMBOLS")
    if args.from_store is not None:
        from market_data.cli import parse_symbols

        symbols = parse_symbols(args.from_store)
        if args.start is None or args.end is None:
            raise UserError("--from-store needs --from and --to")
    else:
        if args.start is not None or args.end is not None:
            raise UserError("--from and --to select candles from the store: use --from-store")
        symbols = [args.symbol]
    base.setdefault("symbols", symbols)
    if args.type == "shortseller" and "exits" not in base:
        from bots.shortseller.config import DEFAULT_EXITS

        base["exits"] = {s: DEFAULT_EXITS.get(s, DEFAULT_EXITS["BTCUSDT"]) for s in symbols}
    from core import plugins

    interval: str = plugins.validate_config(args.type, base).interval  # type: ignore[attr-defined]
    funding: dict[str, Any] | None = None
    if args.from_store is not None:
        from core.candles import EXCHANGE_NAMES
        from core.config import load_settings

        candles: list[Any] = []
        funding = {}
        for symbol in symbols:
            found, rates = _stored_candles(symbol, interval, str(args.start), str(args.end))
            candles += found
            if rates and not args.no_funding:
                funding[symbol] = rates
        candles.sort(key=lambda c: (c.start, c.symbol))
        funding = funding or None
        source = f"store:{EXCHANGE_NAMES[load_settings().bybit.env]}"
    else:
        from pathlib import Path

        candles = read_csv(args.candles, args.symbol, interval)
        if not candles:
            raise UserError(f"{args.candles}: no candles")
        source = f"csv:{Path(args.candles).resolve()}"
    return base, symbols, candles, funding, source


def _report(folds: list[Any], objective: str, walk_forward: bool) -> list[str]:
    def num(value: Decimal | None) -> str:
        return "n/a" if value is None else f"{value:.6g}"

    lines = []
    for f in folds:
        failed = sum(1 for t in f.trials if t.value is None)
        params = "none" if f.best_params is None else _params(f.best_params)
        head = f"fold {f.number + 1}" if walk_forward else "search"
        lines.append(
            f"{head}: train {f.train[0]:%Y-%m-%d %H:%M} … {f.train[1]:%Y-%m-%d %H:%M}, "
            f"{len(f.trials)} trials ({failed} without a value); best {params}"
        )
        lines.append(f"  in-sample     {objective} {num(f.in_sample)}")
        if f.test is not None:
            lines.append(
                f"  out-of-sample {objective} {num(f.out_of_sample)}"
                f"  (test {f.test[0]:%Y-%m-%d %H:%M} … {f.test[1]:%Y-%m-%d %H:%M})"
            )
    return lines


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _save(
    args: argparse.Namespace, base: dict[str, Any], params: list[Any], direction: str,
    symbols: list[str], interval: str, candles: list[Any], source: str,
    started: datetime, finished: datetime, folds: list[Any],
) -> int:  # fmt: skip
    from bots.backtest.results import code_version
    from bots.optimize import results
    from core.cli import installed_version
    from core.config import Role, load_settings
    from core.db import connect

    record = results.RunRecord(
        bot_type=args.type,
        base_config=base,
        space={p.name: [str(p.low), str(p.high)] for p in params},
        objective=args.objective,
        direction=direction,
        sampler=args.sampler,
        trials=args.trials,
        windows=args.walk_forward,
        code_version=code_version(installed_version()),
        data_source=source,
        data_from=candles[0].start,
        data_to=max(c.end for c in candles),
        symbols=symbols,
        interval=interval,
        started_at=started,
        finished_at=finished,
    )
    with connect(load_settings(), Role.OWNER, direct=True) as conn:
        return results.save(conn, record, folds)


def register(cli: Cli) -> None:
    from bots.optimize.objectives import OBJECTIVES

    p = cli.command(
        None,
        "optimize",
        "search a bot type's config with Optuna over backtests (stored or CSV candles),"
        " optionally walk-forward; every trial is stored; prints the best as an alpha bots line",
        _optimize,
    )
    p.epilog = (
        "example: alpha optimize momentum --space bb_period=10:40,stop_pct=2:15 --trials 100"
        " --objective sharpe --from-store BTCUSDT,ETHUSDT --from 2025-01-01 --to 2025-07-01"
        " --walk-forward 3"
    )
    p.add_argument("type", metavar="TYPE", help="bot type, e.g. momentum, lxalgo, orderblock")
    p.add_argument(
        "--space",
        required=True,
        metavar="SPEC",
        help="config fields to search, comma-separated: NAME=LOW:HIGH, or NAME alone to take"
        " the range from the field's bounds (e.g. bb_period=10:40,stop_pct)",
    )
    p.add_argument("--trials", type=int, default=50, help="trials per search (default 50)")
    p.add_argument(
        "--objective",
        default="net_pnl",
        metavar="METRIC",
        help=f"what to optimise: {', '.join(OBJECTIVES)} (default net_pnl; max_drawdown is"
        " minimised, the others maximised)",
    )
    p.add_argument(
        "--sampler",
        default="tpe",
        help="tpe (Bayesian, the default) or nsga2 (the genetic algorithm NSGA-II)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="backtests in parallel, one process each (default: the number of cores)",
    )
    p.add_argument(
        "--walk-forward",
        type=int,
        default=0,
        metavar="K",
        help="cut the data into K+1 equal time windows; fold i searches window i and tests its"
        " best config on window i+1 (out-of-sample); 0 (default) searches all the data",
    )
    p.add_argument("--seed", type=int, help="sampler seed, for a repeatable search")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--candles", metavar="FILE.csv", help="one symbol's candles (see backtest)")
    source.add_argument(
        "--from-store",
        metavar="SYMBOLS",
        help="comma-separated symbols from the market data store (one portfolio); needs"
        " --from and --to; stored funding is charged",
    )
    p.add_argument("--from", dest="start", metavar="DATE", help="first day, UTC, included")
    p.add_argument("--to", dest="end", metavar="DATE", help="end, UTC, excluded")
    p.add_argument("--symbol", default="BTCUSDT", help="with --candles: its symbol (BTCUSDT)")
    p.add_argument("--config", metavar="JSON", help="fixed config overrides as a JSON object")
    p.add_argument("--interval", metavar="N", help="candle interval (default: the bot type's)")
    p.add_argument("--equity", default="10000", help="initial equity in USDT (default 10000)")
    p.add_argument("--no-funding", action="store_true", help="ignore stored funding")
    p.add_argument(
        "--no-save", action="store_true", help="do not store the trials (no database needed)"
    )
