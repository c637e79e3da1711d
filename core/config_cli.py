"""``alpha config show``."""

from __future__ import annotations

import argparse
import json

from core.cli import Cli


def _show(args: argparse.Namespace) -> int:
    from core.config import load_settings, masked

    view = masked(load_settings())
    if args.json:
        print(json.dumps(view, indent=2, default=str))
        return 0
    for group, rows in view.items():
        print(f"[{group}]")
        for name, value in rows.items():
            print(f"  {name} = {value}")
    return 0


def register(cli: Cli) -> None:
    show = cli.command("config", "show", "print the effective configuration, secrets masked", _show)
    show.add_argument("--json", action="store_true", help="print as JSON")
