"""The writer thread: queue → group commit → positions, with the spool for outages.

Why a thread and not asyncio: pybit runs its own threads and calls us synchronously on
them, psycopg and redis-py are used synchronously, and the whole write path is one
sequential loop. One dedicated writer thread that drains a ``queue.Queue`` gives group
commit for free: it blocks for the first envelope, then takes everything else that
arrived while the previous commit was in flight (up to ``LISTENER_MAX_BATCH``
executions — a message counts as its number of items, so a batch's memory is bounded
whatever the frame size). An
isolated fill is committed as soon as it arrives; under load batches grow by themselves.
The socket threads only enqueue, so a slow database never stalls a socket (pybit would
time out its pings) — with one bound: when more than ``max_queue`` envelopes wait, a
producer pauses (at most ``put_wait`` seconds, then enqueues anyway) until the writer
has taken half of them. The reader thread then reads the socket a little later and TCP
slows the sender, instead of the backlog growing in memory (RSS stays flat under a
burst). While the spool is being replayed the writer keeps taking new arrivals (to
disk), so this never throttles a socket for the length of an outage.

Order of writes per batch: ledger commit first, then Redis (positions, fill streams).
Only executions the INSERT reports as new go on to Redis.

When PostgreSQL/PgBouncer is unreachable every batch is appended to the spool instead
(``fsync``'d); while the spool holds anything, new envelopes go behind it so order is
kept, and the thread retries the database with backoff, replaying the spool oldest first.
After an outage, positions are rebuilt from the ledger: a commit whose acknowledgement
was lost may have landed, and its fills would then come back as duplicates and skip the
incremental position update.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from websocket_listener import metrics
from websocket_listener.envelope import Envelope
from websocket_listener.spool import Spool
from websocket_listener.writer import Batch, Committed, RejectRow, write_batch

log = logging.getLogger(__name__)

#: A stop marker; anything else in the queue is an Envelope.
_STOP = object()


class Barrier:
    """Put in the queue; set once everything enqueued before it is durable."""

    def __init__(self) -> None:
        self.done = threading.Event()


class _Call:
    """Work that must run on the writer thread (it owns the connection and positions)."""

    def __init__(self, fn: Callable[[psycopg.Connection[Any]], None]) -> None:
        self.fn = fn


class Pipeline:
    """Owns the writer thread, the database connection and the spool."""

    def __init__(
        self,
        *,
        connect: Callable[[], psycopg.Connection[Any]],
        to_batch: Callable[[psycopg.Connection[Any], list[Envelope]], Batch],
        spool: Spool,
        max_batch: int,
        on_commit: Callable[[psycopg.Connection[Any], Committed], None] | None = None,
        on_db_recovered: Callable[[psycopg.Connection[Any]], None] | None = None,
        on_spool_overflow: Callable[[], None] | None = None,
        on_barrier: Callable[[], None] | None = None,
        retry_max_seconds: float = 2.0,
        max_queue: int = 32,
        put_wait: float = 1.0,
    ) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()
        self.max_queue = max_queue
        self._put_wait = put_wait
        self._space = threading.Event()
        self._space.set()
        self._connect = connect
        self._to_batch = to_batch
        self.spool = spool
        self.max_batch = max_batch
        self._on_commit = on_commit
        self._on_db_recovered = on_db_recovered
        self._on_spool_overflow = on_spool_overflow
        self._on_barrier = on_barrier
        self._retry_max = retry_max_seconds
        self._conn: psycopg.Connection[Any] | None = None
        self.db_up = False
        self._db_was_down = False
        self._retry_at = 0.0
        self._backoff = 0.05
        self._calls: list[_Call] = []
        self._thread = threading.Thread(target=self._run, name="listener-writer", daemon=True)
        self.last_commit_at = 0.0
        self.fatal: BaseException | None = None

    # --- public ------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def put(self, envelope: Envelope) -> None:
        """Thread-safe; never raises (called on pybit's threads); waits at most
        ``put_wait`` seconds while the writer is ``max_queue`` envelopes behind."""
        if self.queue.qsize() >= self.max_queue:
            self._space.clear()
            if self.queue.qsize() >= self.max_queue:
                self._space.wait(self._put_wait)
        self.queue.put(envelope)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything enqueued so far is committed or spooled."""
        barrier = Barrier()
        self.queue.put(barrier)
        return barrier.done.wait(timeout)

    def call(self, fn: Callable[[psycopg.Connection[Any]], None]) -> None:
        """Run ``fn(conn)`` on the writer thread, after what is queued; retried while the
        database is down."""
        self.queue.put(_Call(fn))

    def stop(self, timeout: float = 10.0) -> None:
        self._space.set()
        self.queue.put(_STOP)
        self._thread.join(timeout)
        if self._conn is not None:
            self._conn.close()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    # --- the loop ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug: make it visible to health and the main thread
            self.fatal = exc
            log.exception("listener writer thread died")
            raise

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            idle = self.spool.empty() and not self._calls
            timeout = None if idle else max(0.0, self._retry_at - time.monotonic())
            envelopes, barriers, stopping = self._take(timeout)
            depth = self.queue.qsize()
            metrics.QUEUE_DEPTH.set(depth)
            if depth <= self.max_queue // 2:
                self._space.set()
            if not self.spool.empty():
                if envelopes:
                    self._spool(envelopes)
                self._drain_spool()
            elif envelopes:
                try:
                    self._write(envelopes, live=True)
                except psycopg.OperationalError as exc:
                    self._database_down(exc)
                    self._spool(envelopes)
            if self._calls and self.spool.empty():
                self._run_calls()
            if barriers and self._on_barrier is not None:
                self._on_barrier()  # e.g. wait for Redis: "durable" includes the mirror
            for barrier in barriers:
                barrier.done.set()
        if not self.spool.empty():
            self._drain_spool()

    def _take(self, timeout: float | None) -> tuple[list[Envelope], list[Barrier], bool]:
        envelopes: list[Envelope] = []
        barriers: list[Barrier] = []
        try:
            first = self.queue.get(timeout=timeout) if timeout != 0 else self.queue.get_nowait()
        except queue.Empty:
            return envelopes, barriers, False
        stopping = False
        item = first
        size = 0
        while True:
            if item is _STOP:
                stopping = True
            elif isinstance(item, Barrier):
                barriers.append(item)
            elif isinstance(item, _Call):
                self._calls.append(item)
            else:
                envelopes.append(item)
                size += max(1, len(item.items))
            if size >= self.max_batch:
                break
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
        return envelopes, barriers, stopping

    def _run_calls(self) -> None:
        if time.monotonic() < self._retry_at:
            return
        while self._calls:
            try:
                self._calls[0].fn(self._connection())
            except psycopg.OperationalError as exc:
                self._database_down(exc)
                return
            self._calls.pop(0)

    # --- database ----------------------------------------------------------------

    @property
    def db_down(self) -> bool:
        """True from a failed write until the next successful commit."""
        return self._db_was_down

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _write(self, envelopes: list[Envelope], *, live: bool = False) -> None:
        """Commit one batch; a bad row never blocks the others (it becomes a reject).

        ``live``: straight from the queue (not the spool), so the socket-to-Redis
        latency of its WebSocket messages is observed."""
        conn = self._connection()
        started = time.perf_counter()
        batch = self._to_batch(conn, envelopes)
        try:
            committed = write_batch(conn, batch)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            # Data the exchange sent that the schema refuses: find the culprit one by one.
            log.warning("batch refused by the database (%s); retrying envelope by envelope", exc)
            committed = self._write_one_by_one(conn, envelopes)
        metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(envelopes))
        if live:
            committed.received_at = [
                env.received_at
                for env in envelopes
                if env.source == "ws" and env.topic == "execution"
            ]
        self._committed(conn, committed)
        self._ack(envelopes)

    def _write_one_by_one(
        self, conn: psycopg.Connection[Any], envelopes: list[Envelope]
    ) -> Committed:
        total = Committed([], 0, 0, 0, 0, 0)
        for env in envelopes:
            batch = self._to_batch(conn, [env])
            try:
                part = write_batch(conn, batch)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                reason = f"refused by the database: {type(exc).__name__}: {exc}".splitlines()[0]
                reject = RejectRow(env.account, env.topic, reason[:500], env.to_json())
                part = write_batch(conn, Batch(rejects=[reject]))
                metrics.REJECTS.labels("database").inc()
            total.new_fills += part.new_fills
            total.duplicate_fills += part.duplicate_fills
            total.new_funding += part.new_funding
            total.duplicate_funding += part.duplicate_funding
            total.orders += part.orders
            total.rejects += part.rejects
        return total

    def _committed(self, conn: psycopg.Connection[Any], committed: Committed) -> None:
        self.last_commit_at = time.time()
        if not self.db_up:
            self.db_up = True
            metrics.DB_UP.set(1)
        if self._db_was_down:
            self._db_was_down = False
            log.info("database reachable again")
            if self._on_db_recovered is not None:
                self._on_db_recovered(conn)
        if self._on_commit is not None:
            self._on_commit(conn, committed)

    def _database_down(self, exc: BaseException) -> None:
        if self.db_up or not self._db_was_down:
            log.warning("database unreachable, spooling: %s", " ".join(str(exc).split())[:300])
        self.db_up = False
        self._db_was_down = True
        metrics.DB_UP.set(0)
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, self._retry_max)

    # --- spool -------------------------------------------------------------------

    def _spool(self, envelopes: list[Envelope]) -> None:
        if self.spool.append(envelopes):
            self._ack(envelopes)  # durable on disk: a hand-over entry may be acknowledged
        else:
            metrics.SPOOL_OVERFLOWS.inc(len(envelopes))
            log.error(
                "spool full (%d bytes): %d messages not spooled; catch-up will re-read them",
                self.spool.bytes,
                len(envelopes),
            )
            if self._on_spool_overflow is not None:
                self._on_spool_overflow()
        self._spool_metrics()

    def _drain_spool(self) -> None:
        if time.monotonic() < self._retry_at:
            return
        try:
            while not self.spool.empty():
                envelopes, token = self.spool.peek(self.max_batch)
                if envelopes:
                    self._write(envelopes)
                self.spool.consume(token)
                self._spool_metrics()
                if self.queue.qsize() >= self.max_queue // 2:
                    break  # let the caller move new arrivals to disk, keeping memory flat
        except psycopg.OperationalError as exc:
            self._database_down(exc)
            return
        self._backoff = 0.05

    def _spool_metrics(self) -> None:
        metrics.SPOOL_BACKLOG.set(len(self.spool))
        metrics.SPOOL_BYTES.set(self.spool.bytes)

    def _ack(self, envelopes: list[Envelope]) -> None:
        for env in envelopes:
            if env.on_durable is not None:
                try:
                    env.on_durable()
                except Exception:
                    log.exception("acknowledgement callback failed")
