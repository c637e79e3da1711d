"""``alpha data collect``: the closed candles the exchange pushes, written to the store live.

The collector subscribes to the public ``kline.{interval}.{symbol}`` topics (the same
stream and the same closed-candle rule as a bot's host, ``bots/runtime/market.py``: only
a push with ``confirm`` set is a candle; the forming bar never is) and inserts each
closed bar into ``market.candles``.

It connects as its own role, ``collector`` (migration 0022), which may only insert into
``market.candles``: the insert is ``ON CONFLICT DO NOTHING``, so a bar pushed twice, or
already downloaded, is left as it is and the collector can neither rewrite nor delete
history. Bars closed while its socket was down are not fetched here; ``alpha data
download`` fills those holes (as the owner, who may also correct a bar).

As a service (``collector`` in ``docker-compose.production.yml``) it serves ``/healthz``
(the exchange's socket is connected; the last write to the store succeeded) and
``/metrics`` (``alpha_collector_candles_total`` by outcome) on ``ALPHA_HTTP_PORT``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psycopg
from prometheus_client import Counter

from core.candles import EXCHANGE_NAMES, Candle
from core.config import Role, Settings
from market_data.store import bar_columns

log = logging.getLogger(__name__)

#: After a failed write, wait this long before trying the same candles again (s).
RETRY_SECONDS = 2.0

CANDLES = Counter(
    "alpha_collector_candles",
    "Closed candles the collector wrote to market.candles: new, or already stored",
    ["outcome"],
)


def insert_closed(conn: psycopg.Connection[Any], exchange: str, candles: Sequence[Candle]) -> int:
    """Insert the bars the store lacks; a stored bar is never touched. Returns how many
    were new. Needs nothing but ``INSERT`` on ``market.candles``: the conflict is not
    given a target, which would need ``SELECT`` on its columns; the primary key is the
    table's only unique constraint, so it is the one that conflicts."""
    if not candles:
        return 0
    rows = conn.execute(
        """
        INSERT INTO market.candles
            (exchange, symbol, interval, open_time, open, high, low, close, volume, turnover)
        SELECT %s, t.*
          FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::numeric[],
                      %s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[],
                      %s::numeric[]) AS t
        ON CONFLICT DO NOTHING
        RETURNING 1
        """,
        (
            exchange,
            [c.symbol for c in candles],
            [c.interval for c in candles],
            *bar_columns(candles),
        ),
    ).fetchall()
    return len(rows)


StreamFactory = Callable[[Settings, list[str], Callable[[dict[str, Any]], None]], Any]


class Collector:
    """Writes the closed candles of ``symbols`` at ``interval`` (one, or several: every
    symbol at each) until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        symbols: Iterable[str],
        interval: str | Sequence[str],
        stream_factory: StreamFactory | None = None,
    ) -> None:
        self.settings = settings
        self.exchange = EXCHANGE_NAMES[settings.bybit.env]
        intervals = [interval] if isinstance(interval, str) else list(interval)
        symbols = list(symbols)
        self.topics = [f"kline.{i}.{s}" for i in intervals for s in symbols]
        self._factory = stream_factory
        self._queue: queue.Queue[Candle] = queue.Queue()
        #: Closed candles received, and how many of them were new to the store.
        self.received = 0
        self.inserted = 0
        #: Set once the stream is subscribed.
        self.ready = threading.Event()
        self._stream: Any = None
        #: Why the last write failed (``None``: it succeeded, or none was tried yet).
        self.failing: str | None = None

    def health_checks(self) -> dict[str, Callable[[], bool | str]]:
        """For ``/healthz``: the socket is up, and candles reach the store."""

        def exchange() -> bool | str:
            stream = self._stream
            if stream is None:
                return "not started"
            return True if stream.connected else "disconnected"

        def store() -> bool | str:
            failing = self.failing
            return True if failing is None else f"writes failing: {failing}"

        return {"exchange": exchange, "store": store}

    def on_message(self, message: dict[str, Any]) -> None:
        from bots.runtime.market import closed_candle

        for candle in closed_candle(message):
            self._queue.put(candle)

    def run(self, stop: threading.Event) -> None:
        factory = self._factory
        if factory is None:
            from core.exchange import PublicStream

            def factory(s: Settings, topics: list[str], cb: Any) -> Any:
                return PublicStream(s, topics, cb)

        stream = self._stream = factory(self.settings, self.topics, self.on_message)
        stream.start()
        self.ready.set()
        log.info("collecting %s into the store as %s", ", ".join(self.topics), self.exchange)
        pending: list[Candle] = []
        try:
            while not stop.is_set():
                try:
                    pending.append(self._queue.get(timeout=0.5))
                except queue.Empty:
                    continue
                while True:
                    try:
                        pending.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if self._write(pending):
                    pending = []
                else:
                    stop.wait(RETRY_SECONDS)
            if pending:
                self._write(pending)
        finally:
            stream.stop()

    def _write(self, candles: list[Candle]) -> bool:
        """One transaction per batch; on failure the batch is kept and tried again."""
        from core.db import connect

        try:
            with connect(self.settings, Role.COLLECTOR) as conn:
                new = insert_closed(conn, self.exchange, candles)
        except Exception as exc:
            log.warning("%d closed candle(s) not stored yet (%s); retrying", len(candles), exc)
            self.failing = type(exc).__name__
            return False
        self.failing = None
        self.received += len(candles)
        self.inserted += new
        CANDLES.labels("new").inc(new)
        CANDLES.labels("known").inc(len(candles) - new)
        log.debug("%d closed candle(s) written, %d new", len(candles), new)
        return True
