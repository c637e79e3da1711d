"""``alpha report pnl [--bot BOT] [--from DATE] [--to DATE] [--png PATH] [--csv PATH]``."""

from __future__ import annotations

import argparse
import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

from core.cli import Cli
from core.errors import UserError

HEADER = ("day", "realized_pnl", "fees", "funding", "net_pnl", "volume", "fills")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _pnl(args: argparse.Namespace) -> int:
    from core.config import load_settings
    from database.reports import charts, queries

    settings = load_settings()
    if args.bot and not queries.bot_exists(settings, args.bot, direct=args.direct):
        raise UserError(f"unknown bot {args.bot!r} (see `alpha bots list`)")
    if args.start and args.end and args.start > args.end:
        raise UserError("--from is after --to")
    rows = queries.daily_pnl(
        settings, bot_id=args.bot, start=args.start, end=args.end, direct=args.direct
    )
    table = [
        (str(r.day), str(r.realized_pnl), str(r.fees), str(r.funding), str(r.net_pnl),
         str(r.volume), str(r.fills))
        for r in rows
    ]  # fmt: skip
    total = [
        "total",
        *(str(sum((getattr(r, c) for r in rows), Decimal(0))) for c in HEADER[1:6]),
        str(sum(r.fills for r in rows)),
    ]
    widths = [max(len(h), *(len(row[i]) for row in [*table, total])) for i, h in enumerate(HEADER)]
    scope = args.bot or "all bots"
    print(f"P&L for {scope} (USDT, UTC days; funding positive = paid)")
    print("  ".join(h.rjust(w) for h, w in zip(HEADER, widths, strict=True)))
    for row in [*table, total]:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
    if args.csv:
        with Path(args.csv).open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(HEADER)
            writer.writerows(table)
        print(f"wrote {args.csv}")
    if args.png:
        charts.pnl_chart_png([(r.day, r.net_pnl) for r in rows], f"{scope} — net P&L",
                             Path(args.png))  # fmt: skip
        print(f"wrote {args.png}")
    return 0


def register(cli: Cli) -> None:
    pnl = cli.command("report", "pnl", "daily P&L table (and CSV / PNG chart)", _pnl)
    pnl.add_argument("--bot", help="one bot (default: all bots summed)")
    pnl.add_argument("--from", dest="start", type=_date, help="first day, YYYY-MM-DD (UTC)")
    pnl.add_argument("--to", dest="end", type=_date, help="last day, YYYY-MM-DD (UTC)")
    pnl.add_argument("--png", help="write the equity-curve / daily P&L chart here")
    pnl.add_argument("--csv", help="write the daily rows as CSV here")
    pnl.add_argument("--direct", action="store_true",
                     help="connect directly instead of through PgBouncer")  # fmt: skip
