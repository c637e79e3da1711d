"""``market_data.download`` against the paper exchange and a real database: the store
equals what the exchange served, a hole is found and only it is fetched, a rerun writes
nothing, and bars the exchange has no candle for are reported as gaps."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from harness.services import Database

from bots.runtime.market import server_now
from core.config import Role
from core.exchange.client import AlphaHTTP
from core.exchange.rest import to_ms
from market_data.download import download, download_candles, download_funding
from paper_exchange.testing import RunningExchange

EXCHANGE = "paper"


def _served(http: AlphaHTTP, symbol: str, interval: str, start: datetime, now: datetime) -> list:
    """The closed candles the exchange serves with open time in [start, now), oldest
    first, as its strings: asked for newest first without bounds and filtered here, so the
    expectation does not share the download's arithmetic."""
    rows = http.get_kline(category="linear", symbol=symbol, interval=interval, limit=1000)
    step = int(interval) * 60_000
    return [
        tuple(row[:7])
        for row in reversed(rows["result"]["list"])
        if int(row[0]) >= to_ms(start) and int(row[0]) + step <= to_ms(now)
    ]


def _stored(conn: Any, symbol: str, interval: str) -> list:
    """The store's rows as the exchange's strings: NUMERIC keeps the scale it was given."""
    rows = conn.execute(
        "SELECT open_time, open, high, low, close, volume, turnover FROM market.candles"
        " WHERE exchange = %s AND symbol = %s AND interval = %s ORDER BY open_time",
        (EXCHANGE, symbol, interval),
    ).fetchall()
    return [(str(to_ms(t)), *(str(v) for v in rest)) for t, *rest in rows]


def _row_versions(conn: Any) -> list:
    """Each row's xmin: unchanged when no statement wrote the row."""
    return conn.execute(
        "SELECT open_time, xmin::text FROM market.candles ORDER BY symbol, interval, open_time"
    ).fetchall()


def test_the_store_equals_what_the_exchange_served_and_a_rerun_writes_nothing(
    database: Database, http: AlphaHTTP
) -> None:
    now = server_now(http)
    start, end = now - timedelta(hours=3), now
    with database.connect(Role.OWNER, direct=True) as conn:
        candles, _ = download(
            http, conn, EXCHANGE, ["BTCUSDT", "ETHUSDT"], "5", start, end, now, funding=False
        )
        assert [r.symbol for r in candles] == ["BTCUSDT", "ETHUSDT"]
        for r in candles:
            served = _served(http, r.symbol, "5", start, now)
            assert len(served) in (35, 36)  # three hours of 5-minute bars, the edges closed
            assert r.wanted == r.missing == r.fetched == r.written.inserted == len(served)
            assert r.written.updated == 0 and not r.gaps
            assert _stored(conn, r.symbol, "5") == served
        before = _row_versions(conn)

        again, _ = download(
            http, conn, EXCHANGE, ["BTCUSDT", "ETHUSDT"], "5", start, end, now, funding=False
        )
        for r in again:
            assert (r.missing, r.fetched, r.pages) == (0, 0, 0)
            assert r.written.inserted == r.written.updated == 0
        assert _row_versions(conn) == before


def test_the_candle_still_forming_is_never_stored(database: Database, http: AlphaHTTP) -> None:
    now = server_now(http)
    with database.connect(Role.OWNER, direct=True) as conn:
        report = download_candles(
            http,
            conn,
            EXCHANGE,
            "BTCUSDT",
            "15",
            now - timedelta(hours=1),
            now + timedelta(hours=1),
            now,
        )
        newest = conn.execute("SELECT max(open_time) FROM market.candles").fetchone()[0]
    assert newest + timedelta(minutes=15) <= now
    assert report.wanted == report.written.inserted


def test_a_hole_in_the_store_is_found_and_only_it_is_fetched(
    database: Database, http: AlphaHTTP
) -> None:
    now = server_now(http)
    start = now - timedelta(hours=2)
    with database.connect(Role.OWNER, direct=True) as conn:
        download_candles(http, conn, EXCHANGE, "SOLUSDT", "1", start, now, now)
        full = _stored(conn, "SOLUSDT", "1")
        hole = full[40:55]
        conn.execute(
            "DELETE FROM market.candles WHERE open_time >= %s AND open_time <= %s",
            (datetime.fromtimestamp(int(hole[0][0]) / 1000).astimezone(),
             datetime.fromtimestamp(int(hole[-1][0]) / 1000).astimezone()),
        )  # fmt: skip
        conn.commit()
        before = dict(_row_versions(conn))

        report = download_candles(http, conn, EXCHANGE, "SOLUSDT", "1", start, now, now)

        assert report.missing == report.fetched == report.written.inserted == 15
        assert report.pages == 1 and report.written.updated == 0 and not report.gaps
        assert _stored(conn, "SOLUSDT", "1") == full
        after = dict(_row_versions(conn))
        untouched = {t: v for t, v in after.items() if t in before}
        assert untouched == before  # the rows around the hole were not rewritten


def test_bars_the_exchange_has_no_candle_for_are_reported_as_gaps(
    database: Database, exchange: RunningExchange, http: AlphaHTTP
) -> None:
    now = server_now(http)
    oldest = http.get_kline(category="linear", symbol="XRPUSDT", interval="60", limit=1000)
    first_served = min(int(row[0]) for row in oldest["result"]["list"])
    start = now - timedelta(hours=12)  # the paper market's history is 4 hours long
    with database.connect(Role.OWNER, direct=True) as conn:
        report = download_candles(http, conn, EXCHANGE, "XRPUSDT", "60", start, now, now)
    assert len(report.gaps) == 1
    gap = report.gaps[0]
    hour = 3_600_000
    assert to_ms(gap.first) == (to_ms(start) + hour - 1) // hour * hour  # first bar in range
    assert to_ms(gap.last) == first_served - hour
    assert report.gap_bars + report.fetched == report.wanted


def test_funding_is_stored_exactly_and_resumes_after_the_newest(
    database: Database, exchange: RunningExchange, http: AlphaHTTP
) -> None:
    exchange.control.advance_past_scheduled_funding()  # only the rates posted here
    start = server_now(http)
    for rate in ("0.00031", "-0.0002"):
        exchange.control.advance(60_000)
        exchange.control.post("/paper/funding", rate=rate)
    with database.connect(Role.OWNER, direct=True) as conn:
        first = download_funding(
            http, conn, EXCHANGE, "BTCUSDT", start, server_now(http) + timedelta(seconds=1)
        )
        exchange.control.advance(60_000)
        exchange.control.post("/paper/funding", rate="0.000125")
        end = server_now(http) + timedelta(seconds=1)
        second = download_funding(http, conn, EXCHANGE, "BTCUSDT", start, end)
        third = download_funding(http, conn, EXCHANGE, "BTCUSDT", start, end)
        stored = conn.execute(
            "SELECT funding_time, rate FROM market.funding_rates ORDER BY funding_time"
        ).fetchall()
    assert (first.fetched, first.written.inserted) == (2, 2)
    assert (second.fetched, second.written.inserted) == (1, 1)  # only after the newest
    assert (third.fetched, third.written.inserted, third.written.updated) == (0, 0, 0)
    assert [str(rate) for _, rate in stored] == ["0.00031", "-0.0002", "0.000125"]
    served = http.get_funding_rate_history(
        category="linear", symbol="BTCUSDT", startTime=to_ms(start), endTime=to_ms(end)
    )["result"]["list"]
    assert [(str(to_ms(t)), str(r)) for t, r in reversed(stored)] == [
        (row["fundingRateTimestamp"], row["fundingRate"]) for row in served
    ]
