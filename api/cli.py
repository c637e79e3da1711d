"""``alpha run api``, ``alpha api token create|list|revoke`` and ``alpha api webhook-secret``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.cli import Cli


def _run(args: argparse.Namespace) -> int:
    from api.main import main

    return main(args.host, args.port)


def _owner_connection() -> Any:
    from core.config import Role, load_settings
    from core.db import connect

    # The owner, directly: like the bot registry, API access is granted by whoever runs
    # migrations, never by a service's own role.
    return connect(load_settings(), Role.OWNER, direct=True)


def _create(args: argparse.Namespace) -> int:
    from api import tokens

    tokens.check_name(args.name)
    with _owner_connection() as conn:
        token = tokens.create(conn, args.name, tokens.TokenRole(args.role))
    print(token)
    print(
        f"(token {args.name!r}, role {args.role}: shown this once; store it now)",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    from api import tokens

    with _owner_connection() as conn:
        rows = tokens.list_tokens(conn)
    if not rows:
        print("no API tokens (create one with: alpha api token create --role viewer --name NAME)")
        return 0
    print(f"{'NAME':<24} {'ROLE':<7} {'CREATED (UTC)':<20} STATUS")
    for t in rows:
        created = t.created_at.strftime("%Y-%m-%d %H:%M:%S") if t.created_at else "-"
        status = f"revoked {t.revoked_at:%Y-%m-%d %H:%M:%S}" if t.revoked_at else "live"
        print(f"{t.name:<24} {t.role.value:<7} {created:<20} {status}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from api import tokens

    with _owner_connection() as conn:
        tokens.revoke(conn, args.name)
    print(f"revoked {args.name}")
    return 0


def _webhook_secret(args: argparse.Namespace) -> int:
    from api import webhook_secrets

    with _owner_connection() as conn:
        secret = webhook_secrets.set_secret(conn, args.bot_id)
    print(secret)
    print(
        f"(webhook secret of {args.bot_id!r}: shown this once; put it in the alert's JSON as"
        f' "secret"; signing senders key HMAC-SHA256 with'
        f" {webhook_secrets.signing_key(secret)}; any older secret stopped working)",
        file=sys.stderr,
    )
    return 0


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 1-65535")
    return port


def register(cli: Cli) -> None:
    run = cli.command(
        "run",
        "api",
        "run the HTTP API (JSON under /api/v1/, /openapi.json, /healthz); bearer tokens"
        " from 'alpha api token create'",
        _run,
    )
    run.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: only this machine; set 0.0.0.0"
        " deliberately, behind TLS)",
    )
    run.add_argument("--port", type=_port, default=8080, help="port (default 8080)")

    token_help = "API tokens: create (printed once), list, revoke"
    token_parser = cli.group("api").add_parser("token", help=token_help, description=token_help)
    token_parser.set_defaults(func=lambda _args: _usage(token_parser))
    tokens_table = token_parser.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=type(cli.parser)
    )
    create = tokens_table.add_parser(
        "create",
        help="make a token and print it once (only its SHA-256 is stored)",
        description="Make a token and print it once; only its SHA-256 is stored.",
    )
    create.add_argument(
        "--role",
        required=True,
        choices=["viewer", "admin"],
        help="viewer: every read route; admin: also pause and resume",
    )
    create.add_argument("--name", required=True, help="a unique name (shown in the audit log)")
    create.set_defaults(func=_create)
    listing = tokens_table.add_parser(
        "list", help="every token: name, role, created, revoked", description="List API tokens."
    )
    listing.set_defaults(func=_list)
    revoke = tokens_table.add_parser(
        "revoke",
        help="revoke a token at once (its requests get 401)",
        description="Revoke a token: its next request gets 401.",
    )
    revoke.add_argument("name", metavar="NAME")
    revoke.set_defaults(func=_revoke)

    secret_help = "make (or replace) a webhook bot's secret and print it once"
    secret = cli.group("api").add_parser(
        "webhook-secret",
        help=secret_help,
        description=secret_help
        + '. TradingView alerts carry it in their JSON body as "secret"; only its'
        " SHA-256 is stored, and a new one replaces the old at once (docs/api.md#webhooks).",
    )
    secret.add_argument("bot_id", metavar="BOT_ID", help="a registered bot of type webhook")
    secret.set_defaults(func=_webhook_secret)
