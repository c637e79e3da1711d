"""``alpha db …`` (migrations), ``alpha bots …`` (the registry), ``alpha kill …``,
``alpha drift ack``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.cli import Cli


def _settings() -> Any:
    from core.config import load_settings

    return load_settings()


# --- alpha db ----------------------------------------------------------------------------


def _upgrade(args: argparse.Namespace) -> int:
    from database import bootstrap

    settings = _settings()
    if bootstrap.admin_available(settings):
        for line in bootstrap.bootstrap(settings):
            print(line)
    else:
        print(
            f"admin login {settings.postgres.user} not available: "
            "assuming roles and database exist",
            file=sys.stderr,
        )
    bootstrap.upgrade(settings, args.revision)
    if bootstrap.admin_available(settings):
        from database import guard

        for line in guard.lock(settings):
            print(line)
    print(f"{settings.postgres.db}: at revision {bootstrap.current(settings)}")
    return 0


def _downgrade(args: argparse.Namespace) -> int:
    from core.errors import UserError
    from database import bootstrap

    settings = _settings()
    if args.revision == "base" and not args.yes:
        # "base" drops every table, the ledger included.
        if not sys.stdin.isatty():
            raise UserError(
                f"db downgrade base drops every table of {settings.postgres.db}, the ledger "
                "included; pass --yes to confirm"
            )
        answer = input(f"This drops every table of {settings.postgres.db}. Type its name: ")
        if answer.strip() != settings.postgres.db:
            raise UserError("not confirmed; nothing was changed")
    if args.revision == "base":
        _downgrade_to_base(settings)
    else:
        bootstrap.downgrade(settings, args.revision)
    print(f"{settings.postgres.db}: at revision {bootstrap.current(settings) or '(empty)'}")
    return 0


def _downgrade_to_base(settings: Any) -> None:
    """Base drops the ledger's schema, which the locked guard refuses: the admin login
    unlocks it first (and locks it again if the downgrade fails)."""
    from core.errors import UserError
    from database import bootstrap, guard

    if not bootstrap.admin_available(settings):
        raise UserError(
            "db downgrade base needs the admin login (POSTGRES_USER/POSTGRES_PASSWORD): "
            "the single-writer guard refuses dropping the ledger otherwise"
        )
    guard.unlock(settings)
    try:
        bootstrap.downgrade(settings, "base")
    except BaseException:
        guard.lock(settings)
        raise


def _current(_args: argparse.Namespace) -> int:
    from database import bootstrap

    settings = _settings()
    print(bootstrap.current(settings) or "(empty)")
    return 0


# --- alpha bots --------------------------------------------------------------------------


def _owner(settings: Any) -> Any:
    from core.config import Role
    from core.db import connect

    return connect(settings, Role.OWNER, direct=True)


def _register(args: argparse.Namespace) -> int:
    from database import bots

    settings = _settings()
    spec = bots.build_spec(
        bot_id=args.bot_id,
        bot_code=args.code,
        bot_name=args.name or args.bot_id,
        bot_type=args.type,
        strategy_name=args.strategy or args.type,
        account=args.account,
        redis_db=args.redis_db,
        symbols=args.symbols,
        mode=args.mode,
        config=args.config,
        initial_capital=args.initial_capital,
        exclusive=args.exclusive,
        infra_db=settings.redis.infra_db,
        cluster=settings.redis.cluster,
    )
    with _owner(settings) as conn:
        bot = bots.register(conn, spec)
    _set_redis_state(settings, bot)
    print(f"registered {bot.bot_id} (code {bot.bot_code}, {bot.bot_type}, {bot.mode})")
    return 0


def _set_redis_state(settings: Any, bot: Any, *, notify: bool = False) -> None:
    """After the registry commit (docs/ledger.md invariant 10: database first, Redis second).

    ``notify``: also leave a ``state`` notice on the bot's command stream, as the C2 and
    the API do (core/operator/state.py), so a running bot acknowledges the change
    (``bot:{id}:state_applied``) and re-reads its registry row at once."""
    import getpass

    import redis

    from core import redis_keys
    from core.errors import UserError
    from core.ids import EXTERNAL_BOT, BotId
    from core.operator.control import command_entry, new_command_id
    from core.redis_client import redis_client
    from database.bots import REDIS_STATE

    if bot.bot_id == EXTERNAL_BOT:  # the reserved row never runs: it has no state key
        return
    db = redis_keys.bot_db(bot.redis_db)  # NULL: the shared DB, keys under the bot id
    client = redis_client(settings, db)
    bot_id, state = BotId(bot.bot_id), REDIS_STATE[bot.status]
    try:
        try:
            client.set(redis_keys.bot_state(bot_id), state)
        except redis.RedisError as exc:
            raise UserError(
                f"bot {bot.bot_id} is {bot.status} in the registry, but its Redis state "
                f"(db {db}) was not updated: {exc}"
            ) from None
        if notify:
            notice = command_entry(
                "state", f"cli:{getpass.getuser()}", new_command_id(), state=state
            )
            try:
                client.xadd(redis_keys.commands_stream(bot_id), notice)  # type: ignore[arg-type]
            except redis.RedisError as exc:  # the change holds: the bot reads the key per order
                print(f"warning: {bot.bot_id} is {state}, but a running bot was not told and"
                      f" will not acknowledge it: {exc}", file=sys.stderr)  # fmt: skip
    finally:
        client.close()


def _status_change(action: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        from database import bots

        settings = _settings()
        with _owner(settings) as conn:
            bot = bots.set_status(conn, args.bot_id, action)
        _set_redis_state(settings, bot, notify=True)
        print(f"{bot.bot_id}: {bot.status}")
        return 0

    return handler


def _update(args: argparse.Namespace) -> int:
    from core.errors import UserError
    from database import bot_versions

    given = (args.config, args.symbols, args.mode, args.name, args.initial_capital)
    if all(value is None for value in given):
        raise UserError(
            "nothing to update: give --config, --symbols, --mode, --name or --initial-capital"
        )
    with _owner(_settings()) as conn:
        bot, changes = bot_versions.update(
            conn, args.bot_id, config=args.config, symbols=args.symbols, mode=args.mode,
            name=args.name, initial_capital=args.initial_capital,
        )  # fmt: skip
    if not changes:
        print(f"{bot.bot_id}: nothing changed (the registration already says that)")
        return 0
    print(f"{bot.bot_id}: {bot_versions.describe(changes)}")
    _reload(bot, args.timeout)
    return 0


def _reload(bot: Any, timeout: float) -> None:
    """A running bot takes the update now where that is safe (bots/runtime/reload.py);
    audited before the command is sent and again with the bot's answer."""
    import getpass

    import redis

    from core import redis_keys
    from core.ids import BotId
    from core.operator import bot_reload
    from core.operator.control import new_command_id
    from core.redis_client import redis_client
    from database import bots

    settings = _settings()
    client = redis_client(settings, redis_keys.bot_db(bot.redis_db))
    bot_id = BotId(bot.bot_id)
    try:
        if not bot_reload.running(client, bot_id):
            print(f"{bot.bot_id} is not running: the change applies when it starts")
            return
        command_id = new_command_id()
        with _owner(settings) as conn:
            bots.audit(conn, "reload", bot.bot_id, f"command {command_id}", outcome="pending")
        done = bot_reload.request_reload(
            client, bot_id, f"cli:{getpass.getuser()}", command_id, timeout
        )
    except redis.RedisError as exc:
        print(f"{bot.bot_id}: could not ask the running bot ({type(exc).__name__}: {exc});"
              " restart it to apply this")  # fmt: skip
        return
    finally:
        client.close()
    answer = done.answer or f"no answer within {timeout:g}s"
    with _owner(settings) as conn:
        bots.audit(conn, "reload", bot.bot_id, f"command {command_id}: {answer}",
                   outcome=done.outcome)  # fmt: skip
    if done.answer is None:
        print(f"{bot.bot_id}: no answer within {timeout:g}s; it takes the update when it reads"
              " the command (or at its next start)")  # fmt: skip
    elif done.outcome == "accepted":
        print(f"{bot.bot_id} (running): {done.answer}")
    else:
        print(f"{bot.bot_id} (running) did not apply it: {done.answer}; restart it to apply it")


