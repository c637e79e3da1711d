"""Verbs: ``run listener``, ``positions show|rebuild``, ``listener replay``."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from core.cli import Cli

if TYPE_CHECKING:
    import redis


def _run(args: argparse.Namespace) -> int:
    import threading

    from core.config import load_settings
    from core.service import HealthServer, configure_logging, install_signal_handlers, secret_values
    from websocket_listener.service import Listener

    settings = load_settings()
    configure_logging(settings.service, "listener", secrets=secret_values(settings))
    stop = threading.Event()
    install_signal_handlers(stop)
    listener = Listener(settings)
    with HealthServer.from_settings(settings.service, listener.health_checks()):
        listener.run(stop)
    return 0


def _show(args: argparse.Namespace) -> int:
    from core.config import Role, load_settings
    from core.db import connect
    from core.ids import BotId
    from websocket_listener.positions import ledger_positions
    from websocket_listener.redis_mirror import position_hash

    if args.bot is not None and not BotId.is_valid(args.bot):
        from core.errors import UserError

        raise UserError(f"invalid bot id {args.bot!r}")
    settings = load_settings()
    with connect(settings, Role.LISTENER) as conn:
        if (
            args.bot is not None
            and not conn.execute(
                "SELECT 1 FROM trading.bots WHERE bot_id = %s", (args.bot,)
            ).fetchone()
        ):
            from core.errors import UserError

            raise UserError(f"bot {args.bot} is not registered (alpha bots list)")
        positions = ledger_positions(conn, args.bot)
    rows = [
        {
            "account": str(account),
            "bot_id": str(bot),
            "symbol": str(symbol),
            **position_hash(pos),
            "fills": pos.fills,
        }
        for (account, bot, symbol), pos in sorted(positions.items())
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no fills in the ledger" + (f" for {args.bot}" if args.bot else ""))
        return 0
    header = ("account", "bot_id", "symbol", "qty", "avg_price", "realized_pnl", "fees", "fills")
    table = [header, *[tuple(str(r[h]) for h in header) for r in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from core.config import Role, load_settings
    from core.db import connect
    from core.redis_client import redis_client
    from websocket_listener.positions import PositionBook

    settings = load_settings()
    clients: dict[int, redis.Redis] = {}

    def client(db: int) -> redis.Redis:
        return clients.setdefault(db, redis_client(settings, db))

    from core.redis_cluster import CLUSTER_DB

    book = PositionBook(client, only_db=CLUSTER_DB if settings.redis.cluster else None)
    with connect(settings, Role.LISTENER) as conn:
        count = book.rebuild(conn)
    if book.redis_dirty:
        from core.errors import UserError

        raise UserError("positions folded, but Redis could not be written (is it running?)")
    print(f"rebuilt {count} positions from the ledger")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.config import load_settings
    from core.errors import UserError
    from core.ids import AccountName
    from websocket_listener.replay import replay

    if not AccountName.is_valid(args.account):
        raise UserError(f"invalid account name {args.account!r}")
    result = replay(load_settings(), Path(args.file), args.account, force=args.force)
    print(
        f"replayed {result.lines} messages: {result.new_fills} new fills, "
        f"{result.duplicates} already in the ledger, {result.rejects} rejected"
    )
    return 0


def _assign(args: argparse.Namespace) -> int:
    # Imported here: every ``alpha`` command (a bot's too) registers this verb, and a bot
    # process must not load the listener's code (tests/bots/e2e/test_e2e_bot_imports.py).
    from websocket_listener.claim_cli import assign

    return assign(args)


def register(cli: Cli) -> None:
    from core.operator.fill_claims import DEFAULT_TIMEOUT_SECONDS

    claim = cli.command(
        "fills",
        "assign",
        "give an external fill (a manual trade) to a bot on the same account; the listener"
        " applies it, records who and why, and re-folds both positions",
        _assign,
    )
    claim.add_argument("exec_id", metavar="EXEC_ID", help="the fill's execution id")
    claim.add_argument("--bot", required=True, metavar="BOT_ID", help="the bot it belongs to")
    claim.add_argument("--reason", required=True, metavar="TEXT", help="why (kept with the claim)")
    claim.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"how long to wait for the listener's answer (default {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    cli.command(
        "run",
        "listener",
        "the fill listener: private WebSockets → ledger (only writer) → per-bot positions",
        _run,
    )
    show = cli.command("positions", "show", "print per-bot positions folded from the ledger", _show)
    show.add_argument("--bot", metavar="BOT_ID", help="only this bot")
    show.add_argument("--json", action="store_true", help="print as JSON")
    cli.command(
        "positions",
        "rebuild",
        "recompute every position from the ledger and rewrite them in Redis",
        _rebuild,
    )
    rp = cli.command(
        "listener",
        "replay",
        "feed a JSONL capture of private WebSocket messages through the live write path",
        _replay,
    )
    rp.add_argument("file", metavar="FILE.jsonl", help="one private WebSocket message per line")
    rp.add_argument("--account", default="main", help="the account the capture came from")
    rp.add_argument(
        "--force", action="store_true", help="run even though a listener seems to be running"
    )
