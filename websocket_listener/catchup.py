"""Catch-up: after every (re)connect, re-read what the socket may have missed.

The private stream has no replay (docs/bybit.md#delivery-and-reconnects), so each time
a socket is subscribed again the account's ``/v5/execution/list`` is read from the
account's **watermark** minus
``LISTENER_CATCHUP_MARGIN_SECONDS`` up to the exchange's own time (``/v5/market/time``,
so the local clock does not matter), in contiguous windows of at most 7 days (the
endpoint's limit), each to the end of its cursor. Items go through the writer like any
message, with ``source='rest'``; those already in the ledger are ignored by
``ON CONFLICT``. Each window is sorted into ledger order first (the endpoint returns
newest first), so newly found fills fold incrementally instead of forcing re-folds.

The watermark (``caught_up_to``, kept in ``trading.catchup_marks`` and in memory) means
"every execution of the account before this is in the ledger or in the spool". It is
never recomputed from the ledger when a catch-up runs: live fills that arrive after a
reconnection — or while a catch-up is retrying a REST error — must not move the start
past the outage. It only advances

* when a catch-up window is durably written (every one of its items committed or
  spooled, confirmed by the writer): to the window's end. A failed catch-up keeps
  what it completed and retries from there, so an outage of any length is recovered
  by the listener alone, window by window;
* while the account's socket has stayed up, without a break, since a catch-up that
  started after it subscribed, and no other catch-up was asked for since: to the
  ledger's newest ``exec_time`` of the account (checked every ``REFRESH_SECONDS``; the
  socket generation is read before and after, so a reconnection in between voids it).
  This keeps the next start close to where the stream was lost, so a catch-up reads
  the outage, not the whole time since the previous one.

Each advance is written to ``trading.catchup_marks`` (best effort: an older stored
value only means more to read), so a listener that is ``kill -9``'d in the middle of a
catch-up starts the next one from before the outage. With no watermark the first
catch-up reaches back ``LISTENER_CATCHUP_INITIAL_DAYS``.

One worker thread per account; triggers (reconnects, a database recovery, a full spool)
while a run is in progress coalesce into one more run, so a flapping socket cannot pile
up catch-ups, and each run starts from the watermark as it stands.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import psycopg

from core.config import Settings
from core.exchange import rest
from core.exchange_fields import ms_to_utc
from core.retry import Backoff, Jitter
from websocket_listener import metrics
from websocket_listener.envelope import EXECUTION, Envelope

log = logging.getLogger(__name__)

#: How often an idle worker moves the watermark up to the ledger (socket up throughout).
REFRESH_SECONDS = 2.0
_EPOCH = ms_to_utc(1)


class Stream(Protocol):
    """What the worker needs to know of the account's socket."""

    @property
    def connected(self) -> bool: ...

    @property
    def generation(self) -> int: ...


class CatchUpIncomplete(RuntimeError):
    """A window's items were not all confirmed durable; the watermark stays."""


def newest_exec_time(conn: psycopg.Connection[Any], account: str) -> datetime | None:
    row = conn.execute(
        "SELECT greatest((SELECT max(exec_time) FROM trading.fills WHERE account = %s),"
        " (SELECT max(exec_time) FROM trading.funding WHERE account = %s))",
        (account, account),
    ).fetchone()
    return row[0] if row else None


def load_mark(conn: psycopg.Connection[Any], account: str) -> datetime | None:
    row = conn.execute(
        "SELECT caught_up_to FROM trading.catchup_marks WHERE account = %s", (account,)
    ).fetchone()
    return row[0] if row else None


def store_mark(conn: psycopg.Connection[Any], account: str, caught_up_to: datetime) -> None:
    """Never moves a stored mark back (a second listener during a hand-off may be ahead)."""
    conn.execute(
        "INSERT INTO trading.catchup_marks AS m (account, caught_up_to) VALUES (%s, %s)"
        " ON CONFLICT (account) DO UPDATE"
        " SET caught_up_to = greatest(m.caught_up_to, EXCLUDED.caught_up_to), updated_at = now()",
        (account, caught_up_to),
    )


