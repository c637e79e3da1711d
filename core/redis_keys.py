"""Every Redis key and stream name, in one place (docs/redis.md).

Per-bot keys live in the bot's own logical DB (``trading.bots.redis_db``) or, when that
is NULL, in :data:`SHARED_DB`; either way they carry the bot id, so bots never collide
in one DB (Redis Cluster has only DB 0). Infrastructure keys live in ``REDIS_INFRA_DB``.
"""

from __future__ import annotations

from core.ids import BotId, Symbol

#: The DB of every bot registered without ``--redis-db`` (key-prefix mode): DB 0, the
#: only one Redis Cluster has. Every service agrees on it, so it is not a setting.
SHARED_DB = 0


def bot_db(redis_db: int | None) -> int:
    """The logical DB holding a bot's keys: its own ``redis_db``, else :data:`SHARED_DB`."""
    return SHARED_DB if redis_db is None else redis_db


def bot_patterns(bot_id: BotId) -> tuple[str, ...]:
    """SCAN patterns matching every per-bot key of ``bot_id`` (for moving a bot's keys)."""
    return (f"position:{bot_id}:*", f"bot:{bot_id}:*", f"fills:{bot_id}", f"commands:{bot_id}")


def position(bot_id: BotId, symbol: Symbol | str) -> str:
    """Hash: qty, avg_price, realized_pnl, fees, last_fill, updated_at (Decimal strings)."""
    return f"position:{bot_id}:{symbol}"


def position_pattern(bot_id: BotId) -> str:
    return f"position:{bot_id}:*"


def bot_state(bot_id: BotId) -> str:
    """String: running | paused | stopped."""
    return f"bot:{bot_id}:state"


def heartbeat(bot_id: BotId) -> str:
    """String with a TTL: the bot's last heartbeat (ISO time); gone when the bot is dead."""
    return f"bot:{bot_id}:heartbeat"


def fills_stream(bot_id: BotId) -> str:
    """Stream: every newly committed fill of this bot, appended by the listener."""
    return f"fills:{bot_id}"


def order_book(bot_id: BotId) -> str:
    """Hash: intent id → the bot's remembered order (link id, kind, sibling, status)."""
    return f"bot:{bot_id}:orders"


def seen_fills(bot_id: BotId) -> str:
    """Sorted set: exec ids the bot has already reacted to (score: when), for redelivery."""
    return f"bot:{bot_id}:seen_fills"


def strategy_memo(bot_id: BotId) -> str:
    """Hash: what the strategy as a whole must recall after a restart, tied to no symbol
    (``Strategy.remember_strategy``: LXAlgo's loss-limit anchors)."""
    return f"bot:{bot_id}:memo"


def memo(bot_id: BotId, symbol: Symbol | str) -> str:
    """Hash: what the strategy must recall about its trade in the symbol after a restart
    (``Strategy.remember``); gone when it has nothing to remember."""
    return f"bot:{bot_id}:memo:{symbol}"


def universe(bot_id: BotId) -> str:
    """JSON ``{"symbols": [...], "updated_at": ISO}``: the symbols the bot may enter now."""
    return f"bot:{bot_id}:universe"


def state_applied(bot_id: BotId) -> str:
    """Hash: the state the running bot last acknowledged (``state``, ``at`` ISO time,
    ``id`` of the operator's command), written when a ``state`` notice reaches it."""
    return f"bot:{bot_id}:state_applied"


def command_reply(bot_id: BotId, command_id: str) -> str:
    """List: a running bot's one-line answer to the command ``command_id`` (``reload``),
    pushed once with a TTL; the operator's CLI ``BLPOP``\\ s it."""
    return f"bot:{bot_id}:reply:{command_id}"


#: How long a bot's answer waits for its requester before Redis drops it.
COMMAND_REPLY_TTL_SECONDS = 120


def commands_stream(bot_id: BotId) -> str:
    """Stream: operator commands for this bot (``flatten``, ``cancel-all``)."""
    return f"commands:{bot_id}"


# --- infrastructure DB -------------------------------------------------------------

#: Stream of alerts (drift, disconnects, heartbeats, halts, backups) read by the C2.
#: Fields: ``kind``, ``text`` (one human line), ``severity`` (info|warning|critical),
#: ``key`` (the incident: repeats of one key are de-duplicated), ``resolved`` ("1" ends
#: the incident), plus context such as ``account``, ``symbol``, ``bot_id``. Bots add their
#: trade notifications (``core.notify.KINDS``) with their figures as more fields.
ALERTS = "alerts"
#: Bots append with ``MAXLEN ~`` this: one entry per fill, the stream must not grow forever.
ALERTS_MAXLEN = 100_000
#: Global kill flag: when set, every bot's risk gate refuses new entries.
KILL_FLAG = "risk:kill"
#: Stream of executions/orders trade sync found missing, for the listener to write.
HANDOVER = "listener:handover"
#: Consumer group of the listener on :data:`HANDOVER`.
HANDOVER_GROUP = "listener"
#: Stream of operator requests to give an ``external`` fill to a bot (``alpha fills
#: assign``, the C2's ``/assign``). Fields: ``request_id``, ``exec_id``, ``bot_id``,
#: ``reason``, ``requested_by``. The listener, the ledger's only writer, consumes it.
FILL_CLAIMS = "listener:claims"
#: Consumer group of the listener on :data:`FILL_CLAIMS`.
FILL_CLAIMS_GROUP = "listener"
#: How long an answer waits for its requester before Redis drops it.
FILL_CLAIM_REPLY_TTL_SECONDS = 120


def fill_claim_reply(request_id: str) -> str:
    """List: the listener's one-line answer to a claim request (``ok``/``refused`` and the
    text), pushed once; the requester ``BLPOP``\\ s it."""
    return f"{FILL_CLAIMS}:reply:{request_id}"


#: Hash: the listener's health (per-account connected flag, last message time, lag).
LISTENER_STATUS = "listener:status"
#: String, TTL 15 s: the token (``host:pid:random``) of the one listener process allowed
#: to run, renewed every 5 s (``core/lease.py``).
LISTENER_LEASE = "listener:lease"
#: Hash: trade sync's last run per job and the current drift summary.
SYNC_STATUS = "sync:status"
#: Stream of backup requests (from the C2's /backup) for the backup service.
BACKUP_REQUESTS = "backup:requests"


# --- the HTTP API (infra DB) ---------------------------------------------------------------


def api_confirmation(confirmation_id: str) -> str:
    """String (JSON) with a TTL: a dangerous action the API was asked for, waiting for
    ``POST /api/v1/confirm/{id}`` by the same token (api/confirmations.py). It outlives
    its logical expiry by an hour, so a late confirmation is answered "expired"."""
    return f"api:confirm:{confirmation_id}"


#: Sorted set: pending confirmation ids scored by their expiry (epoch seconds); the
#: API's sweeper removes each lapsed one once and audits it ``expired``.
API_CONFIRMATIONS_DUE = "api:confirm:_due"
