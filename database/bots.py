"""The bot registry (``trading.bots``): register, list, show, pause, resume, retire.

Every refusal is a one-line :class:`~core.errors.UserError` naming what is wrong and,
for a conflict, the bot it conflicts with. Writes run as the owner role on a direct
connection (the registry is an operator's tool, like migrations), each in one
transaction that locks the registry against a concurrent registration, so the
``exclusive`` check and the uniqueness checks see a stable table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core import plugins
from core.errors import UserError
from core.ids import EXTERNAL_BOT, EXTERNAL_CODE, AccountName, BotCode, BotId, Symbol

MODES = ("paper", "demo", "testnet", "live")
STATUSES = ("active", "paused", "stopped", "retired")
#: Redis ``bot:{id}:state`` for each registry status (core.redis_keys.bot_state).
REDIS_STATE = {"active": "running", "paused": "paused", "stopped": "stopped", "retired": "stopped"}

COLUMNS = (
    "bot_id, bot_code, bot_name, bot_type, strategy_name, status, mode, account, redis_db, "
    "symbols, config, initial_capital, created_at, updated_at, last_heartbeat"
)


@dataclass(frozen=True)
class BotSpec:
    """A validated registration, ready to insert."""

    bot_id: BotId
    bot_code: BotCode
    bot_name: str
    bot_type: str
    strategy_name: str
    account: AccountName
    #: The bot's own logical DB; ``None``: its keys live in ``redis_keys.SHARED_DB``.
    redis_db: int | None
    symbols: tuple[str, ...]
    mode: str
    config: dict[str, Any] = field(default_factory=dict)
    initial_capital: Decimal | None = None

    @property
    def exclusive(self) -> bool:
        return bool(self.config.get("exclusive"))


@dataclass(frozen=True)
class Bot:
    """One row of ``trading.bots``."""

    bot_id: str
    bot_code: str
    bot_name: str
    bot_type: str
    strategy_name: str
    status: str
    mode: str
    account: str
    redis_db: int | None
    symbols: tuple[str, ...]
    config: dict[str, Any]
    initial_capital: Decimal | None
    created_at: datetime
    updated_at: datetime
    last_heartbeat: datetime | None

    @property
    def exclusive(self) -> bool:
        return bool(self.config.get("exclusive"))

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["symbols"] = list(self.symbols)
        out["exclusive"] = self.exclusive
        return out


def from_row(row: dict[str, Any]) -> Bot:
    return Bot(**{**row, "symbols": tuple(row["symbols"] or ())})


# --- parsing and validation (no database) ---------------------------------------------


def parse_symbols(text: str) -> tuple[str, ...]:
    """``"btcusdt, ETHUSDT"`` → ``("BTCUSDT", "ETHUSDT")``; refuses empties and duplicates."""
    symbols = [part.strip().upper() for part in text.split(",") if part.strip()]
    if not symbols:
        raise UserError("--symbols: give at least one symbol, e.g. BTCUSDT,ETHUSDT")
    for symbol in symbols:
        if not Symbol.is_valid(symbol):
            raise UserError(
                f"--symbols: invalid symbol {symbol!r} (letters and digits, e.g. BTCUSDT)"
            )
    duplicates = sorted({s for s in symbols if symbols.count(s) > 1})
    if duplicates:
        raise UserError(f"--symbols: {', '.join(duplicates)} listed twice")
    return tuple(symbols)


def parse_config(text: str | None) -> dict[str, Any]:
    """``--config`` JSON (or ``@FILE``, a file holding it): must be an object."""
    if text is None or not text.strip():
        return {}
    if text.startswith("@"):
        path = text[1:]
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(1_000_001)
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise UserError(f"--config: cannot read {path}: {why}") from None
        if len(text) > 1_000_000:
            raise UserError(f"--config: {path} is larger than 1 MB")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"--config: malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(value, dict):
        raise UserError(f"--config: must be a JSON object, got {type(value).__name__}")
    return value


#: Far above any account, far below what NUMERIC cannot hold.
MAX_CAPITAL = Decimal(10) ** 12


def parse_capital(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UserError(f"--initial-capital: not a number: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise UserError(f"--initial-capital: must be a finite number >= 0, got {text}")
    if value > MAX_CAPITAL:
        raise UserError(f"--initial-capital: at most {MAX_CAPITAL:,} USDT, got {text[:40]}")
    return value


def build_spec(
    *,
    bot_id: str,
    bot_code: str,
    bot_name: str,
    bot_type: str,
    strategy_name: str,
    account: str,
    redis_db: int | None,
    symbols: str,
    mode: str,
    config: str | None = None,
    initial_capital: str | None = None,
    exclusive: bool = False,
    infra_db: int | None = None,
    cluster: bool = False,
) -> BotSpec:
    """Validate a registration; ``UserError`` with one line on the first problem.
    ``cluster``: Redis is a Redis Cluster (``REDIS_CLUSTER=true``), which has no DB but 0."""
    if bot_id == EXTERNAL_BOT:
        raise UserError(f"bot id {bot_id!r} is reserved for unattributed executions")
    if not BotId.is_valid(bot_id):
        raise UserError(
            f"invalid bot id {bot_id!r}: 3-32 characters, a lowercase letter first, "
            "then lowercase letters, digits or _ (e.g. shortseller_001)"
        )
    if bot_code == EXTERNAL_CODE:
        raise UserError(f"bot code {bot_code!r} is reserved for the external bot")
    if not BotCode.is_valid(bot_code):
        raise UserError(
            f"invalid bot code {bot_code!r}: 2-8 lowercase letters or digits (e.g. ss1)"
        )
    if not bot_name.strip() or len(bot_name) > 100:
        raise UserError("--name: give 1 to 100 characters")
    if not strategy_name.strip():
        raise UserError("--strategy: must not be empty")
    if not AccountName.is_valid(account):
        raise UserError(
            f"invalid account {account!r}: a lowercase letter, then lowercase letters, "
            "digits or _ (e.g. main)"
        )
    if redis_db is not None and cluster:
        raise UserError(
            "--redis-db: Redis is a cluster (REDIS_CLUSTER=true), which has only DB 0; "
            "register without --redis-db (the bot's keys carry its id)"
        )
    if redis_db is not None and not 0 <= redis_db <= 15:
        raise UserError(f"--redis-db: must be 0..15, got {redis_db}")
    if redis_db is not None and infra_db is not None and redis_db == infra_db:
        raise UserError(f"--redis-db: {redis_db} is REDIS_INFRA_DB (infrastructure keys)")
    if mode not in MODES:
        raise UserError(f"--mode: must be one of {', '.join(MODES)}, got {mode!r}")
    symbol_list = parse_symbols(symbols)
    raw = parse_config(config)
    known = plugins.available_types()
    if bot_type not in known:
        raise UserError(f"unknown bot type {bot_type!r} (known: {', '.join(known)})")
    if "symbols" in raw and [str(s).upper() for s in raw["symbols"]] != list(symbol_list):
        raise UserError("--config: 'symbols' differs from --symbols (give them once)")
    if raw.get("exclusive") is False and exclusive:
        raise UserError("--config: 'exclusive' is false but --exclusive was given")
    merged = {
        **raw,
        "symbols": list(symbol_list),
        "exclusive": exclusive or bool(raw.get("exclusive")),
    }
    # The stored config is what the bot will run with: validated, defaults filled in.
    stored = plugins.validate_registration(bot_type, merged)
    return BotSpec(
        bot_id=BotId(bot_id),
        bot_code=BotCode(bot_code),
        bot_name=bot_name.strip(),
        bot_type=bot_type,
        strategy_name=strategy_name.strip(),
        account=AccountName(account),
        redis_db=redis_db,
        symbols=symbol_list,
        mode=mode,
        config=stored,
        initial_capital=parse_capital(initial_capital),
    )


# --- database --------------------------------------------------------------------------


def lock(conn: psycopg.Connection[Any]) -> None:
    # Blocks other registrations (and status changes) until commit; readers are unaffected.
    conn.execute("LOCK TABLE trading.bots IN SHARE ROW EXCLUSIVE MODE")


def lock_rows(conn: psycopg.Connection[Any]) -> None:
    """:func:`lock` for a role without a table-wide privilege (the API's ``app``): an
    in-place update of every row takes ROW EXCLUSIVE, which a registration's ``LOCK``
    waits for, and every row's lock, which another update (or status change) waits for.
    No value changes."""
    conn.execute("UPDATE trading.bots SET updated_at = updated_at")


def _holder(conn: psycopg.Connection[Any], where: str, value: object) -> str:
    row = conn.execute(
        f"SELECT bot_id FROM trading.bots WHERE {where} = %s AND status <> 'retired' "
        "ORDER BY created_at LIMIT 1",
        (value,),
    ).fetchone()
    if row is None:  # a retired holder: only bot_id/bot_code stay taken after retirement
        row = conn.execute(
            f"SELECT bot_id FROM trading.bots WHERE {where} = %s LIMIT 1", (value,)
        ).fetchone()
    return str(row[0]) if row else "?"


def check_neighbours(conn: psycopg.Connection[Any], spec: BotSpec) -> None:
    """What a bot's registration must agree on with the other live bots of its account:
    exclusivity, leverage, explicit allocations (for an update too)."""
    _check_exclusive(conn, spec)
    _check_allocation(conn, spec)


def _check_exclusive(conn: psycopg.Connection[Any], spec: BotSpec) -> None:
    rows = conn.execute(
        "SELECT bot_id, symbols, config FROM trading.bots WHERE account = %s"
        " AND status <> 'retired' AND symbols && %s AND bot_id <> %s ORDER BY bot_id",
        (str(spec.account), list(spec.symbols), str(spec.bot_id)),
    ).fetchall()
    for other, symbols, config in rows:
        shared = sorted(set(symbols) & set(spec.symbols))
        if spec.exclusive:
            raise UserError(
                f"--exclusive refused: bot {other} also trades {', '.join(shared)} "
                f"on account {spec.account}"
            )
        if (config or {}).get("exclusive"):
            raise UserError(
                f"bot {other} trades {', '.join(shared)} exclusively on account {spec.account}"
            )
        _check_leverage(spec, other, shared, (config or {}).get("leverage"))


def _check_leverage(spec: BotSpec, other: str, shared: list[str], theirs: object) -> None:
    """Leverage is one setting per account and symbol: two bots wanting different values
    would keep resetting each other's margin, so the second registration is refused."""
    ours = spec.config.get("leverage")
    if ours is None or theirs is None or Decimal(str(ours)) == Decimal(str(theirs)):
        return
    raise UserError(
        f"leverage {ours} refused: bot {other} trades {', '.join(shared)} on account "
        f"{spec.account} at leverage {theirs} (one setting per account and symbol)"
    )


def _check_allocation(conn: psycopg.Connection[Any], spec: BotSpec) -> None:
    """On a shared account every bot's capital is explicit: the account's equity belongs
    to all of them, so none can size or measure drawdown on it."""
    rows = conn.execute(
        "SELECT bot_id, initial_capital FROM trading.bots WHERE account = %s AND bot_id <> %s"
        " AND status <> 'retired' AND bot_id <> %s ORDER BY bot_id",
        (str(spec.account), str(spec.bot_id), str(EXTERNAL_BOT)),
    ).fetchall()
    if not rows:
        return
    if spec.initial_capital is None:
        raise UserError(
            f"--initial-capital required: account {spec.account} is shared with bot "
            f"{rows[0][0]}, so this bot's allocation must be explicit"
        )
    missing = [str(bot) for bot, capital in rows if capital is None]
    if missing:
        raise UserError(
            f"account {spec.account} is shared from now on, but bot {missing[0]} has no "
            "--initial-capital; retire and re-register it with an allocation first"
        )


def register(conn: psycopg.Connection[Any], spec: BotSpec) -> Bot:
    """Insert ``spec`` (one transaction); refuses duplicates and exclusivity conflicts."""
    with conn.transaction():
        lock(conn)
        _check_exclusive(conn, spec)
        try:
            with conn.transaction():
                row = conn.cursor(row_factory=dict_row).execute(
                    f"""
                    INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name,
                        mode, account, redis_db, symbols, config, initial_capital)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    RETURNING {COLUMNS}
                    """,
                    (
                        str(spec.bot_id), str(spec.bot_code), spec.bot_name, spec.bot_type,
                        spec.strategy_name, spec.mode, str(spec.account), spec.redis_db,
                        list(spec.symbols), Jsonb(spec.config), spec.initial_capital,
                    ),
                ).fetchone()  # fmt: skip
        except psycopg.errors.UniqueViolation as exc:
            raise _duplicate(conn, spec, exc) from None
        _check_allocation(conn, spec)  # after the duplicate checks: those name the clash
        audit(conn, "register", spec.bot_id, f"{spec.bot_type} {spec.mode} {spec.account}")
        assert row is not None
        from database import bot_versions  # it builds on this module

        bot_versions.record(conn, from_row(row), "registration", {})
    assert row is not None
    return from_row(row)


def _duplicate(
    conn: psycopg.Connection[Any], spec: BotSpec, exc: psycopg.errors.UniqueViolation
) -> UserError:
    constraint = exc.diag.constraint_name or ""
    if constraint == "bots_pkey":
        return UserError(f"bot {spec.bot_id} is already registered")
    if "bot_code" in constraint:
        holder = _holder(conn, "bot_code", str(spec.bot_code))
        return UserError(f"bot code {spec.bot_code} is already used by bot {holder}")
    if "redis_db" in constraint:
        holder = _holder(conn, "redis_db", spec.redis_db)
        return UserError(f"redis db {spec.redis_db} is already used by bot {holder}")
    return UserError(f"bot {spec.bot_id} conflicts with an existing bot ({constraint})")


def audit(
    conn: psycopg.Connection[Any],
    command: str,
    bot_id: str | None,
    detail: str,
    outcome: str = "accepted",
    *,
    actor: Actor | None = None,
) -> None:
    """One row of the operator audit (``trading.bot_commands``; channel ``cli`` unless an
    ``actor`` from another channel is given)."""
    who = actor or Actor()
    conn.execute(
        "INSERT INTO trading.bot_commands"
        " (channel, user_id, username, command, bot_id, outcome, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (who.channel, who.user_id, who.username, command,
         None if bot_id is None else str(bot_id), outcome, detail),
    )  # fmt: skip


