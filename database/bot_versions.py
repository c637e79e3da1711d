"""Changing a registered bot in place, and the history of its versions.

``update`` validates a change exactly as a registration is validated (the bot type's
plugin checks the config and fills in its defaults; exclusivity, leverage and
allocation against the other bots of the account), then writes the new registration,
one ``trading.bot_versions`` row and one audit row in one transaction. A running bot
reads its registration when it starts: the change applies at its next start.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core.errors import UserError
from core.ids import EXTERNAL_BOT
from database import bots

#: The fields a version records; everything else of a bot never changes.
FIELDS = ("bot_name", "mode", "symbols", "config", "initial_capital")


@dataclass(frozen=True)
class Version:
    version: int
    changed_at: datetime
    changed_by: str
    changes: dict[str, Any]


def snapshot(bot: bots.Bot) -> dict[str, Any]:
    capital = None if bot.initial_capital is None else str(bot.initial_capital)
    return {
        "bot_name": bot.bot_name,
        "mode": bot.mode,
        "symbols": list(bot.symbols),
        "config": bot.config,
        "initial_capital": capital,
    }


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: {"from": before[k], "to": after[k]} for k in FIELDS if before[k] != after[k]}


def record(
    conn: psycopg.Connection[Any], bot: bots.Bot, changed_by: str, changes: dict[str, Any]
) -> int:
    """Append the next version of ``bot`` (as it now stands); returns its number."""
    row = conn.execute(
        "INSERT INTO trading.bot_versions (bot_id, version, changed_by, changes, snapshot)"
        " SELECT %s, coalesce(max(version), 0) + 1, %s, %s, %s"
        "   FROM trading.bot_versions WHERE bot_id = %s RETURNING version",
        (bot.bot_id, changed_by, Jsonb(changes), Jsonb(snapshot(bot)), bot.bot_id),
    ).fetchone()
    assert row is not None
    return int(row[0])


def update(
    conn: psycopg.Connection[Any],
    bot_id: str,
    *,
    config: str | None = None,
    symbols: str | None = None,
    mode: str | None = None,
    name: str | None = None,
    initial_capital: str | None = None,
    changed_by: str = "cli",
    actor: bots.Actor | None = None,
    lock: Callable[[psycopg.Connection[Any]], None] = bots.lock,
) -> tuple[bots.Bot, dict[str, Any]]:
    """Apply the given changes; ``--config`` keys replace the stored keys of the same
    name (top level). Returns the bot as it now is and what changed ({} = nothing).
    The API passes its ``actor`` (audit channel ``api``) and :func:`bots.lock_rows`."""
    if bot_id == EXTERNAL_BOT:
        raise UserError(f"bot {bot_id!r} is reserved and cannot be updated")
    with conn.transaction():
        lock(conn)
        bot = bots.get_bot(conn, bot_id)
        if bot.status == "retired":
            raise UserError(f"bot {bot_id} is retired; register a new bot instead")
        patch = bots.parse_config(config)
        stored = {k: v for k, v in bot.config.items() if k not in ("symbols", "exclusive")}
        capital = initial_capital
        if capital is None and bot.initial_capital is not None:
            capital = str(bot.initial_capital)
        spec = bots.build_spec(
            bot_id=bot.bot_id,
            bot_code=bot.bot_code,
            bot_name=bot.bot_name if name is None else name,
            bot_type=bot.bot_type,
            strategy_name=bot.strategy_name,
            account=bot.account,
            redis_db=bot.redis_db,
            symbols=",".join(bot.symbols) if symbols is None else symbols,
            mode=bot.mode if mode is None else mode,
            config=json.dumps({**stored, **patch}),
            initial_capital=capital,
            exclusive=bot.exclusive,
        )
        bots.check_neighbours(conn, spec)
        row = (
            conn.cursor(row_factory=dict_row)
            .execute(
                f"UPDATE trading.bots SET bot_name = %s, mode = %s, symbols = %s, config = %s,"
                f" initial_capital = %s, updated_at = now() WHERE bot_id = %s"
                f" RETURNING {bots.COLUMNS}",
                (spec.bot_name, spec.mode, list(spec.symbols), Jsonb(spec.config),
                 spec.initial_capital, bot.bot_id),
            )
            .fetchone()
        )  # fmt: skip
        assert row is not None
        updated = bots.from_row(row)
        changes = _diff(snapshot(bot), snapshot(updated))
        if not changes:
            return updated, {}
        version = record(conn, updated, changed_by, changes)
        detail = f"version {version}: {', '.join(changes)}"
        bots.audit(conn, "update", bot.bot_id, detail, actor=actor)
    return updated, changes


def history(conn: psycopg.Connection[Any], bot_id: str) -> list[Version]:
    bots.get_bot(conn, bot_id)  # an unknown bot is one clear line
    rows = conn.execute(
        "SELECT version, changed_at, changed_by, changes FROM trading.bot_versions"
        " WHERE bot_id = %s ORDER BY version",
        (bot_id,),
    ).fetchall()
    return [Version(int(v), at, by, dict(changes)) for v, at, by, changes in rows]


def describe(changes: dict[str, Any]) -> str:
    """One line: ``mode paper -> demo; config.risk {…} -> {…}``."""
    parts = []
    for field, change in changes.items():
        if field == "config":
            before, after = change["from"], change["to"]
            for key in sorted(set(before) | set(after)):
                old, new = before.get(key), after.get(key)
                if old != new:
                    parts.append(f"config.{key} {_short(old)} -> {_short(new)}")
        else:
            parts.append(f"{field} {_short(change['from'])} -> {_short(change['to'])}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= 60 else text[:59] + "…"
