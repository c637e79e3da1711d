"""``alpha backtest … --save`` and ``alpha backtest list|show ID|compare A B``: storing a
run and reading stored runs back (docs/research.md#stored-results). The parser is in
``bots/cli.py``; this module holds what the commands do."""

from __future__ import annotations

import argparse
from datetime import datetime

from bots.backtest.engine import BacktestResult
from core.candles import INTERVAL_SECONDS, Candle
from core.errors import UserError
from core.risk import RiskLimits

#: ``alpha backtest WORD`` reads stored runs instead of running a bot type named WORD.
STORED_RUN_COMMANDS = ("list", "show", "compare")


def save(
    args: argparse.Namespace,
    config: object,
    candles: list[Candle],
    result: BacktestResult,
    started: datetime,
    finished: datetime,
    *,
    limits: RiskLimits | None = None,
) -> int:
    """Store the run as the owner (directly, like ``alpha data download``); its id. The
    host's risk limits in force are stored with the config, under ``"risk"``."""
    from bots.backtest import metrics, results
    from core.cli import installed_version
    from core.config import Role, load_settings
    from core.db import connect

    interval: str = config.interval  # type: ignore[attr-defined]
    if args.from_store is not None:
        from core.candles import EXCHANGE_NAMES

        source = f"store:{EXCHANGE_NAMES[load_settings().bybit.env]}"
    else:
        from pathlib import Path

        source = f"csv:{Path(args.candles).resolve()}"
    stored_config = config.model_dump(mode="json")  # type: ignore[attr-defined]
    risk = limits.model_dump(mode="json", exclude_none=True) if limits is not None else {}
    if risk:
        stored_config["risk"] = risk
    record = results.RunRecord(
        bot_type=args.type,
        config=stored_config,
        code_version=results.code_version(installed_version()),
        data_source=source,
        data_from=candles[0].start,
        data_to=max(c.end for c in candles),
        symbols=list(config.symbols),  # type: ignore[attr-defined]
        interval=interval,
        candles=result.candles,
        started_at=started,
        finished_at=finished,
        metrics=metrics.compute(result, INTERVAL_SECONDS[interval]),
        equity_curve=result.equity_curve,
    )
    with connect(load_settings(), Role.OWNER, direct=True) as conn:
        return results.save(conn, record, result.trades)


def run_stored_command(args: argparse.Namespace) -> int:
    """``list``, ``show ID`` or ``compare A B``, read as the readonly role."""
    from bots.backtest import report, results
    from core.config import Role, load_settings
    from core.db import connect

    command, ids = args.type, [_run_id(text) for text in args.ids]
    if args.candles is not None or args.from_store is not None or args.save:
        raise UserError(
            f"alpha backtest {command} reads stored runs: drop --candles, --from-store, --save"
        )
    wanted = {"list": 0, "show": 1, "compare": 2}[command]
    if len(ids) != wanted:
        usage = {"list": "list", "show": "show ID", "compare": "compare A B"}[command]
        raise UserError(f"usage: alpha backtest {usage} ({len(ids)} run id(s) given)")
    if args.limit < 1:
        raise UserError(f"--limit {args.limit} must be at least 1")
    if args.chart is not None and command != "show":
        raise UserError("--chart draws one stored run: alpha backtest show ID --chart FILE.png")
    with connect(load_settings(), Role.READONLY) as conn:
        if command == "list":
            runs = results.list_runs(conn, args.limit)
            if not runs:
                print("no stored backtest runs (alpha backtest TYPE … --save stores one)")
                return 0
            lines = report.list_table(runs)
        else:
            found = []
            for run_id in ids:
                run = results.load_run(conn, run_id)
                if run is None:
                    raise UserError(f"no stored backtest run {run_id} (alpha backtest list)")
                found.append(run)
            if command == "show":
                lines = report.show_lines(found[0], results.load_trades(conn, ids[0]))
                if args.chart is not None:
                    curve = results.load_equity_curve(conn, ids[0])
                    if not curve:
                        raise UserError(
                            f"run {ids[0]} was stored without its equity curve (before"
                            " migration 0022): run it again with --save to chart it"
                        )
                    from bots.backtest.chart import write_chart

                    write_chart(found[0], curve, args.chart)
                    lines.append(f"chart written to {args.chart}")
            else:
                lines = report.compare_lines(found[0], found[1])
    print("\n".join(lines))
    return 0


def _run_id(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) < 2**63:
        raise UserError(f"run id {text!r} is not a positive whole number")
    return int(text)
