"""``alpha data collect`` against the paper exchange: the closed candles it pushes are
stored once each, never the forming one, and equal what ``alpha data download`` fetches
from REST for the same range."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta

from core.config import BybitSettings, Role
from core.exchange.client import AlphaHTTP
from market_data import store
from market_data.collect import Collector
from market_data.download import download_candles
from paper_exchange.testing import running_exchange

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
BARS = 6
MINUTE = 60_000


def _wait(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _now(ex) -> datetime:
    return datetime.fromtimestamp(ex.control.state()["now_ms"] / 1000, tz=UTC)


def test_collected_candles_equal_the_downloaded_ones(database) -> None:
    with running_exchange(seed=3, history_minutes=60) as ex:
        settings = dataclasses.replace(
            database.settings,
            bybit=BybitSettings(env="paper", rest_url=ex.rest_url, ws_url=ex.ws_url),
        )
        collector = Collector(settings, SYMBOLS, "1")
        stop = threading.Event()
        thread = threading.Thread(target=collector.run, args=(stop,), daemon=True)
        thread.start()
        try:
            _wait(collector.ready.is_set, "the collector to subscribe")
            hub = ex.exchange.public_hub
            _wait(lambda: ex.call(lambda: sum(bool(c.topics) for c in hub.conns)) > 0, "topics")
            first = _now(ex).replace(second=0, microsecond=0)  # the bar forming now
            for _ in range(BARS):
                ex.control.advance(MINUTE - 1000)  # the bar forms: pushed, not confirmed
                ex.control.advance(1000)  # it closes
            now = _now(ex)
            closed = int((now - first) / timedelta(minutes=1))  # BARS, or one more
            assert closed >= BARS
            _wait(lambda: collector.received >= closed * len(SYMBOLS), "every closed bar")
            # The forming bar moves on without closing: it is pushed, never stored.
            now_ms = ex.control.state()["now_ms"]
            ex.control.advance(max(1, (MINUTE - now_ms % MINUTE) // 2))
            time.sleep(0.3)
        finally:
            stop.set()
            thread.join(10)
        assert collector.received == collector.inserted == closed * len(SYMBOLS)
        end = first + timedelta(minutes=closed)
        now = _now(ex)

        http = AlphaHTTP(base_url=ex.rest_url, retry_delay=0.05, timeout=10)
        with database.connect(Role.OWNER, direct=True) as conn:
            for symbol in SYMBOLS:
                stored = store.read_candles(conn, "paper", symbol, "1", first, now)
                assert [c.start for c in stored] == [
                    first + timedelta(minutes=i) for i in range(closed)
                ], "every closed bar once, the forming one never"
                conn.execute("DELETE FROM market.candles WHERE symbol = %s", (symbol,))
                report = download_candles(http, conn, "paper", symbol, "1", first, end, now)
                assert report.written.inserted == closed
                downloaded = store.read_candles(conn, "paper", symbol, "1", first, now)
                assert downloaded == stored, symbol
