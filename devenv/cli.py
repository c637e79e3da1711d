"""``alpha dev services up|down|status``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.cli import Cli


def _up(args: argparse.Namespace) -> int:
    from core.config import load_settings
    from devenv import services

    result = services.up(load_settings(), Path(args.run_dir))
    if args.json:
        print(json.dumps(result["env"], indent=2))
        return 0
    for line in result["bootstrap"]:
        print(f"# {line}")
    for name, info in result["state"].items():
        how = "started" if info.get("managed") else "reused"
        print(f"# {name}: {how} at {info['host']}:{info['port']}")
    for key, value in services.mask_env(result["env"]).items():
        print(f"{key}={value}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from devenv import services

    state = services.status(Path(args.run_dir))
    if args.json:
        print(json.dumps(state, indent=2))
    else:
        for name, info in state.items():
            how = "private" if info.get("managed") else "reused"
            up = "up" if info["answers"] else "DOWN"
            print(f"{name:10} {up:5} {how:8} {info['host']}:{info['port']}")
    return 0 if state and all(i["answers"] for i in state.values()) else 1


def _down(args: argparse.Namespace) -> int:
    from devenv import services

    stopped = services.down(Path(args.run_dir))
    print("stopped: " + (", ".join(stopped) if stopped else "nothing (servers were reused)"))
    return 0


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def register(cli: Cli) -> None:
    # Three levels (``alpha dev services up``): Cli offers two, so nest one table here.
    text = "local PostgreSQL, PgBouncer and Redis: up, down, status"
    group = cli.group("dev").add_parser("services", help=text, description=text)
    group.set_defaults(func=lambda _args, p=group: _usage(p))
    table = group.add_subparsers(title="commands", metavar="COMMAND", parser_class=type(cli.parser))
    for name, handler, text in (
        ("up", _up, "make PostgreSQL, PgBouncer and Redis available; print the environment"),
        ("status", _status, "show which local services answer"),
        ("down", _down, "stop the services `up` started (reused servers are left alone)"),
    ):
        p = table.add_parser(name, help=text, description=text)
        p.set_defaults(func=handler)
        p.add_argument("--run-dir", default=".run", help="where private servers live (.run)")
        if name != "down":
            p.add_argument("--json", action="store_true", help="print as JSON")
