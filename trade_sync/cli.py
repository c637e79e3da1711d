"""``alpha run trade-sync``, ``alpha sync now``, ``alpha sync backfill``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from functools import partial
from typing import TYPE_CHECKING

from core.cli import Cli
from core.errors import UserError

if TYPE_CHECKING:
    from core.config import Settings


def _run(args: argparse.Namespace) -> int:
    from core.config import load_settings
    from trade_sync.service import main

    return main(load_settings())


def _quiet_logging(settings: Settings) -> None:
    """Warnings and errors on stderr (redacted); the findings themselves go to stdout."""
    import logging

    from core.service import configure_logging, secret_values

    configure_logging(settings.service, "sync", secrets=secret_values(settings))
    logging.getLogger().setLevel(logging.WARNING)


def _now(args: argparse.Namespace) -> int:
    from core.config import load_settings
    from trade_sync.context import SyncContext
    from trade_sync.scheduler import run_all_once

    settings = load_settings()
    _quiet_logging(settings)
    ctx = SyncContext(settings)
    outcomes = run_all_once(ctx, ctx.accounts(args.account))
    for outcome in outcomes:
        for line in outcome.lines:
            print(line)
    # Non-zero when anything is wrong, so cron and scripts notice.
    return 0 if all(o.status == "ok" for o in outcomes) else 1


def _date(text: str) -> datetime:
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD[THH:MM[:SS]], UTC): {text!r}")


def _backfill(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from core.config import load_settings
    from trade_sync.backfill import backfill
    from trade_sync.context import SyncContext

    if args.since >= datetime.now(UTC):
        raise UserError("--since must be in the past")
    if not 1 <= args.window_hours <= 168:
        raise UserError("--window-hours must be between 1 and 168 (Bybit's 7-day rule)")
    settings = load_settings()
    _quiet_logging(settings)
    ctx = SyncContext(settings)
    outcomes = backfill(
        ctx,
        ctx.accounts(args.account),
        args.since,
        width=timedelta(hours=args.window_hours),
        progress=sys.stderr,
    )
    for outcome in outcomes:
        for line in outcome.lines:
            print(line)
    return 0 if all(o.status != "error" for o in outcomes) else 1


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD, UTC): {text!r}") from None


def _ledger(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from core.config import load_settings
    from trade_sync.context import SyncContext
    from trade_sync.jobs import transaction_log
    from trade_sync.runs import run_job

    if not 1 <= args.days <= 730:
        raise UserError("--days must be between 1 and 730 (Bybit keeps two years of log)")
    last = args.day or datetime.now(UTC).date()
    if last > datetime.now(UTC).date():
        raise UserError("--day must not be in the future")
    days = [last - timedelta(days=n) for n in range(args.days)]
    settings = load_settings()
    _quiet_logging(settings)
    ctx = SyncContext(settings)
    outcomes = []
    for account in ctx.accounts(args.account):
        outcome = run_job(
            ctx,
            transaction_log.NAME,
            account,
            partial(transaction_log.run, ctx, account, days),
            respect_backoff=False,
        )
        if outcome is not None:
            outcomes.append(outcome)
            for line in outcome.lines:
                print(line)
    return 0 if all(o.status == "ok" for o in outcomes) else 1


def register(cli: Cli) -> None:
    cli.command("run", "trade-sync", "run the reconciliation scheduler (audits, drift, wallet)",
                _run)  # fmt: skip
    now = cli.command("sync", "now", "run every reconciliation job once and print findings", _now)
    now.add_argument("--account", help="only this account")
    bf = cli.command(
        "sync", "backfill", "import past executions through the listener, window by window",
        _backfill,
    )  # fmt: skip
    bf.add_argument("--since", required=True, type=_date, help="UTC date, YYYY-MM-DD")
    bf.add_argument("--account", help="only this account")
    bf.add_argument("--window-hours", type=int, default=24, help="window width (1..168)")
    books = cli.command(
        "sync", "ledger",
        "reconcile the ledger's realized P&L, fees and funding with Bybit's transaction log",
        _ledger,
    )  # fmt: skip
    books.add_argument("--day", type=_day, help="the last UTC day to check (default: today)")
    books.add_argument("--days", type=int, default=1, help="how many days up to --day (1..730)")
    books.add_argument("--account", help="only this account")