def server_time(http: Any) -> datetime:
    """The exchange's clock, the one its ``execTime`` values come from."""
    result = http.get_server_time()["result"]
    nano = result.get("timeNano")
    return ms_to_utc(int(nano) // 1_000_000 if nano else int(result["timeSecond"]) * 1000)


def _ledger_order(item: dict[str, Any]) -> tuple[int, int, str]:
    try:
        return (int(item.get("execTime", 0)), int(item.get("seq", 0)), str(item.get("execId")))
    except (TypeError, ValueError):
        return (0, 0, str(item.get("execId")))


class _Tally:
    """Counts ``on_durable`` calls (the writer's thread) for the worker's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


class CatchUp:
    """The catch-up worker of one account."""

    def __init__(
        self,
        settings: Settings,
        account: str,
        *,
        http: Any,
        connect: Callable[[], psycopg.Connection[Any]],
        put: Callable[[Envelope], None],
        flush: Callable[[], bool],
        stream: Stream | None = None,
    ) -> None:
        self.settings = settings
        self.account = account
        #: The account's socket; without one the watermark only moves with catch-ups.
        self.stream = stream
        self._http = http
        self._connect = connect
        self._put = put
        self._flush = flush
        self._conn: psycopg.Connection[Any] | None = None
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"catchup-{account}", daemon=True)
        self._lock = threading.Lock()
        self._requests = 0  # triggers so far
        #: (triggers, socket generation) as they were when the last completed run began.
        self._caught: tuple[int, int] | None = None
        self._loaded = False
        self._stored: datetime | None = None
        #: The watermark (see the module docstring); None until loaded, or if none yet.
        self.caught_up_to: datetime | None = None
        self.runs = 0
        self.last_run_at: datetime | None = None

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """No new run from now on; :meth:`stop` waits for the thread."""
        self._stop.set()
        self._wanted.set()

    def stop(self) -> None:
        self.request_stop()
        self._thread.join(5)
        self._close()

    def trigger(self) -> None:
        with self._lock:
            self._requests += 1
        self._wanted.set()

    # --- the worker thread -----------------------------------------------------------

    def _run(self) -> None:
        # No jitter: one catch-up per account, nobody shares its retries.
        backoff = Backoff(base=0.5, cap=30.0, jitter=Jitter.NONE)
        while not self._stop.is_set():
            if not self._wanted.wait(REFRESH_SECONDS):
                self._refresh_quietly()
                continue
            if self._stop.is_set():
                return
            self._wanted.clear()
            try:
                found = self.run_once()
                backoff.reset()
                log.info("catch-up for %s read %d executions", self.account, found)
            except Exception as exc:  # database down, REST error: try again later
                self._close()
                metrics.CATCHUP_ERRORS.labels(self.account).inc()
                delay = backoff.next_delay()
                log.warning(
                    "catch-up for %s failed (%s); retrying from %s in %.1fs",
                    self.account,
                    " ".join(str(exc).split())[:300],
                    self.caught_up_to.isoformat() if self.caught_up_to else "the start",
                    delay,
                )
                self._wanted.set()
                self._stop.wait(delay)

    def run_once(self) -> int:
        """One catch-up from the watermark: returns how many executions the exchange
        reported. Raises (watermark kept where the last complete window left it) on any
        REST or database error, or if the writer could not make a window durable."""
        with self._lock:
            requests = self._requests
        generation = self.stream.generation if self.stream is not None else 0
        if not self._loaded:
            self.caught_up_to = load_mark(self._connection(), self.account)
            self._stored = self.caught_up_to
            self._loaded = True
        end = server_time(self._http)  # after the socket subscribed: it has what follows
        cfg = self.settings.listener
        if self.caught_up_to is None:
            start = end - timedelta(days=cfg.catchup_initial_days)
        else:
            start = self.caught_up_to - timedelta(seconds=cfg.catchup_margin_seconds)
        start = max(start, _EPOCH)
        found = 0
        if start <= end:
            for page in rest.iter_execution_pages(self._http, start, end):
                items = sorted(page.items, key=_ledger_order)
                self._write_durably(items)
                found += len(items)
                self._advance(page.window.end)
        metrics.CATCHUP_FILLS.labels(self.account).inc(found)
        self._caught = (requests, generation)
        self.runs += 1
        self.last_run_at = end
        return found

    def refresh(self) -> None:
        """Move the watermark up to the ledger's newest execution while the socket has
        been up without a break since the last completed catch-up (else do nothing)."""
        if not self.caught_up():
            return
        newest = newest_exec_time(self._connection(), self.account)
        if not self.caught_up():  # a reconnection or a trigger meanwhile: not proven
            return
        if newest is not None:
            self._advance(newest)

    # --- helpers ---------------------------------------------------------------------

    def caught_up(self) -> bool:
        """True when a run completed on the current socket with no trigger since."""
        stream = self.stream
        if stream is None or not stream.connected:
            return False
        with self._lock:
            requests = self._requests
        return self._caught == (requests, stream.generation)

    def _write_durably(self, items: list[dict[str, Any]]) -> None:
        tally = _Tally()
        for item in items:
            self._put(Envelope(self.account, "rest", EXECUTION, [item], on_durable=tally.add))
        if not self._flush():
            raise CatchUpIncomplete("the writer did not confirm the window in time")
        if tally.count != len(items):
            raise CatchUpIncomplete(
                f"{len(items) - tally.count} of {len(items)} executions were neither"
                " committed nor spooled"
            )

    def _advance(self, to: datetime) -> None:
        if self.caught_up_to is not None and to <= self.caught_up_to:
            return
        self.caught_up_to = to
        metrics.CATCHUP_MARK.labels(self.account).set(to.timestamp())
        try:
            self._store()
        except psycopg.Error as exc:  # the stored mark stays older: safe, retried later
            self._close()
            log.warning("could not store the catch-up watermark of %s: %s", self.account, exc)

    def _store(self) -> None:
        mark = self.caught_up_to
        if mark is not None and mark != self._stored:
            store_mark(self._connection(), self.account, mark)
            self._stored = mark

    def _refresh_quietly(self) -> None:
        try:
            self.refresh()
            if self._loaded:
                self._store()  # one that failed before
        except Exception as exc:
            self._close()
            log.debug("catch-up watermark of %s not refreshed: %s", self.account, exc)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
