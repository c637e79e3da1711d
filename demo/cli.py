"""``alpha demo [--minutes N] [--speed X] [--keep]``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.cli import Cli


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _run(args: argparse.Namespace) -> int:
    from demo.orchestrator import Options, run

    return run(
        Options(
            minutes=args.minutes,
            speed=args.speed,
            seed=args.seed,
            scenario=args.scenario,
            liquidity=args.liquidity,
            keep=args.keep,
            output=args.output,
        )
    )


def register(cli: Cli) -> None:
    from demo.services import DEFAULT_SCENARIO, DEFAULT_SPEED

    p = cli.command(
        None,
        "demo",
        "run every service against the paper exchange, show progress, verify the ledger",
        _run,
    )
    p.add_argument(
        "--minutes",
        type=_positive,
        default=None,
        help="real minutes to trade (default: long enough to play the scenario once)",
    )
    p.add_argument(
        "--speed",
        type=_positive,
        default=DEFAULT_SPEED,
        help=f"simulated seconds per real second ({DEFAULT_SPEED})",
    )
    p.add_argument("--seed", type=int, default=7, help="market generator seed (7)")
    p.add_argument(
        "--scenario",
        default=DEFAULT_SCENARIO,
        help=f"paper exchange market scenario ({DEFAULT_SCENARIO}: one that exercises every bot)",
    )
    p.add_argument(
        "--liquidity",
        choices=("realistic", "flat"),
        default="realistic",
        help="order-book depth (realistic: thin alts and a slowly refilling book, so orders"
        " partially fill and slip; flat: deep everywhere)",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the demo database, Redis and output afterwards"
    )
    p.add_argument("--output", type=Path, help="output folder (default .run/demo/<stamp>)")
