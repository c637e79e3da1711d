"""``alpha data collect`` against the paper exchange: the closed candles it pushes are
stored once each, never the forming one, and equal what ``alpha data download`` fetches
from REST for the same range; its ``/healthz`` checks say when the socket or the store
fails, and ``/metrics`` counts the candles."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY
from pydantic import SecretStr

from core.config import BybitSettings, Role
from core.exchange.client import AlphaHTTP
from core.service import run_check
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
        checks = collector.health_checks()
        assert run_check(checks["exchange"]) == (False, "not started")
        new_before = _counted("new")
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
            assert run_check(checks["exchange"]) == (True, "ok")
            assert run_check(checks["store"]) == (True, "ok")
            # The forming bar moves on without closing: it is pushed, never stored.
            now_ms = ex.control.state()["now_ms"]
            ex.control.advance(max(1, (MINUTE - now_ms % MINUTE) // 2))
            time.sleep(0.3)
        finally:
            stop.set()
            thread.join(10)
        assert collector.received == collector.inserted == closed * len(SYMBOLS)
        assert _counted("new") - new_before == closed * len(SYMBOLS)
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


def _counted(outcome: str) -> float:
    value = REGISTRY.get_sample_value("alpha_collector_candles_total", {"outcome": outcome})
    return value or 0.0


def test_a_failing_store_turns_the_health_check_red_until_a_write_succeeds(database) -> None:
    """The role cannot log in (a wrong password): the batch is kept, ``/healthz``'s store
    check fails with the error's type only (no role or host in an unauthenticated
    answer); the next successful write turns it green."""
    roles = database.settings.db_roles.model_copy(update={"collector_password": SecretStr("no")})
    bad = Collector(dataclasses.replace(database.settings, db_roles=roles), SYMBOLS, "1")
    candle = store_candle()
    assert bad._write([candle]) is False
    ok, detail = run_check(bad.health_checks()["store"])
    assert not ok and detail.startswith("writes failing: "), detail
    assert "@" not in detail and roles.name(Role.COLLECTOR) not in detail, detail
    bad.settings = database.settings
    assert bad._write([candle]) is True
    assert run_check(bad.health_checks()["store"]) == (True, "ok")


def store_candle():
    from decimal import Decimal

    from core.candles import Candle

    one = Decimal(1)
    return Candle("BTCUSDT", "1", datetime(2026, 1, 1, tzinfo=UTC), one, one, one, one, one, one)


def test_every_symbol_is_collected_at_each_interval(database) -> None:
    """``--interval 5,15,240``: one socket, every symbol at each interval (the production
    collector serves bots of several intervals)."""
    collector = Collector(database.settings, ["BTCUSDT", "ETHUSDT"], ["5", "240"])
    assert collector.topics == [
        "kline.5.BTCUSDT", "kline.5.ETHUSDT", "kline.240.BTCUSDT", "kline.240.ETHUSDT",
    ]  # fmt: skip
    assert Collector(database.settings, ["BTCUSDT"], "15").topics == ["kline.15.BTCUSDT"]


def test_a_bad_interval_list_is_one_line(capsys) -> None:
    from core.cli import main

    for given, said in (("5,7", "--interval '7' is not one of"), ("5,5", "given twice"),
                        (",", "at least one interval")):  # fmt: skip
        assert main(["data", "collect", "BTCUSDT", "--interval", given]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and said in err[0], err
