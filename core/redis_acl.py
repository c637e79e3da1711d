"""Who may touch which Redis key: one ACL user per process role (docs/redis.md#access).

Redis 7's ACLs restrict commands and key names, not logical DBs, and every key already
carries its owner in its name (``core/redis_keys.py``), so the rules below hold whether
the bots' keys live in DBs of their own or all in one.

Deny by default: each user starts from ``-@all`` and no keys, and gets plain reads and
writes (``@read @write @transaction @connection``) minus everything Redis files as
``@dangerous`` (``CONFIG``, ``FLUSHALL``, ``KEYS``, ``DEBUG``, ``ACL`` …) on its own key
patterns. ``%R~`` grants reads only. A selector in parentheses grants exactly the
commands it names on exactly its keys, so a bot may append to the shared ``alerts``
stream without being able to read, trim or delete it.

The rules are rendered into ``deploy/redis/users.acl.in`` (``python -m deploy.redis_acl``)
whose lines the Redis container's entrypoint completes with each user's password hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from core import redis_keys
from core.ids import BotId

#: Which node owns which slot: what a Redis Cluster client asks first
#: (docs/redis.md#redis-cluster). A standalone Redis answers it with an error.
_TOPOLOGY = "+cluster|slots"
#: Plain data commands, nothing that reconfigures, flushes or lists the server.
_BASE = (
    "resetkeys resetchannels -@all +@connection +@read +@write +@transaction -@dangerous"
    " +time"  # the server's clock (the listener trims its hand-over stream by it)
    f" {_TOPOLOGY}"
)
#: Lua scripts: compare-and-set in one step (a bot's lease, the listener's batched
#: appends). Inside a script every key is still checked against the user's patterns.
_SCRIPTS = "+eval +evalsha +script|load"
#: Append to the shared alert stream; nothing else on it.
_RAISE_ALERTS = f"(+xadd ~{redis_keys.ALERTS})"

#: The placeholder for a bot's id in the template's one bot line.
BOT_PLACEHOLDER = "{bot}"
#: ``user <name>`` of a bot in Redis.
BOT_USER_PREFIX = "bot-"
#: The operator's user (CLI, one-shot jobs): Redis's ``default`` user, so a client that
#: sends only a password (``redis-cli -a``, ``REDISCLI_AUTH``) is the operator.
OPERATOR = "default"


@dataclass(frozen=True)
class AclUser:
    name: str
    rules: str


def _keys(*patterns: str) -> str:
    return " ".join(patterns)


def bot_user(bot_id: BotId) -> AclUser:
    """A bot: its own keys and streams; reads its positions (the listener writes them)
    and the kill flag; appends alerts."""
    own = _keys(
        f"~bot:{bot_id}:*",
        f"~{redis_keys.commands_stream(bot_id)}",
        f"~{redis_keys.fills_stream(bot_id)}",
        f"%R~{redis_keys.position_pattern(bot_id)}",
    )
    kill = f"(+get +exists ~{redis_keys.KILL_FLAG})"
    return AclUser(f"{BOT_USER_PREFIX}{bot_id}", f"{_BASE} {_SCRIPTS} {own} {kill} {_RAISE_ALERTS}")


def operator_user() -> AclUser:
    """The operator's CLI and the one-shot jobs (bootstrap registers bots and writes their
    state): every key, still no dangerous command."""
    return AclUser(OPERATOR, f"{_BASE} ~*")


#: ``alpha fills assign``'s user (:func:`claims_user`).
CLAIMS = "claims"


def claims_user() -> AclUser:
    """The operator's ``alpha fills assign``: appends a claim request for the listener and
    pops the listener's answer, nothing else (no read of the stream, no other key, not
    even ``GET``). The CLI logs in as this user whenever ``REDIS_CLAIMS_PASSWORD`` is set
    (websocket_listener/claim_cli.py)."""
    return AclUser(
        CLAIMS,
        f"resetkeys resetchannels -@all +@connection {_TOPOLOGY}"
        f" (+xadd ~{redis_keys.FILL_CLAIMS})"
        f" (+blpop ~{redis_keys.fill_claim_reply('*')})",
    )


def service_users(bot_ids: Iterable[BotId] = ()) -> list[AclUser]:
    """The five services, the operator's claims user, then a user per bot."""
    any_bot = BotId.trusted("*")  # a glob, not an id
    return [
        # The only writer of positions and fill streams; scripts append many stream
        # entries in one command (websocket_listener/redis_mirror.py).
        AclUser(
            "listener",
            f"{_BASE} {_SCRIPTS} "
            + _keys(
                f"~{redis_keys.position_pattern(any_bot)}",
                f"~{redis_keys.fills_stream(any_bot)}",
                "~listener:*",
            )
            + f" {_RAISE_ALERTS}",
        ),
        # Trade sync: its status, hands missing executions to the listener, raises drift.
        AclUser(
            "sync",
            f"{_BASE} ~{redis_keys.SYNC_STATUS} (+xadd ~{redis_keys.HANDOVER}) {_RAISE_ALERTS}",
        ),
        # The C2 consumes alerts, sets bot states and the kill flag, sends bot commands
        # and backup requests, reads the rest of the status keys, and asks the listener
        # to claim external fills: append only, then pop the listener's answer.
        AclUser(
            "c2",
            f"{_BASE} "
            + _keys(
                f"~{redis_keys.ALERTS}",
                f"~{redis_keys.KILL_FLAG}",
                f"~{redis_keys.bot_state(any_bot)}",
                f"~{redis_keys.commands_stream(any_bot)}",
                f"~{redis_keys.BACKUP_REQUESTS}",
                "%R~bot:*",
                f"%R~{redis_keys.position_pattern(any_bot)}",
                f"%R~{redis_keys.LISTENER_STATUS}",
                f"%R~{redis_keys.SYNC_STATUS}",
            )
            + f" (+xadd ~{redis_keys.FILL_CLAIMS})"
            + f" (+blpop ~{redis_keys.fill_claim_reply('*')})",
        ),
        # The HTTP API: sets bots' states (their state keys, as the C2 does), appends to
        # their command streams (flatten, webhook signals), sets, reads and clears the
        # kill flag (the C2's /kill and /unkill, confirmed) and reads the alert stream
        # (its event stream uses XREAD, never a group); it never consumes alerts nor
        # reads or trims a bot's commands. Its pending confirmations are its own keys
        # (api/confirmations.py); it may append backup requests (the C2's /backup).
        # After ``PATCH /bots/{id}`` it tells a running bot to reload, as ``alpha bots
        # update`` does (core/operator/bot_reload.py): whether the bot is alive (its
        # heartbeat exists) and the bot's one-line answer, popped from its reply key.
        AclUser(
            "api",
            f"{_BASE} ~{redis_keys.bot_state(any_bot)} %R~{redis_keys.ALERTS}"
            f" ~{redis_keys.api_confirmation('*')}"
            f" (+xadd ~{redis_keys.commands_stream(any_bot)})"
            f" (+xadd ~{redis_keys.BACKUP_REQUESTS})"
            f" (+get +set +del ~{redis_keys.KILL_FLAG})"
            f" (+exists ~{redis_keys.heartbeat(any_bot)})"
            f" (+blpop ~{redis_keys.command_reply(any_bot, '*')})",
        ),
        # Backups: consumes its request stream, raises alerts.
        AclUser("backup", f"{_BASE} ~{redis_keys.BACKUP_REQUESTS} {_RAISE_ALERTS}"),
        claims_user(),
        *(bot_user(bot_id) for bot_id in bot_ids),
    ]