def _history(args: argparse.Namespace) -> int:
    from database import bot_versions

    with _owner(_settings()) as conn:
        versions = bot_versions.history(conn, args.bot_id)
    if args.json:
        rows = [{"version": v.version, "changed_at": v.changed_at.isoformat(),
                 "changed_by": v.changed_by, "changes": v.changes} for v in versions]  # fmt: skip
        print(json.dumps(rows, indent=2, default=str))
        return 0
    for v in versions:
        what = bot_versions.describe(v.changes) if v.changes else "registered"
        print(f"v{v.version}  {v.changed_at:%Y-%m-%d %H:%M:%S}  {v.changed_by:<12}  {what}")
    return 0


def _reset_risk(args: argparse.Namespace) -> int:
    """Audited first, then the command on the bot's stream (it acts when it reads it)."""
    import redis

    from core import redis_keys
    from core.errors import UserError
    from core.ids import EXTERNAL_BOT, BotId
    from core.operator.control import command_entry, new_command_id
    from core.redis_client import redis_client
    from database import bots

    settings = _settings()
    command_id = new_command_id()
    with _owner(settings) as conn:
        bot = bots.get_bot(conn, args.bot_id)
        if bot.bot_id == EXTERNAL_BOT or bot.status == "retired":
            raise UserError(f"bot {bot.bot_id} is {bot.status}: it has no command stream")
        bots.audit(conn, "reset-risk", bot.bot_id, f"command {command_id}")
    client = redis_client(settings, redis_keys.bot_db(bot.redis_db))
    try:
        client.xadd(
            redis_keys.commands_stream(BotId(bot.bot_id)),
            command_entry("reset-risk", "cli", command_id),  # type: ignore[arg-type]
        )
    except redis.RedisError as exc:
        raise UserError(f"reset-risk for {bot.bot_id} audited but not sent: {exc}") from None
    finally:
        client.close()
    print(f"{bot.bot_id}: reset-risk sent (command {command_id}); its halt lifts when it reads it")
    return 0


