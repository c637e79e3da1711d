"""``alpha run bot BOT_ID``."""

from __future__ import annotations

import argparse

from core.cli import Cli


def _run_bot(args: argparse.Namespace) -> int:
    import threading

    from bots.runtime.service import run_bot
    from core.config import load_settings
    from core.service import configure_logging, install_signal_handlers, secret_values

    settings = load_settings()
    configure_logging(settings.service, f"bot:{args.bot_id}", secrets=secret_values(settings))
    stop = threading.Event()
    install_signal_handlers(stop)
    run_bot(settings, args.bot_id, stop)
    return 0


def register(cli: Cli) -> None:
    run = cli.command(
        "run", "bot",
        "run one registered strategy bot (its orders, its fills, its heartbeat)",
        _run_bot,
    )  # fmt: skip
    run.add_argument("bot_id", metavar="BOT_ID", help="a bot registered with 'alpha bots register'")
