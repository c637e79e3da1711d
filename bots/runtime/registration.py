"""A bot's registration, read from ``trading.bots`` (the operator's source of truth)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.config import Role, Settings
from core.errors import UserError
from core.ids import EXTERNAL_BOT, AccountName, BotCode, BotId

_COLUMNS = (
    "bot_id, bot_code, bot_type, status, mode, account, redis_db, symbols, config, initial_capital"
)


@dataclass(frozen=True)
class Registration:
    bot_id: BotId
    bot_code: BotCode
    bot_type: str
    status: str
    mode: str
    account: AccountName
    #: The bot's own logical DB; ``None``: the shared one (``redis_keys.SHARED_DB``).
    redis_db: int | None
    symbols: tuple[str, ...]
    config: dict[str, Any]
    initial_capital: Decimal | None
    #: Other non-retired bots registered on the same exchange account.
    account_peers: tuple[str, ...] = ()


def load_registration(settings: Settings, bot_id: str) -> Registration:
    """The bot's row; a clear error for an unknown, retired or Redis-less bot."""
    from core.db import connect

    try:
        wanted = str(BotId(bot_id))  # validated; plain str so messages read "bot 'x'"
    except ValueError as exc:
        raise UserError(str(exc)) from None
    with connect(settings, Role.BOT) as conn:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM trading.bots WHERE bot_id = %s", (wanted,)
        ).fetchone()
        peers = conn.execute(
            "SELECT bot_id FROM trading.bots WHERE account = (SELECT account FROM trading.bots"
            " WHERE bot_id = %s) AND bot_id <> %s AND status <> 'retired'"
            " AND bot_id <> %s ORDER BY bot_id",
            (wanted, wanted, str(EXTERNAL_BOT)),
        ).fetchall()
    if row is None:
        raise UserError(f"bot {wanted!r} is not registered (see: alpha bots list)")
    bot_id_, code, bot_type, status, mode, account, redis_db, symbols, config, capital = row
    if status == "retired":
        raise UserError(f"bot {wanted!r} is retired; register a new bot id to trade again")
    if bot_id_ == EXTERNAL_BOT:
        raise UserError(f"bot {wanted!r} is reserved for unattributed executions; it does not run")
    config = dict(config or {})
    if symbols and "symbols" not in config:
        config["symbols"] = list(symbols)
    return Registration(
        BotId(bot_id_),
        BotCode(code),
        bot_type,
        status,
        mode,
        AccountName(account),
        None if redis_db is None else int(redis_db),
        tuple(symbols or ()),
        config,
        capital,
        tuple(str(p) for (p,) in peers),
    )
