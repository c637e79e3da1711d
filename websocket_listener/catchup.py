"""Catch-up: after every (re)connect, re-read what the socket may have missed.

The private stream has no replay (docs/bybit.md#delivery-and-reconnects), so each time a socket is
subscribed again the account's ``/v5/execution/list`` is read from the last committed
``exec_time`` of that account minus ``LISTENER_CATCHUP_MARGIN_SECONDS`` up to now, in
contiguous windows of at most 7 days (the endpoint's limit), paging each window's
cursor to the end. Items go through the writer like any message, with
``source='rest'``; those already in the ledger are ignored by ``ON CONFLICT``.

Each window is sorted into ledger order before it is handed over (the endpoint returns
newest first), so newly found fills fold incrementally instead of forcing re-folds.

One worker thread per account; triggers while a run is in progress coalesce into one
more run, so a flapping socket cannot pile up catch-ups.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from core.config import Settings
from core.fills import ms_to_utc, utc_to_ms
from websocket_listener import metrics
from websocket_listener.envelope import EXECUTION, Envelope

log = logging.getLogger(__name__)

WINDOW = timedelta(days=7) - timedelta(milliseconds=1)
PAGE_LIMIT = 100


def last_exec_time(conn: psycopg.Connection[Any], account: str) -> datetime | None:
    row = conn.execute(
        "SELECT greatest((SELECT max(exec_time) FROM trading.fills WHERE account = %s),"
        " (SELECT max(exec_time) FROM trading.funding WHERE account = %s))",
        (account, account),
    ).fetchone()
    conn.commit()
    return row[0] if row else None


def windows(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Contiguous ``[start, end]`` windows of at most 7 days (inclusive ms bounds)."""
    while start <= end:
        stop = min(start + WINDOW, end)
        yield start, stop
        start = stop + timedelta(milliseconds=1)


def fetch_window(http: Any, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every execution of the window, all pages, oldest first."""
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        params: dict[str, Any] = {
            "category": "linear",
            "startTime": utc_to_ms(start),
            "endTime": utc_to_ms(end),
            "limit": PAGE_LIMIT,
        }
        if cursor:
            params["cursor"] = cursor
        result = http.get_executions(**params)["result"]
        items.extend(result.get("list") or [])
        cursor = result.get("nextPageCursor") or ""
        if not cursor or not result.get("list"):
            break
    items.sort(key=_ledger_order)
    return items


def _ledger_order(item: dict[str, Any]) -> tuple[int, int, str]:
    try:
        return (int(item.get("execTime", 0)), int(item.get("seq", 0)), str(item.get("execId")))
    except (TypeError, ValueError):
        return (0, 0, str(item.get("execId")))


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
    ) -> None:
        self.settings = settings
        self.account = account
        self._http = http
        self._connect = connect
        self._put = put
        self._flush = flush
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"catchup-{account}", daemon=True)
        self.runs = 0
        self.last_run_at: datetime | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wanted.set()
        self._thread.join(5)

    def trigger(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            self._wanted.wait()
            if self._stop.is_set():
                return
            self._wanted.clear()
            try:
                found = self.run_once()
                backoff = 0.5
                log.info("catch-up for %s read %d executions", self.account, found)
            except Exception as exc:  # database down, REST error: try again later
                metrics.CATCHUP_ERRORS.labels(self.account).inc()
                log.warning(
                    "catch-up for %s failed (%s); retrying in %.1fs",
                    self.account,
                    " ".join(str(exc).split())[:300],
                    backoff,
                )
                self._wanted.set()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def run_once(self) -> int:
        """One catch-up: returns how many executions the exchange reported."""
        # Everything received before this point is committed first, so the watermark
        # below is as late as it can be (fewer pages to read).
        self._flush()
        conn = self._connect()
        try:
            last = last_exec_time(conn, self.account)
        finally:
            conn.close()
        now = datetime.now(UTC)
        cfg = self.settings.listener
        if last is None:
            start = now - timedelta(days=cfg.catchup_initial_days)
        else:
            start = last - timedelta(seconds=cfg.catchup_margin_seconds)
        # Millisecond bounds, as the exchange stores them.
        start = ms_to_utc(max(utc_to_ms(start), 1))
        found = 0
        for window_start, window_end in windows(start, now):
            for item in fetch_window(self._http, window_start, window_end):
                self._put(Envelope.from_rest(self.account, EXECUTION, item))
                found += 1
        metrics.CATCHUP_FILLS.labels(self.account).inc(found)
        self.runs += 1
        self.last_run_at = now
        return found
