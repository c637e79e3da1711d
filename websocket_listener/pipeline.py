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

Database errors are of two kinds (:func:`is_data_error`). A statement that the *data*
makes fail (a value the schema refuses, an index row too large, a numeric overflow, a
check violation: SQLSTATE classes 22, 23 and 54) is retried envelope by envelope, then
item by item: only the row the database refuses becomes a ``trading.fill_rejects`` row
with the database's reason, and everything else of the batch commits. Anything else
(connection lost, PostgreSQL restarting, a permission or schema problem) is not the
data's fault: the batch goes to the spool and is retried, and if the spool stays stuck
the listener's ``/healthz`` says so with the last error (``stuck_seconds``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg

from core.lease import LeaseLost
from core.retry import Backoff, Jitter
from websocket_listener import metrics
from websocket_listener.batch import Batch, Committed, RejectRow
from websocket_listener.envelope import Envelope
from websocket_listener.spool import Spool
from websocket_listener.writer import write_batch

log = logging.getLogger(__name__)

#: A stop marker; anything else in the queue is an Envelope.
_STOP = object()

#: SQLSTATE classes of a statement the rows make fail: data exception (22: a value out of
#: range, too long, malformed), integrity constraint violation (23: a check, not-null or
#: foreign key) and program limit exceeded (54: an index row too large, a statement too
#: complex). psycopg files class 54 under OperationalError, like a lost connection.
DATA_ERROR_CLASSES = frozenset({"22", "23", "54"})


def is_data_error(exc: BaseException) -> bool:
    """True when retrying the same rows can never succeed, but other rows would."""
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate:
            return exc.sqlstate[:2] in DATA_ERROR_CLASSES
        # Refused by psycopg before sending (e.g. a NUL character in a text value).
        return isinstance(exc, psycopg.DataError)
    # A value Python cannot encode for the wire (e.g. a lone surrogate in COPY text).
    return isinstance(exc, UnicodeError)


