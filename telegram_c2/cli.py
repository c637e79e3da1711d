"""``alpha run c2``."""

from __future__ import annotations

import argparse

from core.cli import Cli


def _run(args: argparse.Namespace) -> int:
    from telegram_c2.main import main

    return main()


def register(cli: Cli) -> None:
    cli.command("run", "c2", "run the Telegram command-and-control bot", _run)
