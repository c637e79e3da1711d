"""Per-bot positions in Redis, derived from the ledger (docs/architecture.md, fill step 5).

The book keeps the fold state (``core.positions.Position``) of every (account, bot,
symbol) in memory — the account is part of the key because ``external`` spans accounts
and a manual trade on one account must not close another account's position
(docs/positions.md#external-on-several-accounts); for any other bot it changes nothing.
After each commit it applies the newly inserted fills in ledger order; a fill that
belongs *before* one already folded (a late REST backfill) re-folds that position from
the ledger instead. Then :mod:`websocket_listener.redis_mirror`
writes the ``position:{bot_id}:{symbol}`` hashes and appends each new fill to
``fills:{bot_id}`` (in the listener on its own thread, in commit order).

The ledger commit and the Redis update are two writes: a listener that dies between
them leaves committed fills that no bot stream ever carried, and after a restart they
come back only as duplicates (never "new"). So at start, after a database outage, and
after Redis failed or lost writes (:meth:`PositionBook.redis_lost_writes`)
:meth:`PositionBook.announce_recent` appends every fill ingested in the last
``REANNOUNCE_SECONDS`` (or since Redis began to fail) to its bot's stream again, in
ledger order. Bots de-duplicate by ``exec_id`` (``bots.runtime.host`` keeps a seen set
for days), so a fill they already handled is ignored and one they never saw (e.g. the
fill that should place a stop) reaches them.

Redis is a cache: the hash is always written whole from the fold (never incremented),
so rewriting it is idempotent, and :meth:`PositionBook.rebuild` recomputes everything
from the ledger (at start, after a database outage, when Redis failed or lost writes,
and on ``alpha positions rebuild``).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psycopg
import redis

from core import redis_keys
from core.fills import Fill, Side
from core.ids import AccountName, BotId, Symbol
from core.positions import Position, fold
from websocket_listener import metrics
from websocket_listener.holder_rule import Moved
from websocket_listener.records import BotRow, load_bots
from websocket_listener.redis_mirror import RedisMirror, position_hash

log = logging.getLogger(__name__)

#: At start and after a database outage, fills ingested this recently are announced
#: again on their bot's stream (see :meth:`PositionBook.announce_recent`).
REANNOUNCE_SECONDS = 600
#: At most this many (the newest) are re-announced.
REANNOUNCE_MAX = 20_000

_FILL_SELECT = (
    "SELECT account, category, exec_id, bot_id, symbol, order_id, order_link_id, reason, side,"
    " exec_price, exec_qty, exec_value, exec_fee, fee_currency, is_maker, exec_type,"
    " exec_time, seq, source, raw, attribution FROM trading.fills"
)
_LEDGER_ORDER = " ORDER BY exec_time, seq, exec_id"

#: What one position is folded over: a bot's fills in a symbol on one account.
PositionKey = tuple[AccountName, BotId, Symbol]


def position_key(fill: Fill) -> PositionKey:
    return (fill.account, fill.bot_id, fill.symbol)


def fill_from_row(row: Sequence[Any]) -> Fill:
    """A ledger row back into the domain type the fold takes."""
    (account, category, exec_id, bot_id, symbol, order_id, link, reason, side, price, qty,
     value, fee, fee_ccy, maker, exec_type, exec_time, seq, source, raw, rule) = row  # fmt: skip
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
        attribution=rule,
    )


def ledger_positions(
    conn: psycopg.Connection[Any], bot_id: str | None = None
) -> dict[PositionKey, Position]:
    """Fold the whole ledger (or one bot's part of it), streaming rows from the server."""
    sql = _FILL_SELECT + (" WHERE bot_id = %s" if bot_id else "")
    sql += " ORDER BY account, bot_id, symbol, exec_time, seq, exec_id"
    positions: dict[PositionKey, Position] = {}
    with conn.cursor() as cur:
        cur.execute(sql, (bot_id,) if bot_id else None)
        for row in cur:
            fill = fill_from_row(row)
            key = position_key(fill)
            positions[key] = positions.get(key, Position()).apply(fill)
    conn.commit()
    return positions


class PositionBook:
    """The in-memory fold of every (account, bot, symbol) plus its Redis mirror."""

    def __init__(
        self,
        redis_for_db: Callable[[int], redis.Redis],
        *,
        background_redis: bool = False,
        only_db: int | None = None,
    ) -> None:
        """``background_redis``: send the Redis writes of commits on their own thread
        (the listener); callers that read Redis back call :meth:`drain` first.
        ``only_db``: the one DB Redis has (a Redis Cluster's 0). A bot still registered
        with another DB cannot run there (its host refuses to start) and is not mirrored
        — said in the log — rather than failing every write and rebuild of the others."""
        self._only_db = only_db
        self._unmirrored: set[BotId] = set()
        self._redis_for_db = redis_for_db
        self.positions: dict[PositionKey, Position] = {}
        self.bots: dict[BotId, BotRow] = {}
        self._redis_dbs: dict[BotId, int | None] = {}
        #: When Redis writes started failing (``time.time()``); ``None`` while they work.
        self.redis_dirty_since: float | None = None
        self.ready = False
        self.mirror = RedisMirror(
            redis_for_db, on_error=self._redis_failed, background=background_redis
        )

    @property
    def redis_dirty(self) -> bool:
        """Redis may lack writes the book made: its positions need a rebuild."""
        return self.redis_dirty_since is not None

    @redis_dirty.setter
    def redis_dirty(self, dirty: bool) -> None:
        self.mirror.paused = dirty  # until the rebuild, writes would be lost or slow
        if not dirty:
            self.redis_dirty_since = None
        elif self.redis_dirty_since is None:
            self.redis_dirty_since = time.time()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until the Redis writes of every commit so far have been sent."""
        return self.mirror.drain(timeout)

    def _redis_failed(self, exc: redis.RedisError) -> None:
        # The ledger is committed; Redis catches up with a rebuild when it is back.
        if not self.redis_dirty:
            log.warning("redis update failed, positions will be rebuilt: %s", exc)
        self.redis_dirty = True

    def set_bots(self, bots: Iterable[BotRow]) -> None:
        self.bots = {b.bot_id: b for b in bots}
        self._redis_dbs = {b.bot_id: self._mirror_db(b) for b in self.bots.values()}

    def _mirror_db(self, bot: BotRow) -> int | None:
        db = bot.mirror_db
        if db is None or self._only_db is None or db == self._only_db:
            return db
        if bot.status != "retired" and bot.bot_id not in self._unmirrored:
            self._unmirrored.add(bot.bot_id)
            log.error(
                "bot %s is registered with Redis DB %d, which a Redis Cluster does not have:"
                " its positions and fills stay in the ledger only until it is moved"
                " (docs/redis.md#redis-cluster)", bot.bot_id, db,
            )  # fmt: skip
        return None

    # --- after a commit -----------------------------------------------------------

    def apply(
        self,
        conn: psycopg.Connection[Any],
        new_fills: Sequence[Fill],
        after: Callable[[], None] | None = None,
        moved: Sequence[Moved] = (),
    ) -> None:
        """Fold newly committed fills in and mirror the touched positions to Redis;
        ``after()`` once the Redis writes are done (or failed). ``moved``: fills
        committed earlier that the holder rule gave other bots or other shares: every
        bot's position involved is re-folded and each share is appended to its bot's
        stream."""
        if not new_fills and not moved:
            if after is not None:
                after()
            return
        by_key: dict[PositionKey, list[Fill]] = defaultdict(list)
        for fill in new_fills:
            by_key[position_key(fill)].append(fill)
        refold = {(m.account, b, m.symbol) for m in moved for b in (*m.old_bots, *m.new_bots)}
        for key, fills in by_key.items():
            fills.sort(key=lambda f: f.ledger_key)
            current = self.positions.get(key, Position())
            if key in refold or current.is_late(fills[0]):
                metrics.POSITION_REFOLDS.inc()
                current = self._refold(conn, *key)
            else:
                for fill in fills:
                    current = current.apply(fill)
            self.positions[key] = current
        for key in refold - by_key.keys():
            metrics.POSITION_REFOLDS.inc()
            self.positions[key] = self._refold(conn, *key)
        announced = [*new_fills, *self._fills(conn, [m.exec_id for m in moved])]
        self._mirror(by_key.keys() | refold, announced, after)

    def publish(self, new_fills: Sequence[Fill], after: Callable[[], None] | None = None) -> None:
        """Append fills to the bots' streams (positions already folded by a rebuild)."""
        keys = {position_key(f) for f in new_fills if position_key(f) in self.positions}
        self._mirror(keys, new_fills, after)

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
        count = sum(1 for f in fills if self._redis_dbs.get(f.bot_id) is not None)
        try:
            self.mirror.send(self._redis_dbs, (), fills)
        except redis.RedisError as exc:
            metrics.REDIS_ERRORS.inc()
            log.warning("redis unavailable while re-announcing recent fills: %s", exc)
            self.redis_dirty = True
            return 0
        metrics.REANNOUNCED.inc(count)
        log.info("re-announced %d recently ingested fills to the bots' streams", count)
        return count

    def _fills(self, conn: psycopg.Connection[Any], exec_ids: Sequence[str]) -> list[Fill]:
        if not exec_ids:
            return []
        rows = conn.execute(
            _FILL_SELECT + " WHERE exec_id = ANY(%s)" + _LEDGER_ORDER, (list(exec_ids),)
        ).fetchall()
        conn.commit()
        return [fill_from_row(r) for r in rows]

    def _refold(
        self, conn: psycopg.Connection[Any], account: AccountName, bot_id: BotId, symbol: Symbol
    ) -> Position:
        rows = conn.execute(
            _FILL_SELECT + " WHERE account = %s AND bot_id = %s AND symbol = %s" + _LEDGER_ORDER,
            (account, bot_id, symbol),
        ).fetchall()
        conn.commit()
        return fold(fill_from_row(r) for r in rows)

    def _mirror(
        self,
        keys: Iterable[PositionKey],
        new_fills: Sequence[Fill],
        after: Callable[[], None] | None,
    ) -> None:
        # A Redis hash is per (bot, symbol): only bots with one account have one
        # (external, the bot spanning accounts, has no Redis positions: docs/redis.md).
        positions = [
            (bot_id, symbol, self.positions[(a, bot_id, symbol)]) for a, bot_id, symbol in keys
        ]
        self.mirror.write(self._redis_dbs, positions, new_fills, after)

    def _pipe(self, pipes: dict[int, Any], bot_id: BotId) -> Any:
        db = self._redis_dbs.get(bot_id)
        if db is None:
            return None
        if db not in pipes:
            pipes[db] = self._redis_for_db(db).pipeline(transaction=False)
        return pipes[db]

    # --- rebuild ------------------------------------------------------------------

    def rebuild(self, conn: psycopg.Connection[Any]) -> int:
        """Recompute every position from the ledger and rewrite Redis; returns the count."""
        started = time.monotonic()
        self.drain()  # no older write may land after the rewrite
        self.set_bots(load_bots(conn))
        self.positions = ledger_positions(conn)
        # What the streams end with is known again once the re-announce that follows a
        # rebuild has appended (a stream whose last fills are older is not checked).
        self.mirror.stream_tails.clear()
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
        by_bot: dict[BotId, dict[Symbol, Position]] = defaultdict(dict)
        for (_, bot_id, symbol), position in self.positions.items():
            # One account per bot with Redis keys (see _mirror): no symbol is overwritten.
            by_bot[bot_id][symbol] = position
        for bot in self.bots.values():
            db = self._redis_dbs.get(bot.bot_id)
            if db is None:
                continue
            client = self._redis_for_db(db)
            wanted = {redis_keys.position(bot.bot_id, s) for s in by_bot.get(bot.bot_id, {})}
            stale = [
                k
                for k in client.scan_iter(redis_keys.position_pattern(bot.bot_id))
                if k not in wanted
            ]
            pipe = client.pipeline(transaction=False)
            # One DEL per key: a cluster pipeline refuses one DEL over keys of different
            # slots. The pipeline was never atomic; the same round trip either way.
            for key in stale:
                pipe.delete(key)
            for symbol in by_bot.get(bot.bot_id, {}):
                pipe.hset(
                    redis_keys.position(bot.bot_id, symbol),
                    mapping=position_hash(by_bot[bot.bot_id][symbol]),
                )
            pipe.execute()

    def redis_lost_writes(self) -> bool:
        """True when Redis no longer holds what the book last wrote there: a position
        gone or older than the fold (a flush; a restart that lost its last second of
        AOF; a failover to a replica that had not received it yet), or a bot's stream
        not ending with the last fill appended to it. Existence alone would miss a key
        that is there but one write behind. One pipeline per DB: an ``HGET`` per
        position and an ``XREVRANGE … COUNT 1`` per bot stream written since the last
        rebuild."""
        self.drain()  # a write of a queued commit is not lost
        pipes: dict[int, Any] = {}
        wanted: dict[int, list[str]] = defaultdict(list)
        for (_, bot_id, symbol), position in self.positions.items():
            pipe = self._pipe(pipes, bot_id)
            if pipe is not None:
                pipe.hget(redis_keys.position(bot_id, symbol), "last_fill")
                wanted[self._redis_dbs[bot_id]].append(position.last_fill or "")  # type: ignore[index]
        for bot_id, (db, tail) in self.mirror.stream_tails.items():
            pipe = self._pipe(pipes, bot_id)
            if pipe is not None and self._redis_dbs.get(bot_id) == db:
                pipe.xrevrange(redis_keys.fills_stream(bot_id), count=1)
                wanted[db].append(tail)
        for db, pipe in pipes.items():
            for reply, expected in zip(pipe.execute(), wanted[db], strict=True):
                held = _last_written(reply)
                if held is None or held != expected:
                    return True
        return False


def _last_written(reply: Any) -> str | None:
    """The last fill Redis holds, from one reply of the pipeline in
    :meth:`PositionBook.redis_lost_writes`."""
    if isinstance(reply, list):  # XREVRANGE of a bot's stream: its newest entry, if any
        return reply[0][1].get("exec_id") if reply else None
    return reply  # type: ignore[no-any-return]  # HGET of a position's last_fill