def _copy_to_cluster(args: argparse.Namespace) -> int:
    import os

    from core.errors import UserError
    from database import redis_to_cluster

    host, _, port = args.source.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--from: give HOST:PORT, got {args.source!r}")
    password = os.environ.get("REDIS_SOURCE_PASSWORD") or None
    print(redis_to_cluster.copy_to_cluster(
        _settings(), host, int(port), args.from_infra_db, password
    ))  # fmt: skip
    return 0


def _move_redis(args: argparse.Namespace) -> int:
    from database import redis_move

    print(redis_move.move_to_shared(_settings(), args.bot_id))
    return 0


# --- alpha kill --------------------------------------------------------------------------


def _kill_flag(settings: Any) -> dict[str, str] | None:
    from core import kill_switch, redis_keys
    from core.redis_client import infra_client, sync_reply

    client = infra_client(settings)
    try:
        return kill_switch.parse_flag(sync_reply(client.get(redis_keys.KILL_FLAG)))
    finally:
        client.close()


def _kill_status(_args: argparse.Namespace) -> int:
    flag = _kill_flag(_settings())
    if flag is None:
        print("kill switch: not set")
    else:
        print(f"kill switch: SET by {flag['requested_by']} at {flag['at']}")
    return 0


def _kill_lift(args: argparse.Namespace) -> int:
    """Audited first (database first, Redis second): a lift whose Redis write fails
    leaves a 'failed' row and the flag in place."""
    import redis

    from core import redis_keys
    from core.errors import UserError
    from core.redis_client import infra_client
    from database import bots

    settings = _settings()
    flag = _kill_flag(settings)
    if flag is None:
        print("kill switch: not set; nothing to lift")
        return 0
    if not args.yes:
        raise UserError(
            f"the kill switch was set by {flag['requested_by']} at {flag['at']}; lifting it "
            "lets bots you resume enter again: repeat with --yes"
        )
    detail = f"set by {flag['requested_by']} at {flag['at']}"
    with _owner(settings) as conn:
        bots.audit(conn, "kill lift", None, detail)
    client = infra_client(settings)
    try:
        client.delete(redis_keys.KILL_FLAG)
    except redis.RedisError as exc:
        with _owner(settings) as conn:
            bots.audit(conn, "kill lift", None, f"{detail}; Redis: {exc}", outcome="failed")
        raise UserError(f"the kill switch is still set: Redis refused: {exc}") from None
    finally:
        client.close()
    print("kill switch lifted; every bot stays paused until `alpha bots resume BOT_ID`")
    return 0


def _drift_ack(args: argparse.Namespace) -> int:
    from database.drift_cli import ack

    return ack(args)


