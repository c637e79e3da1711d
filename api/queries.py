"""The read side: SQL over the registry, the ledger, the analytics views and the audit,
as the readonly role; alerts from the infra Redis stream.

Lists that can grow without end (fills, the audit) page by keyset cursor, not by offset:
the next page starts strictly after the last row sent, so a page costs the same at the
ten-millionth fill as at the first, and rows arriving meanwhile never shift a page.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Any

import redis.asyncio

from core import redis_keys
from core.errors import UserError
from core.ids import EXTERNAL_BOT
from core.operator.db import Database

BOT_COLUMNS = (
    "bot_id, bot_code, bot_name, bot_type, strategy_name, status, mode, account, symbols,"
    " initial_capital, created_at, updated_at, last_heartbeat, redis_db"
)


class BadCursorError(UserError):
    pass


def encode_cursor(values: list[Any]) -> str:
    text = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadCursorError("cursor: not one this API handed out") from None
    if not isinstance(values, list) or len(values) != size:
        raise BadCursorError("cursor: not one this API handed out")
    return values


async def bots(db: Database, bot_id: str | None = None) -> list[dict[str, Any]]:
    """The registry (retired bots and the reserved ``external`` row left out)."""
    sql = f"SELECT {BOT_COLUMNS} FROM trading.bots WHERE status <> 'retired' AND bot_id <> %s"
    params: list[Any] = [str(EXTERNAL_BOT)]
    if bot_id is not None:
        sql += " AND bot_id = %s"
        params.append(bot_id)
    return await db.fetch(sql + " ORDER BY bot_id", params)


async def positions(db: Database, bot_id: str) -> list[dict[str, Any]]:
    return await db.fetch(
        "SELECT symbol, qty, avg_price, realized_pnl, fees, gross_pnl, volume, fills, last_fill"
        " FROM analytics.bot_positions WHERE bot_id = %s ORDER BY symbol",
        (bot_id,),
    )


async def fills(
    db: Database,
    *,
    bot_id: str | None,
    symbol: str | None,
    account: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, ``limit`` rows and the cursor of the next page (``None``: last)."""
    where, params = [], []
    for column, value in (("bot_id", bot_id), ("symbol", symbol), ("account", account)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if cursor is not None:
        exec_time, seq, exec_id = decode_cursor(cursor, 3)
        where.append("(exec_time, seq, exec_id) < (%s::timestamptz, %s::bigint, %s)")
        params += [exec_time, seq, exec_id]
    sql = (
        "SELECT exec_id, bot_id, account, category, symbol, side, exec_price, exec_qty,"
        " exec_value, exec_fee, fee_currency, is_maker, exec_type, order_id, order_link_id,"
        " exec_time, seq, source FROM trading.fills"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY exec_time DESC, seq DESC, exec_id DESC LIMIT %s"
    )
    rows = await db.fetch(sql, [*params, limit + 1])
    page = rows[:limit]
    more = len(rows) > limit
    last = page[-1] if page else None
    next_cursor = (
        encode_cursor([last["exec_time"], last["seq"], last["exec_id"]]) if more and last else None
    )
    return page, next_cursor


DAILY_PNL = (
    "SELECT day, realized_pnl, fees, funding, net_pnl, gross_pnl, volume, fills"
    " FROM analytics.bot_daily_pnl WHERE bot_id = %s"
)


async def daily_pnl(
    db: Database, bot_id: str, since: date | None, until: date | None
) -> list[dict[str, Any]]:
    sql = DAILY_PNL
    params: list[Any] = [bot_id]
    if since is not None:
        sql += " AND day >= %s"
        params.append(since)
    if until is not None:
        sql += " AND day <= %s"
        params.append(until)
    return await db.fetch(sql + " ORDER BY day", params)


async def audit(
    db: Database, *, bot_id: str | None, channel: str | None, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The operator audit (``trading.bot_commands``), newest first."""
    where, params = [], []
    for column, value in (("bot_id", bot_id), ("channel", channel)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if cursor is not None:
        (before,) = decode_cursor(cursor, 1)
        where.append("id < %s::bigint")
        params.append(before)
    sql = (
        "SELECT id, created_at, channel, user_id, username, chat_id, command, args, bot_id,"
        " outcome, detail FROM trading.bot_commands"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY id DESC LIMIT %s"
    )
    rows = await db.fetch(sql, [*params, limit + 1])
    page = rows[:limit]
    next_cursor = encode_cursor([page[-1]["id"]]) if len(rows) > limit and page else None
    return page, next_cursor


async def webhook_signals(
    db: Database, bot_id: str, *, outcome: str | None, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A webhook bot's deliveries with their outcomes (``trading.webhook_signals``),
    newest first; the stored payload never holds the secret."""
    where, params = ["bot_id = %s"], [bot_id]
    if outcome is not None:
        where.append("outcome = %s")
        params.append(outcome)
    if cursor is not None:
        (before,) = decode_cursor(cursor, 1)
        where.append("id < %s::bigint")
        params.append(before)
    rows = await db.fetch(
        "SELECT id, received_at, alert_id, alert_time, action, symbol, outcome, detail,"
        " payload FROM trading.webhook_signals WHERE " + " AND ".join(where)
        + " ORDER BY id DESC LIMIT %s",
        [*params, limit + 1],
    )  # fmt: skip
    page = rows[:limit]
    next_cursor = encode_cursor([page[-1]["id"]]) if len(rows) > limit and page else None
    return page, next_cursor


async def alerts(
    infra: redis.asyncio.Redis, limit: int, before: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The newest alerts on the infra stream (what the C2 pushes to Telegram)."""
    top = "+" if before is None else f"({before}"
    try:
        entries = await infra.xrevrange(redis_keys.ALERTS, max=top, min="-", count=limit + 1)
    except redis.ResponseError:
        raise BadCursorError("before: not an alert id (like 1733400000000-0)") from None
    page = entries[:limit]
    items: list[dict[str, Any]] = [
        {"id": decoded(entry_id), "fields": decoded_fields(fields)} for entry_id, fields in page
    ]
    next_before = decoded(page[-1][0]) if len(entries) > limit and page else None
    return items, next_before


def decoded(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decoded_fields(fields: dict[Any, Any]) -> dict[str, str]:
    return {decoded(k): decoded(v) for k, v in fields.items()}
