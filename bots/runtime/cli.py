"""``alpha run bot BOT_ID``."""

from __future__ import annotations

import argparse
import sys
import warnings

from core.cli import Cli


def _without_charset_detection() -> None:
    """Keeps requests from loading a character-set detector (charset_normalizer, or
    chardet): about 3.3 MB of every bot process (docs/fleet.md). requests needs one only
    to guess the text encoding of a response that names none; a bot reads Bybit's JSON,
    which requests decodes without it, and requests falls back to UTF-8 for text. It
    supports their absence and says so once at import, which tells an operator nothing."""
    for detector in ("charset_normalizer", "chardet"):
        sys.modules.setdefault(detector, None)  # type: ignore[arg-type]  # import → ImportError
    warnings.filterwarnings("ignore", message="Unable to find acceptable character detection")


def _run_bot(args: argparse.Namespace) -> int:
    _without_charset_detection()  # before anything imports requests
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