#: The ACL user of each long-running ``alpha run`` verb; a bot's is :func:`bot_user`'s.
SERVICE_USERS = {
    "listener": "listener",
    "trade-sync": "sync",
    "c2": "c2",
    "api": "api",
    "backup": "backup",
}


def user_for(verb: str, bot_id: str | None = None) -> str | None:
    """The user ``alpha run VERB`` logs in as (None: a verb without one of its own)."""
    if verb == "bot":
        return f"{BOT_USER_PREFIX}{bot_id}" if bot_id else None
    return SERVICE_USERS.get(verb)


def password_hash(password: str) -> str:
    """Redis's ``#<hex>`` form: the ACL file holds no password, only its SHA-256."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def acl_line(user: AclUser, password: str) -> str:
    return f"user {user.name} reset on {password_hash(password)} {user.rules}"


def acl_file(users: Iterable[tuple[AclUser, str]]) -> str:
    """An ACL file for ``aclfile``: every user with its password."""
    return "".join(acl_line(user, password) + "\n" for user, password in users)


def template() -> str:
    """``deploy/redis/users.acl.in``: one ``<name> <rules>`` line per role, then the bot
    line with :data:`BOT_PLACEHOLDER` for the id."""
    users = [operator_user(), *service_users([BotId.trusted(BOT_PLACEHOLDER)])]
    lines = [f"{u.name} {u.rules}" for u in users]
    return "".join(line + "\n" for line in lines)
