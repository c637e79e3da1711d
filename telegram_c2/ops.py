"""Operational state for /status, /drift, /backup and the alert monitors: the listener's
health hash, trade sync's runs and drift, backups, and bots' heartbeats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from core import redis_keys
from core.ids import BotId
from core.operator.db import Database
from core.operator.redis_pool import RedisPool
from core.operator.registry import Bot

_TRUE = {"1", "true", "yes", "connected", "up"}


@dataclass(frozen=True)
class ListenerHealth:
    #: ``None``: the listener has never reported (no ``listener:status`` hash).
    connected: bool | None
    lag: str | None
    last_message_at: datetime | None


def parse_time(value: str | None) -> datetime | None:
    """ISO 8601 or epoch seconds/milliseconds; ``None`` if absent or unreadable."""
    if not value:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if number > 10**11:  # milliseconds
        number /= 1000
    return datetime.fromtimestamp(int(number), UTC)


#: The listener rewrites its status hash every few seconds; older than this, it is gone.
LISTENER_STALE_AFTER = timedelta(seconds=30)


def listener_health(fields: dict[str, str], now: datetime | None = None) -> ListenerHealth:
    """Reads ``listener:status``: every ``{account}:connected`` must be true and the
    ``heartbeat`` fresh — a listener that died while connected leaves ``connected=1``
    behind, so the heartbeat's age is what tells it is gone. The last message time is
    the newest ``{account}:last_message_at`` (epoch seconds)."""
    if not fields:
        return ListenerHealth(None, None, None)
    now = now or datetime.now(UTC)
    flags = [v for k, v in fields.items() if k == "connected" or k.endswith(":connected")]
    beat = parse_time(fields.get("heartbeat"))
    fresh = beat is not None and now - beat <= LISTENER_STALE_AFTER
    connected = fresh and bool(flags) and all(v.strip().lower() in _TRUE for v in flags)
    times = [
        t
        for k, v in fields.items()
        if (k == "last_message_at" or k.endswith(":last_message_at"))
        and (t := parse_time(v)) is not None
        and t.timestamp() > 0
    ]
    last = max(times) if times else None
    lag = fields.get("lag_ms") or (
        f"{int((now - last).total_seconds() * 1000)}" if last is not None else None
    )
    return ListenerHealth(connected, f"{lag} ms" if lag else None, last)


class Ops:
    def __init__(self, db: Database, redis: RedisPool) -> None:
        self._db = db
        self._redis = redis

    async def listener(self) -> ListenerHealth:
        reply: Any = self._redis.infra.hgetall(redis_keys.LISTENER_STATUS)  # async: awaitable
        return listener_health(await reply)

    async def bot_state(self, bot: Bot) -> str | None:
        return await self._redis.db(bot.redis_db).get(redis_keys.bot_state(BotId(bot.bot_id)))

    async def heartbeat(self, bot: Bot) -> datetime | None:
        """The heartbeat key (gone when its TTL lapsed), else the registry's last one."""
        raw = await self._redis.db(bot.redis_db).get(redis_keys.heartbeat(BotId(bot.bot_id)))
        return parse_time(raw) if raw else None

    async def sync_status(self) -> dict[str, str]:
        reply: Any = self._redis.infra.hgetall(redis_keys.SYNC_STATUS)  # async: awaitable
        status: dict[str, str] = await reply
        return status

    async def last_sync(self) -> dict[str, Any] | None:
        rows = await self._db.fetch(
            "SELECT job, account, finished_at, status, found FROM trading.sync_runs"
            " ORDER BY finished_at DESC LIMIT 1"
        )
        return rows[0] if rows else None

    async def open_drift(self) -> list[dict[str, Any]]:
        return await self._db.fetch(
            "SELECT d.account, d.symbol, d.exchange_qty, d.ledger_qty, d.per_bot, d.detected_at,"
            " d.last_seen_at, a.acked_by FROM trading.drift_events d"
            " LEFT JOIN trading.drift_acks a ON a.drift_id = d.id"
            "  AND a.exchange_qty = d.exchange_qty AND a.ledger_qty = d.ledger_qty"
            " WHERE d.cleared_at IS NULL ORDER BY d.detected_at"
        )

    async def held_by_drift(self) -> dict[str, str]:
        """Bot id -> the symbols (comma-separated) its entries wait on: open drift on its
        account in a symbol it trades that no acknowledgement covers as it is now
        (bots/runtime/drift_gate.py)."""
        rows = await self._db.fetch(
            "SELECT b.bot_id, string_agg(d.symbol, ',' ORDER BY d.symbol) AS symbols"
            "  FROM trading.bots b JOIN trading.drift_events d"
            "    ON d.account = b.account AND d.symbol = ANY (b.symbols)"
            " WHERE d.cleared_at IS NULL AND NOT EXISTS (SELECT 1 FROM trading.drift_acks a"
            "   WHERE a.drift_id = d.id AND a.exchange_qty = d.exchange_qty"
            "     AND a.ledger_qty = d.ledger_qty)"
            " GROUP BY b.bot_id"
        )
        return {str(r["bot_id"]): str(r["symbols"]) for r in rows}

    async def last_backup(self) -> dict[str, Any] | None:
        rows = await self._db.fetch(
            "SELECT id, backup_date, kind, status, started_at, finished_at, verified_at,"
            " size_bytes, error FROM trading.backups ORDER BY started_at DESC LIMIT 1"
        )
        return rows[0] if rows else None