def _describe(exc: BaseException) -> str:
    first_line = (str(exc).strip().splitlines() or [""])[0]
    state = f" [{exc.sqlstate}]" if isinstance(exc, psycopg.Error) and exc.sqlstate else ""
    return f"{type(exc).__name__}{state}: {first_line}"[:300]


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
        on_barrier: Callable[[], object] | None = None,
        retry_max_seconds: float = 2.0,
        max_queue: int = 32,
        put_wait: float = 1.0,
        holder: str | None = None,
    ) -> None:
        """``holder``: the ledger writer's fencing token every batch is written under
        (``ledger_fence``); None writes unchecked (``alpha listener replay --force``)."""
        self.holder = holder
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
        self._conn: psycopg.Connection[Any] | None = None
        self.db_up = False
        self._db_was_down = False
        self._retry_at = 0.0
        # No jitter: one writer per listener, and its retries are a local database's.
        self._backoff = Backoff(base=0.05, cap=retry_max_seconds, jitter=Jitter.NONE)
        self._calls: list[_Call] = []
        self._thread = threading.Thread(target=self._run, name="listener-writer", daemon=True)
        self.last_commit_at = 0.0
        self.fatal: BaseException | None = None
        #: Since when (monotonic) writes have failed without a commit in between, and why.
        self._failing_since: float | None = None
        self.last_error = ""

    # --- public ------------------------------------------------------------------

    def start(self) -> None:
        self.spool.open()  # what an earlier run left is replayed first
        self._thread.start()

    def put(self, envelope: Envelope) -> None:
        """Thread-safe; never raises (called on pybit's threads); waits at most
        ``put_wait`` seconds while the writer is ``max_queue`` envelopes behind."""
        # A writer that has ended (fenced out) never makes space: not worth a wait per
        # envelope (a catch-up's page of them held a fenced listener's exit up).
        if self.queue.qsize() >= self.max_queue and self._thread.is_alive():
            self._space.clear()
            if self.queue.qsize() >= self.max_queue and self._thread.is_alive():
                self._space.wait(self._put_wait)
        self.queue.put(envelope)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything enqueued so far is committed or spooled; False at once
        once the writer thread has ended (fenced out, or a bug), which nothing enqueued
        since will ever be. Before, a catch-up waiting here held a fenced listener's
        exit up for its whole join."""
        barrier = Barrier()
        self.queue.put(barrier)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not barrier.done.wait(0.1):
            if not self._thread.is_alive():
                return barrier.done.is_set()
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return True

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

    def stuck_seconds(self) -> float:
        """How long the spool has held messages that could not be written (0 when none)."""
        if self.spool.empty() or self._failing_since is None:
            return 0.0
        return time.monotonic() - self._failing_since

    # --- the loop ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except LeaseLost as exc:  # another listener took the ledger over: no traceback
            self.fatal = exc
            log.error("%s", exc)
        except BaseException as exc:  # a bug: make it visible to health and the main thread
            self.fatal = exc
            log.exception("listener writer thread died")
            raise
        finally:
            self._space.set()  # nobody waits for space from a writer that has ended

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
                except psycopg.Error as exc:  # not the data's fault (see is_data_error)
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
                conn = self._connection()
                self._calls[0].fn(conn)
            except psycopg.Error as exc:
                self._database_down(exc)
                return
            self._calls.pop(0)
            if not self.db_up:
                # A quiet account commits nothing for hours: a call that got through says
                # the database answers just as well. A call need not query, though, and
                # PgBouncer lets a client log in while PostgreSQL is down: ask the server.
                try:
                    conn.execute("SELECT 1")
                except psycopg.Error as exc:
                    self._database_down(exc)
                    return
                self._reached(conn)

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

        Raises ``psycopg.Error`` only for errors that are not the data's fault.
        ``live``: straight from the queue (not the spool), so the socket-to-Redis
        latency of its WebSocket messages is observed."""
        conn = self._connection()
        started = time.perf_counter()
        batch = self._to_batch(conn, envelopes)
        try:
            committed = write_batch(conn, batch, holder=self.holder)
        except (psycopg.Error, UnicodeError) as exc:
            if not is_data_error(exc):
                raise
            # Data the exchange sent that the schema refuses: find the culprit.
            log.warning("batch refused by the database (%s); isolating the row", _describe(exc))
            committed = self._write_isolated(conn, envelopes)
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

    def _write_isolated(
        self, conn: psycopg.Connection[Any], envelopes: list[Envelope]
    ) -> Committed:
        """Envelope by envelope, and a refused envelope item by item: only the rows the
        database refuses become rejects (with its reason); the others commit."""
        total = Committed([], 0, 0, 0, 0, 0)
        for env in envelopes:
            try:
                part = write_batch(conn, self._to_batch(conn, [env]), holder=self.holder)
            except (psycopg.Error, UnicodeError) as exc:
                if not is_data_error(exc):
                    raise
                if len(env.items) > 1:
                    part = self._write_isolated(conn, _split(env))
                else:
                    part = write_batch(
                        conn, Batch(rejects=[_refused(env, exc)]), holder=self.holder
                    )
            total.add(part)
        return total

    def _committed(self, conn: psycopg.Connection[Any], committed: Committed) -> None:
        self.last_commit_at = time.time()
        self._reached(conn)
        if self._on_commit is not None:
            self._on_commit(conn, committed)

    def _reached(self, conn: psycopg.Connection[Any]) -> None:
        """The database answered: ``db_up``, and after an outage its end."""
        self._failing_since = None
        self.last_error = ""
        if not self.db_up:
            self.db_up = True
            metrics.DB_UP.set(1)
        if self._db_was_down:
            self._db_was_down = False
            log.info("database reachable again")
            if self._on_db_recovered is not None:
                self._on_db_recovered(conn)

    def _database_down(self, exc: BaseException) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
        self.last_error = _describe(exc)
        if self.db_up or not self._db_was_down:
            log.warning("database write failed, spooling: %s", self.last_error)
        self.db_up = False
        self._db_was_down = True
        metrics.DB_UP.set(0)
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None
        self._retry_at = time.monotonic() + self._backoff.next_delay()

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
        except psycopg.Error as exc:
            self._database_down(exc)
            return
        self._backoff.reset()

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


def _split(env: Envelope) -> list[Envelope]:
    """One envelope per item (same account, source and topic), for isolating a bad row."""
    return [replace(env, items=[item], parsed=None, on_durable=None) for item in env.items]


def _refused(env: Envelope, exc: BaseException) -> RejectRow:
    """The reject row of a one-item envelope the database refused."""
    reason = f"{env.topic or 'message'}: database_refused: {_describe(exc)}"
    message = env.to_json() if env.malformed is None else env.malformed
    return RejectRow(env.account, env.topic or None, reason[:500], message, "database_refused")