def _list(args: argparse.Namespace) -> int:
    from database import bots

    with _owner(_settings()) as conn:
        rows = bots.list_bots(conn, include_retired=args.all)
    if args.json:
        print(json.dumps([b.as_dict() for b in rows], indent=2, default=str))
        return 0
    header = ("BOT_ID", "CODE", "TYPE", "STATUS", "MODE", "ACCOUNT", "REDIS", "SYMBOLS")
    table = [header] + [
        (
            b.bot_id,
            b.bot_code,
            b.bot_type,
            b.status,
            b.mode,
            b.account,
            _redis_column(b),
            ",".join(b.symbols) + (" (exclusive)" if b.exclusive else ""),
        )
        for b in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _redis_column(bot: Any) -> str:
    from core.ids import EXTERNAL_BOT

    if bot.redis_db is not None:
        return str(bot.redis_db)
    return "-" if bot.bot_id == EXTERNAL_BOT else "shared"


def _show(args: argparse.Namespace) -> int:
    from database import bots

    with _owner(_settings()) as conn:
        bot = bots.get_bot(conn, args.bot_id)
    data = bot.as_dict()
    data["universe"] = _universe(_settings(), bot)
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return 0
    for key, value in data.items():
        if key == "config":
            value = json.dumps(value, sort_keys=True)
        elif key == "symbols":
            value = ",".join(value)
        elif key == "universe" and isinstance(value, dict):
            value = f"{','.join(value['symbols']) or '(none)'} (as of {value['updated_at']})"
        print(f"{key:16} {'-' if value is None else value}")
    return 0


def _universe(settings: Any, bot: Any) -> dict[str, Any] | str | None:
    """The symbols the running bot may enter now, as it published them (a strategy with a
    refreshed universe, e.g. LXAlgo); None when it publishes none. Best effort: the
    registry is the answer to `bots show`, Redis only adds to it."""
    import redis

    from core import redis_keys
    from core.ids import EXTERNAL_BOT, BotId
    from core.redis_client import redis_client

    if bot.bot_id == EXTERNAL_BOT:
        return None
    client = redis_client(settings, redis_keys.bot_db(bot.redis_db))
    try:
        raw: Any = client.get(redis_keys.universe(BotId(bot.bot_id)))  # sync: str | None
    except redis.RedisError as exc:
        return f"(Redis unreachable: {type(exc).__name__})"
    finally:
        client.close()
    if raw is None:
        return None
    published: dict[str, Any] = json.loads(raw)
    return published


def _redis_db(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def register(cli: Cli) -> None:
    up = cli.command("db", "upgrade", "create roles/database if needed, then migrate", _upgrade)
    up.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    down = cli.command("db", "downgrade", "migrate down to REV (e.g. base)", _downgrade)
    down.add_argument("revision", metavar="REV")
    down.add_argument(
        "--yes", action="store_true", help="confirm a downgrade to base (drops the ledger)"
    )
    cli.command("db", "current", "print the database's current revision", _current)

    reg = cli.command("bots", "register", "add a bot to the registry", _register)
    reg.add_argument("bot_id", metavar="BOT_ID", help="e.g. shortseller_001")
    reg.add_argument("--type", required=True, help="bot type (plugin), e.g. shortseller")
    reg.add_argument("--code", required=True, help="2-8 lowercase letters/digits, in order ids")
    reg.add_argument("--name", help="display name (default: BOT_ID)")
    reg.add_argument("--strategy", help="strategy name (default: TYPE)")
    reg.add_argument("--account", default="main", help="exchange account (default: main)")
    reg.add_argument(
        "--redis-db", type=_redis_db, metavar="N",
        help="give the bot its own logical DB 0-15; omitted, its keys live in the shared"
        " DB 0 under its bot id (no limit on the number of bots)",
    )  # fmt: skip
    reg.add_argument("--symbols", required=True, metavar="A,B", help="e.g. BTCUSDT,ETHUSDT")
    reg.add_argument("--mode", required=True, choices=("paper", "demo", "testnet", "live"))
    reg.add_argument("--config", metavar="JSON|@FILE",
                     help="bot type parameters as a JSON object, or @FILE holding one")  # fmt: skip
    reg.add_argument(
        "--initial-capital", metavar="X",
        help="the bot's allocation in USDT: its sizing and drawdown base (equity = this + its"
        " realized and unrealized P&L). Required on a shared account; on an account of its"
        " own it defaults to the account's equity when the bot starts",
    )  # fmt: skip
    reg.add_argument(
        "--exclusive",
        action="store_true",
        help="the only bot trading these symbols on this account (may use reduceOnly)",
    )
    cli.command("kill", "status", "is the kill switch set, by whom, when", _kill_status)
    lift = cli.command(
        "kill", "lift", "lift the kill switch (audited); bots stay paused until resumed", _kill_lift
    )
    lift.add_argument("--yes", action="store_true", help="confirm the lift")
    drift = cli.command(
        "drift", "ack",
        "let bots enter despite open drift on a bot's symbols or an account, as the drift"
        " is now (audited); a drift that changes or a new one holds entries again",
        _drift_ack,
    )  # fmt: skip
    drift.add_argument(
        "target", metavar="BOT|ACCOUNT",
        help="a bot (its account and symbols) or an account (every symbol)",
    )  # fmt: skip
    drift.add_argument("--reason", metavar="TEXT", help="why (kept with the acknowledgement)")
    drift.add_argument("--yes", action="store_true", help="confirm (without it: list, do nothing)")
    lst = cli.command("bots", "list", "list registered bots", _list)
    lst.add_argument("--all", action="store_true", default=True, help=argparse.SUPPRESS)
    lst.add_argument("--active", dest="all", action="store_false", help="hide retired bots")
    lst.add_argument("--json", action="store_true", help="print as JSON")
    show = cli.command("bots", "show", "show one bot", _show)
    show.add_argument("bot_id", metavar="BOT_ID")
    show.add_argument("--json", action="store_true", help="print as JSON")
    for action, text in (
        ("pause", "stop new entries (exits still managed)"),
        ("resume", "allow new entries again"),
        ("retire", "retire a bot for good (its Redis DB becomes free)"),
    ):
        p = cli.command("bots", action, text, _status_change(action))
        p.add_argument("bot_id", metavar="BOT_ID")
    upd = cli.command(
        "bots", "update",
        "change a bot's config, symbols, mode, name or capital (validated; every version kept)",
        _update,
    )  # fmt: skip
    upd.add_argument("bot_id", metavar="BOT_ID")
    upd.add_argument("--config", metavar="JSON|@FILE",
                     help="keys to set (each replaces the stored key of that name)")  # fmt: skip
    upd.add_argument("--symbols", metavar="A,B", help="the bot's symbols, all of them")
    upd.add_argument("--mode", choices=("paper", "demo", "testnet", "live"))
    upd.add_argument("--name", help="display name")
    upd.add_argument("--initial-capital", metavar="X", help="the bot's allocation in USDT")
    upd.add_argument(
        "--timeout", type=float, default=15.0, metavar="SECONDS",
        help="how long to wait for a running bot's answer (default 15): it applies risk"
        " limits, notify settings and the parameters its type allows live, or says it"
        " needs a restart",
    )  # fmt: skip
    hist = cli.command("bots", "history", "every version of a bot's registration", _history)
    hist.add_argument("bot_id", metavar="BOT_ID")
    hist.add_argument("--json", action="store_true", help="print as JSON")
    reset = cli.command(
        "bots", "reset-risk",
        "lift a bot's risk halts (the host's and its strategy's own, e.g. LXAlgo's); "
        "its limits count from its equity now",
        _reset_risk,
    )  # fmt: skip
    reset.add_argument("bot_id", metavar="BOT_ID")
    move = cli.command(
        "bots", "move-redis",
        "move a stopped bot's Redis keys from its own DB into the shared DB (audited)",
        _move_redis,
    )  # fmt: skip
    move.add_argument("bot_id", metavar="BOT_ID")
    move.add_argument("--to", required=True, choices=("shared",), help="where: the shared DB")
    copy = cli.command(
        "redis", "copy-to-cluster",
        "copy a stopped deployment's standalone Redis (its DB 0 and infrastructure DB) into"
        " the Redis Cluster of REDIS_HOST/REDIS_PORT (REDIS_CLUSTER=true); its password,"
        " if any, in REDIS_SOURCE_PASSWORD",
        _copy_to_cluster,
    )  # fmt: skip
    copy.add_argument("--from", dest="source", required=True, metavar="HOST:PORT")
    copy.add_argument(
        "--from-infra-db", type=int, default=15, metavar="N",
        help="the standalone's REDIS_INFRA_DB (default 15)",
    )  # fmt: skip