@dataclass(frozen=True)
class Actor:
    """Who changes the registry, for the audit row: the CLI, or an API token."""

    channel: str = "cli"
    user_id: int | None = None
    username: str | None = None


def list_bots(conn: psycopg.Connection[Any], *, include_retired: bool = True) -> list[Bot]:
    where = "" if include_retired else "WHERE status <> 'retired'"
    rows = conn.cursor(row_factory=dict_row).execute(
        f"SELECT {COLUMNS} FROM trading.bots {where} ORDER BY bot_id"
    )
    return [from_row(row) for row in rows]


def get_bot(conn: psycopg.Connection[Any], bot_id: str) -> Bot:
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(f"SELECT {COLUMNS} FROM trading.bots WHERE bot_id = %s", (bot_id,))
        .fetchone()
    )
    if row is None:
        raise UserError(f"no bot {bot_id!r} (see `alpha bots list`)")
    return from_row(row)


#: action → (statuses it applies to, new status)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "pause": (("active",), "paused"),
    "resume": (("paused",), "active"),
    "retire": (("active", "paused", "stopped"), "retired"),
}


def set_status(conn: psycopg.Connection[Any], bot_id: str, action: str) -> Bot:
    """Apply ``pause``/``resume``/``retire``; refuses a transition that makes no sense."""
    allowed, new = TRANSITIONS[action]
    if bot_id == EXTERNAL_BOT:
        raise UserError(f"bot {bot_id!r} is reserved and cannot be {new}")
    with conn.transaction():
        lock(conn)
        bot = get_bot(conn, bot_id)
        if bot.status not in allowed:
            raise UserError(f"bot {bot_id} is {bot.status}; cannot {action} it")
        row = (
            conn.cursor(row_factory=dict_row)
            .execute(
                f"UPDATE trading.bots SET status = %s, updated_at = now() WHERE bot_id = %s "
                f"RETURNING {COLUMNS}",
                (new, bot_id),
            )
            .fetchone()
        )
        audit(conn, action, bot_id, f"{bot.status} -> {new}")
    assert row is not None
    return from_row(row)
