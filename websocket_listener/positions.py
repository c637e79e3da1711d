"""Per-bot positions in Redis, derived from the ledger (DESIGN data flow step 4).

The book keeps the fold state (``core.positions.Position``) of every (bot, symbol) in
memory. After each commit it applies the newly inserted fills in ledger order; a fill
that belongs *before* one already folded (a late REST backfill) re-folds that
(bot, symbol) from the ledger instead. Then, per bot DB, one Redis pipeline writes the
``position:{bot_id}:{symbol}`` hashes and appends each new fill to ``fills:{bot_id}``
(one call of a small server-side script per stream, which XADDs them in ledger order).

The ledger commit and the Redis update are two writes: a listener that dies between
them leaves committed fills that no bot stream ever carried, and after a restart they
come back only as duplicates (never "new"). So at start and after a database outage
:meth:`PositionBook.announce_recent` appends every fill ingested in the last
``REANNOUNCE_SECONDS`` to its bot's stream again, in ledger order. Bots de-duplicate
by ``exec_id`` (``bots.runtime.host`` keeps a seen set for days), so a fill they already
handled is ignored and one they never saw (e.g. the fill that should place a stop)
reaches them.

Redis is a cache: the hash is always written whole from the fold (never incremented),
so rewriting it is idempotent, and :meth:`PositionBook.rebuild` recomputes everything
from the ledger (at start, after a database outage, when Redis lost its keys, and on
``alpha positions rebuild``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import redis

from core import redis_keys
from core.fills import Fill, Side
from core.ids import AccountName, BotId, Symbol
from core.positions import Position, fold
from websocket_listener import metrics
from websocket_listener.records import BotRow, load_bots

log = logging.getLogger(__name__)

#: Upper bound on a bot's fill stream; the bot acknowledges entries long before this.
STREAM_MAXLEN = 100_000
#: At start and after a database outage, fills ingested this recently are announced
#: again on their bot's stream (see :meth:`PositionBook.announce_recent`).
REANNOUNCE_SECONDS = 600
#: At most this many (the newest) are re-announced.
REANNOUNCE_MAX = 20_000

_FILL_SELECT = (
    "SELECT account, category, exec_id, bot_id, symbol, order_id, order_link_id, reason, side,"
    " exec_price, exec_qty, exec_value, exec_fee, fee_currency, is_maker, exec_type,"
    " exec_time, seq, source, raw FROM trading.fills"
)
_LEDGER_ORDER = " ORDER BY exec_time, seq, exec_id"


def fill_from_row(row: Sequence[Any]) -> Fill:
    """A ledger row back into the domain type the fold takes."""
    (account, category, exec_id, bot_id, symbol, order_id, link, reason, side, price, qty,
     value, fee, fee_ccy, maker, exec_type, exec_time, seq, source, raw) = row  # fmt: skip
    return Fill(
        account=AccountName(account),
        category=category,
        exec_id=exec_id,
        symbol=Symbol(symbol),
        order_id=order_id,
        order_link_id=link,
        side=Side(side),
        exec_price=price,
        exec_qty=qty,
        exec_value=value,
        exec_fee=fee,
        fee_currency=fee_ccy,
        is_maker=maker,
        exec_type=exec_type,
        exec_time=exec_time,
        seq=seq,
        source=source,
        raw=raw,
        bot_id=BotId(bot_id),
        reason=reason,
    )


def ledger_positions(
    conn: psycopg.Connection[Any], bot_id: str | None = None
) -> dict[tuple[BotId, Symbol], Position]:
    """Fold the whole ledger (or one bot's part of it), streaming rows from the server."""
    sql = _FILL_SELECT + (" WHERE bot_id = %s" if bot_id else "")
    sql += " ORDER BY bot_id, symbol, exec_time, seq, exec_id"
    positions: dict[tuple[BotId, Symbol], Position] = {}
    with conn.cursor() as cur:
        cur.execute(sql, (bot_id,) if bot_id else None)
        for row in cur:
            fill = fill_from_row(row)
            key = (fill.bot_id, fill.symbol)
            positions[key] = positions.get(key, Position()).apply(fill)
    conn.commit()
    return positions


def _text(value: Decimal) -> str:
    # Plain notation ('0', not '0E-12'): what bots and operators read back.
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def position_hash(position: Position) -> dict[str, str]:
    return {
        "qty": _text(position.qty),
        "avg_price": _text(position.avg_price),
        "realized_pnl": _text(position.realized_pnl),
        "fees": _text(position.fees),
        "last_fill": position.last_fill or "",
        "updated_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


#: The fields of a ``fills:{bot_id}`` entry, in the order :func:`stream_values` gives.
STREAM_FIELDS = (
    "exec_id", "symbol", "side", "exec_price", "exec_qty", "exec_fee", "exec_type",
    "exec_time", "seq", "order_id", "order_link_id", "reason",
)  # fmt: skip


def stream_values(fill: Fill) -> tuple[str, ...]:
    return (
        fill.exec_id,
        str(fill.symbol),
        str(fill.side),
        _text(fill.exec_price),
        _text(fill.exec_qty),
        _text(fill.exec_fee),
        fill.exec_type,
        fill.exec_time.isoformat(timespec="milliseconds"),
        str(fill.seq),
        fill.order_id,
        fill.order_link_id,
        fill.reason or "",
    )


def stream_entry(fill: Fill) -> dict[str, str]:
    return dict(zip(STREAM_FIELDS, stream_values(fill), strict=True))


#: Appends many entries to one stream in one command. Through redis-py's pipeline each
#: XADD cost the listener ~25 µs of Python (packing, a reply to parse per fill): a
#: quarter of its per-fill CPU at full load. The entries are the same XADDs, in order,
#: run by the server. KEYS[1]: the stream. ARGV: MAXLEN (approximate), the number of
#: fields k, the k field names, then k values per entry. Returns the number appended.
APPEND_ENTRIES_LUA = """
local maxlen, k = ARGV[1], tonumber(ARGV[2])
local entry = {}
for j = 1, k do entry[2 * j - 1] = ARGV[2 + j] end
local n = 0
for i = 3 + k, #ARGV, k do
    for j = 1, k do entry[2 * j] = ARGV[i + j - 1] end
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(entry))
    n = n + 1
end
return n
"""
_APPEND_SHA = hashlib.sha1(APPEND_ENTRIES_LUA.encode()).hexdigest()


class _Writes:
    """What one Redis DB gets after a commit: whole position hashes, then stream entries."""

    def __init__(self) -> None:
        self.hashes: list[tuple[str, dict[str, str]]] = []
        self.entries: dict[str, list[str]] = defaultdict(list)

    def send(self, client: redis.Redis) -> None:
        """One pipeline (one round trip). Idempotent up to the appends, which run only
        if the script is known: a Redis that lost it (restart) gets it and a resend."""
        for attempt in (1, 2):
            pipe = client.pipeline(transaction=False)
            for key, mapping in self.hashes:
                pipe.hset(key, mapping=mapping)
            for stream, values in self.entries.items():
                pipe.evalsha(_APPEND_SHA, 1, stream, STREAM_MAXLEN, len(STREAM_FIELDS),
                             *STREAM_FIELDS, *values)  # fmt: skip
            try:
                pipe.execute()
                return
            except redis.exceptions.NoScriptError:
                if attempt == 2:
                    raise
                client.script_load(APPEND_ENTRIES_LUA)


class PositionBook:
    """The in-memory fold of every (bot, symbol) plus its Redis mirror."""

    def __init__(self, redis_for_db: Callable[[int], redis.Redis]) -> None:
        self._redis_for_db = redis_for_db
        self.positions: dict[tuple[BotId, Symbol], Position] = {}
        self.bots: dict[BotId, BotRow] = {}
        self.redis_dirty = False
        self.ready = False

    # --- attribution support ------------------------------------------------------

    def holders(self, account: AccountName, symbol: Symbol) -> set[BotId]:
        """Bots with a non-zero position in ``symbol`` on ``account`` (the sole-holder rule)."""
        out: set[BotId] = set()
        for (bot_id, sym), position in self.positions.items():
            bot = self.bots.get(bot_id)
            if sym == symbol and position.qty and bot is not None and bot.account == account:
                out.add(bot_id)
        return out

    def set_bots(self, bots: Iterable[BotRow]) -> None:
        self.bots = {b.bot_id: b for b in bots}

    # --- after a commit -----------------------------------------------------------

    def apply(self, conn: psycopg.Connection[Any], new_fills: Sequence[Fill]) -> None:
        """Fold newly committed fills in and mirror the touched positions to Redis."""
        if not new_fills:
            return
        by_key: dict[tuple[BotId, Symbol], list[Fill]] = defaultdict(list)
        for fill in new_fills:
            by_key[(fill.bot_id, fill.symbol)].append(fill)
        for key, fills in by_key.items():
            fills.sort(key=lambda f: f.ledger_key)
            current = self.positions.get(key, Position())
            if current.is_late(fills[0]):
                metrics.POSITION_REFOLDS.inc()
                current = self._refold(conn, *key)
            else:
                for fill in fills:
                    current = current.apply(fill)
            self.positions[key] = current
        self._mirror(by_key.keys(), new_fills)

    def publish(self, new_fills: Sequence[Fill]) -> None:
        """Append fills to the bots' streams (positions already folded by a rebuild)."""
        keys = {(f.bot_id, f.symbol) for f in new_fills if (f.bot_id, f.symbol) in self.positions}
        self._mirror(keys, new_fills)

    def announce_recent(
        self,
        conn: psycopg.Connection[Any],
        seconds: float = REANNOUNCE_SECONDS,
        limit: int = REANNOUNCE_MAX,
    ) -> int:
        """Append fills ingested in the last ``seconds`` to their bots' streams again
        (ledger order, the newest ``limit``); returns how many were appended."""
        window = " WHERE ingested_at >= now() - make_interval(secs => %s)"
        rows = conn.execute(
            _FILL_SELECT + window + " AND exec_id IN (SELECT exec_id FROM trading.fills" + window
            + " ORDER BY ingested_at DESC LIMIT %s)" + _LEDGER_ORDER,
            (seconds, seconds, limit),
        ).fetchall()  # fmt: skip
        conn.commit()
        fills = [fill_from_row(r) for r in rows]
        if not fills:
            return 0
        if len(fills) >= limit:
            log.warning("re-announcing only the newest %d fills to the bots' streams", limit)
        writes: dict[int, _Writes] = {}
        count = 0
        try:
            for fill in fills:
                w = self._writes(writes, fill.bot_id)
                if w is not None:
                    w.entries[redis_keys.fills_stream(fill.bot_id)] += stream_values(fill)
                    count += 1
            self._send(writes)
        except redis.RedisError as exc:
            metrics.REDIS_ERRORS.inc()
            log.warning("redis unavailable while re-announcing recent fills: %s", exc)
            self.redis_dirty = True
            return 0
        metrics.REANNOUNCED.inc(count)
        log.info("re-announced %d recently ingested fills to the bots' streams", count)
        return count

    def _refold(self, conn: psycopg.Connection[Any], bot_id: BotId, symbol: Symbol) -> Position:
        rows = conn.execute(
            _FILL_SELECT + " WHERE bot_id = %s AND symbol = %s" + _LEDGER_ORDER, (bot_id, symbol)
        ).fetchall()
        conn.commit()
        return fold(fill_from_row(r) for r in rows)

    def _mirror(self, keys: Iterable[tuple[BotId, Symbol]], new_fills: Sequence[Fill]) -> None:
        writes: dict[int, _Writes] = {}
        try:
            for bot_id, symbol in keys:
                w = self._writes(writes, bot_id)
                if w is not None:
                    position = position_hash(self.positions[(bot_id, symbol)])
                    w.hashes.append((redis_keys.position(bot_id, symbol), position))
            for fill in sorted(new_fills, key=lambda f: f.ledger_key):
                w = self._writes(writes, fill.bot_id)
                if w is not None:
                    w.entries[redis_keys.fills_stream(fill.bot_id)] += stream_values(fill)
            self._send(writes)
        except redis.RedisError as exc:
            # The ledger is committed; Redis catches up with a rebuild when it is back.
            metrics.REDIS_ERRORS.inc()
            if not self.redis_dirty:
                log.warning("redis update failed, positions will be rebuilt: %s", exc)
            self.redis_dirty = True

    def _writes(self, writes: dict[int, _Writes], bot_id: BotId) -> _Writes | None:
        bot = self.bots.get(bot_id)
        if bot is None or bot.redis_db is None:
            return None  # e.g. ``external``: no Redis DB, positions only in the ledger
        if bot.redis_db not in writes:
            writes[bot.redis_db] = _Writes()
        return writes[bot.redis_db]

    def _send(self, writes: dict[int, _Writes]) -> None:
        for db, w in writes.items():
            w.send(self._redis_for_db(db))

    def _pipe(self, pipes: dict[int, Any], bot_id: BotId) -> Any:
        bot = self.bots.get(bot_id)
        if bot is None or bot.redis_db is None:
            return None
        if bot.redis_db not in pipes:
            pipes[bot.redis_db] = self._redis_for_db(bot.redis_db).pipeline(transaction=False)
        return pipes[bot.redis_db]

    # --- rebuild ------------------------------------------------------------------

    def rebuild(self, conn: psycopg.Connection[Any]) -> int:
        """Recompute every position from the ledger and rewrite Redis; returns the count."""
        started = time.monotonic()
        self.set_bots(load_bots(conn))
        self.positions = ledger_positions(conn)
        try:
            self._rewrite_redis()
            self.redis_dirty = False
        except redis.RedisError as exc:
            metrics.REDIS_ERRORS.inc()
            log.warning("redis unavailable during rebuild: %s", exc)
            self.redis_dirty = True
        self.ready = True
        log.info(
            "positions rebuilt from the ledger: %d in %.2fs",
            len(self.positions),
            time.monotonic() - started,
        )
        return len(self.positions)

    def _rewrite_redis(self) -> None:
        by_bot: dict[BotId, list[Symbol]] = defaultdict(list)
        for bot_id, symbol in self.positions:
            by_bot[bot_id].append(symbol)
        for bot in self.bots.values():
            if bot.redis_db is None:
                continue
            client = self._redis_for_db(bot.redis_db)
            wanted = {redis_keys.position(bot.bot_id, s) for s in by_bot.get(bot.bot_id, [])}
            stale = [
                k
                for k in client.scan_iter(redis_keys.position_pattern(bot.bot_id))
                if k not in wanted
            ]
            pipe = client.pipeline(transaction=False)
            if stale:
                pipe.delete(*stale)
            for symbol in by_bot.get(bot.bot_id, []):
                pipe.hset(
                    redis_keys.position(bot.bot_id, symbol),
                    mapping=position_hash(self.positions[(bot.bot_id, symbol)]),
                )
            pipe.execute()

    def redis_missing_keys(self) -> bool:
        """True when a position Redis should hold is gone (a flush, a failover)."""
        pipes: dict[int, Any] = {}
        for bot_id, symbol in self.positions:
            pipe = self._pipe(pipes, bot_id)
            if pipe is not None:
                pipe.exists(redis_keys.position(bot_id, symbol))
        return any(not all(pipe.execute()) for pipe in pipes.values())
