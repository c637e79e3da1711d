"""``alpha run paper-exchange``: the Bybit V5-compatible exchange on loopback."""

from __future__ import annotations

import argparse

from core.cli import Cli

__all__ = ["add_arguments", "register"]


def _serve(args: argparse.Namespace) -> int | None:
    # Imported here: every ``alpha`` command registers this verb, and a bot process must
    # not load the exchange's server (tests/bots/e2e/test_e2e_bot_imports.py).
    from paper_exchange.serve import serve

    return serve(args)


def _speed(text: str) -> float | None:
    if text in ("manual", "none"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("speed is a number >= 0 or 'manual'") from None
    if value < 0:
        raise argparse.ArgumentTypeError("speed must be >= 0")
    return value


def register(cli: Cli) -> None:
    p = cli.command(
        "run",
        "paper-exchange",
        "a Bybit V5-compatible paper exchange (REST + private/public WebSocket) on loopback",
        _serve,
    )
    add_arguments(p)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8480, help="port; 0 picks a free one (default 8480)")
    p.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="NAME:API_KEY:API_SECRET[:USDT_BALANCE]",
        help="an account (repeatable); without one, PAPER_ACCOUNTS or PAPER_ACCOUNTS_FILE "
        "(keep real secrets there, off the command line); default "
        "main:paper-key:paper-secret:100000",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--market",
        action="append",
        default=[],
        metavar="FILE",
        help="replay Bybit kline CSV(s): start,open,high,low,close,volume,turnover",
    )
    src.add_argument(
        "--seed", type=int, default=None, help="seed of the candle generator (default 1)"
    )
    p.add_argument(
        "--scenario",
        default="random_walk",
        help="generator scenario: random_walk, trend_up, trend_down, pump, "
        "squeeze_breakout, order_block, demo (every bundled strategy trades)",
    )
    p.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="simulated seconds per real second; 0 = as fast as possible; 'manual'",
    )
    p.add_argument(
        "--history-minutes",
        type=int,
        default=14 * 1440,
        help="minutes of candles generated before 'now' for indicator warm-up",
    )
    p.add_argument(
        "--liquidity",
        default="flat",
        help="order-book depth profile: flat (every level ~2M USDT, refilled at once; the "
        "default) or realistic (depth from each symbol's daily turnover: deep BTC, thin "
        "alts; levels refill over 30 s, so market "
        "orders walk the book and slip, and resting limits fill from the market's traded "
        "volume, often in several parts)",
    )
    p.add_argument(
        "--depth",
        action="append",
        default=[],
        metavar="SYMBOL=USDT",
        help="USDT resting at the touch of SYMBOL's book, overriding the profile (repeatable)",
    )
    p.add_argument(
        "--lenient",
        action="store_true",
        help="accept any JSON type for typed request fields (qty as a number, reduceOnly "
        "as a string, ...); by default they are refused with retCode 10001 as Bybit does",
    )
    p.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="do not enforce Bybit's per-endpoint rate limits (headers still sent)",
    )
