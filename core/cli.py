"""The ``alpha`` command line: one entry point, verbs contributed by each package.

Each package that offers verbs has a ``cli`` module with ``register(cli: Cli)``; this
module only builds the tree, dispatches, and turns a :class:`~core.errors.UserError`
into one line on stderr. Handlers import their heavy dependencies lazily so that
``alpha --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys
from collections.abc import Callable, Sequence

from core.errors import UserError

Handler = Callable[[argparse.Namespace], int | None]

#: The distribution ``pyproject.toml`` names; ``--version`` reads its installed metadata.
DISTRIBUTION = "alpha-bots"

#: Packages whose ``cli`` module registers verbs, in help order.
VERB_MODULES = (
    "core.config_cli",
    "database.cli",
    "paper_exchange.cli",
    "websocket_listener.cli",
    "trade_sync.cli",
    "bots.cli",
    "bots.optimize.cli",
    "market_data.cli",
    "bots.runtime.cli",
    "telegram_c2.cli",
    "api.cli",
    "database.backup.cli",
    "database.reports.cli",
    "demo.cli",
    "devenv.cli",
)

GROUP_HELP = {
    "config": "show the effective configuration (secrets masked)",
    "db": "database migrations: upgrade, downgrade, current",
    "bots": "the bot registry: register, list, show, update, history, pause, resume, retire,"
    " reset-risk",
    "redis": "Redis tools: copy-to-cluster (a standalone Redis into a Redis Cluster)",
    "kill": "the kill switch every bot obeys: status, lift (set it with /kill in the C2)",
    "drift": "open drift between bots and exchange: ack (let bots enter again despite it)",
    "run": "run one long-lived service (paper-exchange, listener, trade-sync, bot, c2, api,"
    " backup)",
    "fills": "the ledger's fills: assign an external fill to its bot",
    "positions": "per-bot positions derived from the ledger: show, rebuild",
    "listener": "listener tools: replay a capture of private WebSocket messages",
    "sync": "reconcile with the exchange: now, backfill",
    "backup": "database backups: now, list, verify, restore",
    "report": "P&L reports from the analytics views",
    "data": "the market data store: download exchange history, show what is stored",
    "api": "the HTTP API's bearer tokens: token create, token list, token revoke",
    "dev": "local PostgreSQL, PgBouncer and Redis for development and tests",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line plus usage, exit 2, never a traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


class Cli:
    """The verb tree that packages register into."""

    def __init__(self) -> None:
        self.parser = _Parser(
            prog="alpha",
            description="Alpha: a host for Bybit trading bots with one exact fill ledger.",
        )
        self.parser.add_argument(
            "--version", action="version", version=f"alpha {installed_version()}"
        )
        self._top = self.parser.add_subparsers(title="verbs", metavar="VERB", parser_class=_Parser)
        self._groups: dict[str, argparse._SubParsersAction[_Parser]] = {}

    def group(self, name: str) -> argparse._SubParsersAction[_Parser]:
        """The sub-verb table of ``alpha NAME …``, created on first use."""
        if name not in self._groups:
            parser = self._top.add_parser(
                name, help=GROUP_HELP.get(name, ""), description=GROUP_HELP.get(name)
            )
            parser.set_defaults(func=lambda _args, p=parser: _help_and_fail(p))
            self._groups[name] = parser.add_subparsers(
                title="commands", metavar="COMMAND", parser_class=_Parser
            )
        return self._groups[name]

    def command(self, group: str | None, name: str, help: str, handler: Handler) -> _Parser:
        """Add ``alpha [GROUP] NAME``; returns its parser for the caller's arguments."""
        table = self._top if group is None else self.group(group)
        parser = table.add_parser(name, help=help, description=help)
        parser.set_defaults(func=handler)
        return parser


def installed_version() -> str:
    """The version of the installed distribution, so it can never disagree with the
    package an operator actually runs (a source tree that was never installed says so)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _help_and_fail(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


#: Verbs that run a process many times over on one host, with the one registrar they need:
#: fifty bots need not each build (and keep in memory) the whole verb tree.
SOLE_VERBS = {("run", "bot"): "bots.runtime.cli"}


def build(argv: Sequence[str] | None = None) -> Cli:
    """The verb tree; for ``argv`` of a :data:`SOLE_VERBS` verb, only that verb."""
    words = tuple(sys.argv[1:] if argv is None else argv)[:2]
    cli = Cli()
    for module in (SOLE_VERBS[words],) if words in SOLE_VERBS else VERB_MODULES:
        try:
            registrar = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # that part of the product is not installed in this build
            raise
        registrar.register(cli)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    # Every file any verb creates (backups and their globals, the listener's spool,
    # reports, pg_dump's output) is the owner's alone from its first byte, whatever the
    # invoking shell's umask: they hold trades, and the globals hold password verifiers.
    os.umask(0o077)
    cli = build(argv)
    args = cli.parser.parse_args(argv)
    if not hasattr(args, "func"):
        cli.parser.print_help(sys.stderr)
        return 2
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at interpreter exit
        return status
    except UserError as exc:
        print(f"alpha: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("alpha: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _broken_pipe()


def _broken_pipe() -> int:
    """The reader went away (``alpha config show | head``): exit quietly, like ``cat``.

    stdout is pointed at /dev/null so the interpreter's final flush cannot raise again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141  # 128 + SIGPIPE, what a shell reports for a killed pipeline member


if __name__ == "__main__":
    sys.exit(main())
