"""The listener service: wires sockets, catch-up, hand-over, writer and positions.

Threads (see ``pipeline`` for why threads): one writer thread owns the database
connection and the position book; pybit's reader threads, the catch-up workers and the
hand-over consumer only enqueue; the fill-claim consumer queues each claim as a call
for the writer and waits for its answer; the main thread serves health and writes the
status.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis

from core import redis_cluster, redis_keys
from core.config import Role, Settings
from core.db import connect
from core.lease import DEFAULT_TTL_SECONDS, Lease, LeaseLost, new_token
from core.redis_client import fail_fast, infra_client, no_retry, redis_client, stream_fields
from websocket_listener import ledger_fence, metrics
from websocket_listener.batch import Committed, Conflict
from websocket_listener.envelope import Envelope
from websocket_listener.fill_claims import ClaimRequest, ClaimResult, claim
from websocket_listener.pipeline import Pipeline
from websocket_listener.positions import REANNOUNCE_SECONDS, PositionBook
from websocket_listener.records import Recorder
from websocket_listener.spool import Spool

log = logging.getLogger(__name__)

#: How often the main thread checks that Redis still holds what the listener wrote there
#: (every position, the end of every bot's stream): :meth:`Listener.check_redis`.
REDIS_CHECK_SECONDS = 2.0
#: Re-announced fills reach this far before the first failed Redis write: the commit
#: whose write failed, and the database clock's ``ingested_at`` against ours.
MISSED_MARGIN_SECONDS = 60.0
STATUS_SECONDS = 1.0
#: ``/healthz`` turns red when the spool has held messages this long without a commit.
SPOOL_STUCK_SECONDS = 30.0
#: While Redis does not answer at start, say so this often.
LEASE_WAIT_LOG_SECONDS = 10.0
#: Conflicting duplicates already alerted (exec id, what differs): one alert each.
_ALERTED_MAX = 10_000
#: The Redis clients of the writer thread (positions, streams, checks): a read timeout,
#: and one retry (a pooled connection a Redis restart closed), not redis-py's default
#: three with backoff. A Redis that drops packets then costs at most two timeouts per
#: call, not about 27 s: the writer thread goes back to the ledger.
_FAIL_FAST: dict[str, Any] = {"socket_timeout": 5, "retry": fail_fast()}
#: The main loop's: its calls (a ping, the status hash) are probes it repeats within
#: seconds, and what it is for is noticing a writer that died or was fenced out. With
#: the writer's client it spent up to 10 s per status write on a Redis that drops
#: packets, and a fenced listener took about 11 s to exit.
_PROBE: dict[str, Any] = {"socket_timeout": 1, "retry": no_retry()}


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class Listener:
    """The write path (always) plus, in :meth:`run`, the live sources."""

    def __init__(
        self,
        settings: Settings,
        *,
        application_name: str = "alpha-listener",
        fenced: bool = True,
    ) -> None:
        """``fenced``: take the ledger over before folding it and write only while it
        stays ours (``ledger_fence``); False writes beside its writer instead
        (``alpha listener replay --force``)."""
        self.settings = settings
        self._app = application_name
        #: This process's fencing token in ``trading.ledger_writer`` (None: unfenced).
        self.holder = new_token() if fenced else None
        self._holds_ledger = False
        self._redis_clients: dict[int, redis.Redis] = {}
        self.book = PositionBook(
            self._redis,
            background_redis=True,
            only_db=redis_cluster.CLUSTER_DB if settings.redis.cluster else None,
        )
        self.recorder = Recorder()
        self.pipeline = Pipeline(
            connect=self._connect,
            to_batch=self._to_batch,
            spool=Spool(settings.listener.spool_dir, settings.listener.spool_max_bytes),
            max_batch=settings.listener.max_batch,
            on_commit=self._on_commit,
            on_barrier=self.book.drain,
            on_db_recovered=self._on_db_recovered,
            on_spool_overflow=self._on_spool_overflow,
            holder=self.holder,
        )
        self._rebuild_pending = True
        #: Re-announce recent fills to the bots' streams with the next rebuild (at start
        #: and after a database outage: a commit whose Redis update never happened).
        self._announce_pending = True
        self.reannounce_seconds: float = REANNOUNCE_SECONDS
        #: When Redis writes began to fail, until the fills since are announced again.
        self._missed_since: float | None = None
        self.streams: dict[str, Any] = {}
        #: Extra ``PrivateStream`` options (e.g. a test's shorter reconnect backoff).
        self.stream_options: dict[str, Any] = {}
        self.catchups: dict[str, Any] = {}
        self.handover: Any = None
        self.claims: Any = None
        self.spool_stuck_seconds = SPOOL_STUCK_SECONDS
        self._alerted: set[tuple[str, str]] = set()
        self._alerts: redis.Redis | None = None
        self.lease_seconds = DEFAULT_TTL_SECONDS

    # --- plumbing ----------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        # Autocommit: a batch of one statement commits in its own round trip; the writer
        # opens a transaction explicitly when a batch needs more (see writer.write_batch).
        return connect(self.settings, Role.LISTENER, autocommit=True, application_name=self._app)

    def _redis(self, db: int) -> redis.Redis:
        if db not in self._redis_clients:
            self._redis_clients[db] = redis_client(self.settings, db, **_FAIL_FAST)
        return self._redis_clients[db]

    def _put(self, envelope: Envelope) -> None:
        """Every source's way in: parse on the caller's thread, queue for the writer."""
        self.pipeline.put(self.recorder.prepare(envelope))

    def _to_batch(self, conn: psycopg.Connection[Any], envelopes: list[Envelope]) -> Any:
        if self._rebuild_pending:
            self._rebuild(conn)
        batch = self.recorder.to_batch(conn, envelopes)
        if self.recorder.bots and self.book.bots.keys() != {b.bot_id for b in self.recorder.bots}:
            self.book.set_bots(self.recorder.bots)
        return batch

    def _take_ledger(self, conn: psycopg.Connection[Any]) -> None:
        """Become the ledger's writer, once, before its first fold: whatever an earlier
        writer committed is then in the fold, and it can commit nothing more."""
        if self.holder is not None and not self._holds_ledger:
            ledger_fence.take(conn, self.holder)
            self._holds_ledger = True

    def _rebuild(self, conn: psycopg.Connection[Any]) -> None:
        self._take_ledger(conn)
        self.book.rebuild(conn)
        self._rebuild_pending = False
        if self._announce_pending and not self.book.redis_dirty:
            seconds = self.reannounce_seconds
            if self._missed_since is not None:  # an outage longer than the usual window
                seconds = max(seconds, time.time() - self._missed_since + MISSED_MARGIN_SECONDS)
            self.book.announce_recent(conn, seconds)
            # Redis failed half-way: the rebuild that follows its return announces again.
            self._announce_pending = self.book.redis_dirty
            if not self._announce_pending:
                self._missed_since = None

    def _on_commit(self, conn: psycopg.Connection[Any], committed: Committed) -> None:
        executions = {f.exec_id: f for f in committed.new_fills}  # one per bot share
        for source, count in Counter(f.source for f in executions.values()).items():
            metrics.FILLS_WRITTEN.labels(source).inc(count)  # labels() per fill: 4% of CPU
        if committed.duplicate_fills:
            metrics.DUPLICATES.labels("any").inc(committed.duplicate_fills)
        if committed.new_funding:
            metrics.FUNDING_WRITTEN.labels("any").inc(committed.new_funding)
        if committed.orders:
            metrics.ORDERS_UPSERTED.inc(committed.orders)
        for code, count in Counter(committed.reject_codes).items():
            metrics.REJECTS.labels(code).inc(count)
        if committed.conflicts:
            self._alert_conflicts(committed.conflicts)
        received = committed.received_at

        def observe_latency() -> None:
            done = time.time()
            for moment in received:
                metrics.FILL_LATENCY.observe(done - moment)

        if self._rebuild_pending:
            # The ledger (including this batch) is folded from scratch; only publish
            # (unless the rebuild re-announced recent fills, this batch among them).
            announcing = self._announce_pending
            self._rebuild(conn)
            if not announcing:
                self.book.publish(committed.new_fills, observe_latency)
            else:
                observe_latency()
        else:
            self.book.apply(conn, committed.new_fills, observe_latency, committed.moved)

    def _alert_conflicts(self, conflicts: Iterable[Conflict]) -> None:
        """One ``fill_conflict`` alert per conflicting duplicate (its reject row is
        committed): the C2 delivers it like trade sync's drift alerts."""
        for c in conflicts:
            if (c.exec_id, c.difference) in self._alerted:
                continue  # the same conflict again (e.g. a catch-up re-read it)
            text = (
                f"Conflicting duplicate on {c.account} {c.symbol}: execId {c.exec_id[:100]}"
                f" came again with other facts ({c.difference}); the ledger kept the first,"
                " the newcomer is in trading.fill_rejects"
            )
            log.error("%s", text)
            fields = {
                "kind": "fill_conflict",
                "key": f"fill_conflict:{c.account}:{c.exec_id[:100]}",
                "severity": "critical",
                "resolved": "0",
                "account": c.account,
                "symbol": c.symbol,
                "exec_id": c.exec_id[:200],
                "text": text[:1000],
                "at": datetime.now(UTC).isoformat(),
            }
            try:
                if self._alerts is None:
                    self._alerts = infra_client(self.settings)
                self._alerts.xadd(redis_keys.ALERTS, stream_fields(fields))
            except redis.RedisError as exc:  # the reject row and the log line remain
                log.error("cannot publish the fill_conflict alert: %s", exc)
                continue
            if len(self._alerted) >= _ALERTED_MAX:
                self._alerted.clear()
            self._alerted.add((c.exec_id, c.difference))

    def _on_db_recovered(self, conn: psycopg.Connection[Any]) -> None:
        # A commit whose acknowledgement was lost may have landed: its fills would come
        # back as duplicates and skip the incremental update. Re-fold everything.
        self._rebuild_pending = True
        self._announce_pending = True
        for catchup in self.catchups.values():
            catchup.trigger()

    def _on_spool_overflow(self) -> None:
        # A trigger holds each account's catch-up watermark where it is (it stops
        # following the ledger until a catch-up completes), so the catch-up re-reads
        # every execution that could not be spooled.
        for catchup in self.catchups.values():
            catchup.trigger()

    def check_redis(self, conn: psycopg.Connection[Any]) -> None:
        """Every ``REDIS_CHECK_SECONDS`` on the writer thread: when Redis missed writes
        (an outage) or lost acknowledged ones (a flush, a restart, a failover), rewrite
        the positions from the ledger and append the fills committed meanwhile to the
        bots' streams again — a bot must see the fill that should place its stop."""
        try:
            lost = self.book.ready and self.book.redis_lost_writes()
        except redis.RedisError:
            self.book.redis_dirty = True
            return
        if not lost and not self.book.redis_dirty:
            return
        log.warning(
            "redis %s: rebuilding positions and re-announcing fills from the ledger",
            "writes failed (outage)" if self.book.redis_dirty else "lost writes it had taken"
            " (flush, restart or failover)",
        )  # fmt: skip
        if self.book.redis_dirty_since is not None and self._missed_since is None:
            self._missed_since = self.book.redis_dirty_since
        self._announce_pending = True
        self._rebuild(conn)

    def assign(self, request: ClaimRequest) -> ClaimResult:
        """Apply an operator's claim of an external fill on the writer thread (the
        ledger's only writer), then re-fold both bots' positions and mirror them.

        Waits as long as the writer needs: while the database is down the call is
        retried, and the requester's own timeout tells the operator so; the request
        stays unacknowledged until it is answered."""
        answers: queue.SimpleQueue[ClaimResult] = queue.SimpleQueue()

        def run(conn: psycopg.Connection[Any]) -> None:
            self._take_ledger(conn)
            self.recorder.refresh_bots(conn, force=True)
            result = claim(conn, request, self.recorder.fallbacks(), self.holder)
            if result.moved and self._rebuild_pending:
                self._rebuild(conn)  # folds the claim in with everything else
            elif result.moved:
                self.book.apply(conn, [], None, result.moved)
            answers.put(result)

        self.pipeline.call(run)
        return answers.get()

    # --- used by replay and tests ------------------------------------------------

    def start_writer(self) -> None:
        self.pipeline.start()
        self.pipeline.call(self._rebuild)

    def feed(self, envelopes: Iterable[Envelope]) -> None:
        for env in envelopes:
            self._put(env)

    # --- the service -------------------------------------------------------------

    def start_sources(self, accounts: Iterable[str] | None = None) -> None:
        from core.exchange.client import make_http
        from websocket_listener.catchup import CatchUp
        from websocket_listener.claim_requests import ClaimConsumer
        from websocket_listener.connections import AccountStream
        from websocket_listener.group_reader import reader_client
        from websocket_listener.handover import HandoverConsumer

        names = list(accounts if accounts is not None else self.settings.accounts)
        for account in names:
            self.streams[account] = AccountStream(
                self.settings, account, self._put, self._subscribed, **self.stream_options
            )
            self.catchups[account] = CatchUp(
                self.settings,
                account,
                http=make_http(self.settings, account, retry_delay=0.2),
                connect=self._connect,
                put=self._put,
                flush=lambda: self.pipeline.flush(timeout=60),
                stream=self.streams[account],
            )
            self.catchups[account].start()
            self.streams[account].start()
        self.handover = HandoverConsumer(reader_client(self.settings), self._put)
        self.handover.start()
        self.claims = ClaimConsumer(reader_client(self.settings), self.assign)
        self.claims.start()

    def _subscribed(self, account: str) -> None:
        catchup = self.catchups.get(account)
        if catchup is not None:
            catchup.trigger()

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: write, watch Redis, publish status.

        Only while holding the listener's lease (``core/lease.py``): a second listener
        would fold only the fills it inserted and overwrite this one's positions in Redis.
        It refuses to start (:class:`LeaseHeld`) while this one renews the lease; this
        one stops (:class:`LeaseLost`) when it finds the lease taken by another, or
        (``ledger_fence.Fenced``) when another took the ledger over while this one could
        not reach Redis."""
        lost: list[str] = []

        def on_lost(why: str) -> None:
            lost.append(why)
            stop.set()

        lease = Lease(
            infra_client(self.settings),
            redis_keys.LISTENER_LEASE,
            "the listener",
            ttl_seconds=self.lease_seconds,
            on_lost=on_lost,
            lost_when_unreachable=False,  # the ledger keeps going through a Redis outage
        )
        if not self._take(lease, stop):
            return
        try:
            self._run(stop)
        finally:
            lease.release()
        if lost:
            raise LeaseLost(f"the listener stopped: lease lost ({lost[0]})")

    def _take(self, lease: Lease, stop: threading.Event) -> bool:
        """Take the lease, waiting for Redis while it does not answer (a restart of the
        whole stack starts the listener beside a Redis still loading). False: stopped
        while waiting."""
        said = 0.0
        while True:
            try:
                lease.acquire()
                return True
            except redis.RedisError as exc:
                if time.monotonic() - said >= LEASE_WAIT_LOG_SECONDS:
                    said = time.monotonic()
                    log.warning("waiting for Redis to take the listener's lease: %s", exc)
            if stop.wait(1.0):
                return False

    def _run(self, stop: threading.Event) -> None:
        if not self.settings.accounts:
            log.warning("no exchange account configured (BYBIT_API_KEY): only hand-over and replay")
        self.start_writer()
        # Take the ledger over now, not at the first fill: an old listener that lost
        # Redis stops at its next batch even while this one has nothing to write yet.
        self.pipeline.call(self._take_ledger)
        self.start_sources()
        # Everything allocated so far (modules, clients, the position book) lives for the
        # whole run: keep it out of the cyclic collector's full passes, which otherwise
        # re-walk it every few seconds under load and show up as commit-latency spikes.
        gc.collect()
        gc.freeze()
        # A read timeout: a Redis that drops packets must not hold this loop, which is
        # what notices a dead writer thread (or one fenced out of the ledger).
        infra = redis_client(self.settings, self.settings.redis.infra_db, **_PROBE)
        next_check = next_status = 0.0
        while not stop.wait(0.2):
            now = time.monotonic()
            if isinstance(self.pipeline.fatal, LeaseLost):
                self.stop()  # fenced: another listener writes the ledger now
                raise self.pipeline.fatal
            if self.pipeline.fatal is not None:
                raise RuntimeError("listener writer thread died") from self.pipeline.fatal
            if now >= next_check:
                next_check = now + REDIS_CHECK_SECONDS
                # While Redis is out of reach the writer thread must not spend its time
                # in Redis timeouts: the rebuild is tried once Redis answers a ping here.
                if not self.book.redis_dirty or _answers(infra):
                    self.pipeline.call(self.check_redis)
            if now >= next_status:
                next_status = now + STATUS_SECONDS
                self._publish_status(infra)
        self.stop()

    def stop(self) -> None:
        # Told first, then waited for: each part may be in the middle of its own I/O (a
        # socket's close, a REST page, a Redis read into a partition), and waited for one
        # after another they added up (a listener fenced out while cut from Redis took
        # about 11 s to exit).
        for part in (*self.catchups.values(), self.handover, self.claims):
            if part is not None:
                part.request_stop()
        for stream in self.streams.values():
            stream.stop()
        for catchup in self.catchups.values():
            catchup.stop()
        if self.handover is not None:
            self.handover.stop()
        if self.claims is not None:
            self.claims.stop()
        self.pipeline.stop()
        self.book.drain(10)  # the last commits' Redis writes

    # --- health ------------------------------------------------------------------

    def status(self) -> dict[str, str]:
        fields = {
            "heartbeat": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "db_up": "1" if self.pipeline.db_up else "0",
            "spool_backlog": str(len(self.pipeline.spool)),
            "queue_depth": str(self.pipeline.queue.qsize()),
        }
        for account, stream in self.streams.items():
            fields[f"{account}:connected"] = "1" if stream.connected else "0"
            fields[f"{account}:last_message_at"] = f"{stream.last_message_at:.3f}"
        return fields

    def _publish_status(self, infra: redis.Redis) -> None:
        try:
            infra.hset(redis_keys.LISTENER_STATUS, mapping=self.status())
        except redis.RedisError:
            pass

    def health_checks(self) -> dict[str, Any]:
        def connected() -> bool | str:
            down = [a for a, s in self.streams.items() if not s.connected]
            return "ok" if not down else f"disconnected: {', '.join(down)}"

        def database() -> bool | str:
            if not self.pipeline.db_down and time.time() - self.pipeline.last_commit_at < 60:
                return "ok"
            # Nothing committed lately (a quiet account), or the writer last saw it down
            # (it only learns of a recovery on its next write): ask the database itself.
            try:
                with connect(self.settings, Role.LISTENER) as conn:
                    conn.execute("SELECT 1")
            except Exception as exc:
                return f"unreachable: {type(exc).__name__}"
            return "ok"

        def writer() -> bool | str:
            return "ok" if self.pipeline.is_alive() else "writer thread stopped"

        def spool() -> bool | str:
            # Data the database refuses is rejected row by row, so a spool that stays
            # full means the database cannot take anything: say why.
            stuck = self.pipeline.stuck_seconds()
            if stuck < self.spool_stuck_seconds:
                return "ok"
            return (
                f"spool stuck for {stuck:.0f}s ({len(self.pipeline.spool)} messages waiting)"
                f" on: {self.pipeline.last_error or 'unknown error'}"
            )

        return {
            # The watchdog counts a stream connected only while frames (pongs included)
            # keep arriving, so a quiet account is healthy and a dead socket is not.
            "connected": connected,
            "db": database,
            "writer": writer,
            "spool": spool,
        }
