"""The Redis side of the position book: ``position:{bot_id}:{symbol}`` hashes and
``fills:{bot_id}`` entries, written after the ledger commit (docs/architecture.md, fill step 5).

A :class:`RedisMirror` turns a commit's touched positions and new fills into one Redis
pipeline per bot DB (one round trip each). In the listener it runs on its own thread,
in commit order: the writer thread goes on to the next batch's database work while the
previous batch's Redis writes are formatted and sent (the mirror was 14 % of the
writer's samples at full load, time the writer now spends on the next commit). Anyone
who needs Redis to be current — a flush barrier, a rebuild, a re-announce, shutdown —
calls :meth:`RedisMirror.drain` first. A failed write marks the book dirty through
``on_error``; the listener then rebuilds Redis from the ledger, as before.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import redis

from core import redis_keys
from core.fills import Fill
from core.ids import BotId, Symbol
from core.positions import Position
from core.redis_cluster import is_cluster_client
from websocket_listener import metrics

log = logging.getLogger(__name__)

#: Upper bound on a bot's fill stream; the bot acknowledges entries long before this.
STREAM_MAXLEN = 100_000
#: Commits whose Redis writes may wait for the mirror thread before the writer waits.
MAX_QUEUED_COMMITS = 32


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
        if is_cluster_client(client):
            self._send_to_cluster(client)
            return
        for attempt in (1, 2):
            pipe = client.pipeline(transaction=False)
            for key, mapping in self.hashes:
                pipe.hset(key, mapping=mapping)
            for stream, values in self.entries.items():
                pipe.evalsha(_APPEND_SHA, 1, stream, str(STREAM_MAXLEN), str(len(STREAM_FIELDS)),
                             *STREAM_FIELDS, *values)  # fmt: skip
            try:
                pipe.execute()
                return
            except redis.exceptions.NoScriptError:
                if attempt == 2:
                    raise
                client.script_load(APPEND_ENTRIES_LUA)

    def _send_to_cluster(self, client: redis.Redis) -> None:
        """The same writes for a Redis Cluster, whose client pipelines no script
        (redis-py refuses ``EVALSHA`` in a cluster pipeline): the hashes in one pipeline
        (one round trip per node), then the script once per stream, outside it — one
        more round trip per bot with new fills, where one ``XADD`` per fill in the
        pipeline measured slower (redis-py's cluster pipeline costs Python per command).
        Each stream's entries stay in ledger order, after the hashes, as above."""
        if self.hashes:
            pipe = client.pipeline(transaction=False)
            for key, mapping in self.hashes:
                pipe.hset(key, mapping=mapping)
            pipe.execute()
        for stream, values in self.entries.items():
            args = (str(STREAM_MAXLEN), str(len(STREAM_FIELDS)), *STREAM_FIELDS, *values)
            try:
                client.evalsha(_APPEND_SHA, 1, stream, *args)
            except redis.exceptions.NoScriptError:
                # A node that lost it (restart, failover); SCRIPT LOAD goes to every primary.
                client.script_load(APPEND_ENTRIES_LUA)
                client.evalsha(_APPEND_SHA, 1, stream, *args)


#: Bot id → the Redis DB of its keys (``BotRow.mirror_db``; ``None``: positions live only
#: in the ledger, i.e. ``external``).
RedisDbs = Mapping[BotId, int | None]


class _Job:
    def __init__(
        self,
        dbs: RedisDbs,
        positions: list[tuple[BotId, Symbol, Position]],
        fills: Sequence[Fill],
        after: Callable[[], None] | None,
    ) -> None:
        self.dbs, self.positions, self.fills, self.after = dbs, positions, fills, after


class RedisMirror:
    """Sends the book's writes, inline or (``background``) on one thread in order."""

    def __init__(
        self,
        redis_for_db: Callable[[int], redis.Redis],
        *,
        on_error: Callable[[redis.RedisError], None],
        background: bool = False,
    ) -> None:
        self._redis_for_db = redis_for_db
        self._on_error = on_error
        #: Bot id → (its DB, the exec id last appended to its stream): what the stream
        #: must still end with, unless Redis lost acknowledged writes (see
        #: ``PositionBook.redis_lost_writes``). Read only after :meth:`drain`.
        self.stream_tails: dict[BotId, tuple[int, str]] = {}
        #: Set while Redis writes fail (the book is dirty): writes are dropped, since a
        #: rebuild from the ledger and a re-announce follow once Redis answers. Sending
        #: them would cost a socket timeout each on a Redis that drops packets, and with
        #: the bounded queue below that would hold the ledger's commits back.
        self.paused = False
        self._jobs: queue.Queue[_Job | threading.Event] | None = None
        if background:
            # Bounded: a slow Redis (up to its socket timeout) slows the writer rather
            # than holding an unbounded backlog of commits in memory.
            self._jobs = queue.Queue(maxsize=MAX_QUEUED_COMMITS)
            threading.Thread(target=self._run, name="listener-redis", daemon=True).start()

    def write(
        self,
        dbs: RedisDbs,
        positions: Iterable[tuple[BotId, Symbol, Position]],
        fills: Sequence[Fill],
        after: Callable[[], None] | None = None,
    ) -> None:
        """Whole hashes of ``positions``, then ``fills`` appended in ledger order; then
        ``after()``. Positions and fills are immutable, so the thread may format them."""
        job = _Job(dbs, list(positions), fills, after)
        if self._jobs is None:
            self._send(job)
        else:
            self._jobs.put(job)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until everything written so far has been sent (or has failed)."""
        if self._jobs is None:
            return True
        done = threading.Event()
        self._jobs.put(done)
        return done.wait(timeout)

    def _run(self) -> None:
        assert self._jobs is not None
        while True:
            job = self._jobs.get()
            if isinstance(job, threading.Event):
                job.set()
                continue
            try:
                self._send(job)
            except Exception:  # a bug must not stop the mirror: rebuild from the ledger
                log.exception("redis mirror failed")
                self._on_error(redis.RedisError("redis mirror failed"))

    def send(
        self, dbs: RedisDbs, positions: Iterable[tuple[BotId, Symbol, Position]],
        fills: Sequence[Fill],
    ) -> None:  # fmt: skip
        """Like :meth:`write`, but now, on the caller's thread, after everything written
        before; raises ``redis.RedisError``."""
        self.drain()
        self._deliver(_Job(dbs, list(positions), fills, None))

    def _send(self, job: _Job) -> None:
        try:
            if not self.paused:
                self._deliver(job)
        except redis.RedisError as exc:
            metrics.REDIS_ERRORS.inc()
            self._on_error(exc)
        finally:
            if job.after is not None:
                job.after()

    def _deliver(self, job: _Job) -> None:
        writes: dict[int, _Writes] = {}

        def writes_for(bot_id: BotId) -> _Writes | None:
            db = job.dbs.get(bot_id)
            if db is None:
                return None
            if db not in writes:
                writes[db] = _Writes()
            return writes[db]

        for bot_id, symbol, position in job.positions:
            w = writes_for(bot_id)
            if w is not None:
                w.hashes.append((redis_keys.position(bot_id, symbol), position_hash(position)))
        tails: dict[int, dict[BotId, str]] = defaultdict(dict)
        for fill in sorted(job.fills, key=lambda f: f.ledger_key):
            w = writes_for(fill.bot_id)
            if w is not None:
                w.entries[redis_keys.fills_stream(fill.bot_id)] += stream_values(fill)
                tails[job.dbs[fill.bot_id]][fill.bot_id] = fill.exec_id  # type: ignore[index]
        for db, w in writes.items():
            w.send(self._redis_for_db(db))
            self.stream_tails.update((bot_id, (db, tail)) for bot_id, tail in tails[db].items())
