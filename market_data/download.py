"""Fill the store from the exchange's public REST history, fetching only what is missing.

For each symbol and interval the store is asked which bars of the requested range it
lacks (``store.missing_spans``); only those runs are paged from ``/v5/market/kline``,
newest first as Bybit serves them, and each page is committed as it arrives, so an
interrupted download resumes where it stopped. A bar the exchange did not return inside
a run it was asked for is a *gap*: reported, not invented. Funding settlements are
fetched before the oldest and after the newest one stored in the range.

Only closed bars are stored: the range is cut at the exchange's clock, so the candle
still forming (the first REST row, docs/bybit.md#candles) never reaches the store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import IO, Any

import psycopg
from tqdm import tqdm

from core.candles import Candle, candle_from_row
from core.errors import UserError
from core.exchange.rest import from_ms, to_ms
from market_data import store
from market_data.spans import Span, bar_opens, ceil_bar, check_interval, floor_bar, runs
from market_data.store import Written

#: Rows per kline request: Bybit's maximum (docs/bybit.md#candles).
KLINE_PAGE = 1000
#: Rows per funding-history request: Bybit's maximum (docs/bybit.md#funding-rate-history).
FUNDING_PAGE = 200


@dataclass
class CandleReport:
    """What one symbol/interval download did."""

    symbol: str
    interval: str
    wanted: int = 0  # bars in the requested range that have closed
    missing: int = 0  # of those, bars the store lacked before the run
    fetched: int = 0  # rows the exchange returned inside the missing runs
    pages: int = 0
    written: Written = field(default_factory=Written)
    gaps: list[Span] = field(default_factory=list)  # bars the exchange has no row for

    @property
    def gap_bars(self) -> int:
        return sum(g.bars for g in self.gaps)


@dataclass
class FundingReport:
    symbol: str
    fetched: int = 0
    pages: int = 0
    written: Written = field(default_factory=Written)


def closed_range(
    start: datetime, end: datetime, interval: str, now: datetime
) -> tuple[datetime, datetime] | None:
    """The first and last open time of closed bars in ``[start, end)``; ``None`` if none."""
    step = check_interval(interval)
    first = ceil_bar(start, interval)
    last = min(ceil_bar(end, interval), floor_bar(now, interval)) - step
    return (first, last) if first <= last else None


def download_candles(
    http: Any,
    conn: psycopg.Connection[Any],
    exchange: str,
    symbol: str,
    interval: str,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    progress: IO[str] | None = None,
) -> CandleReport:
    report = CandleReport(symbol, interval)
    bounds = closed_range(start, end, interval, now)
    if bounds is None:
        return report
    step = check_interval(interval)
    first, last = bounds
    report.wanted = int((last - first) / step) + 1
    missing = store.missing_spans(conn, exchange, symbol, interval, first, last, step)
    conn.commit()
    report.missing = sum(s.bars for s in missing)
    bar = tqdm(
        total=report.missing,
        desc=f"{symbol} {interval}",
        unit="bar",
        file=progress,
        disable=progress is None,
        leave=True,
    )
    try:
        for span in missing:
            got: set[datetime] = set()
            for page in _kline_pages(http, symbol, interval, span):
                report.pages += 1
                fresh = [c for c in page if c.start not in got]
                got.update(c.start for c in fresh)
                report.fetched += len(fresh)
                report.written += store.upsert_candles(conn, exchange, fresh)
                conn.commit()
                bar.update(len(fresh))
            absent = (t for t in bar_opens(span.first, span.last + step, interval) if t not in got)
            report.gaps.extend(runs(absent, step))
    finally:
        bar.close()
    return report


class OffGridError(UserError):
    """The exchange opened a bar where the store's grid has none (docs/bybit.md)."""


def _kline_pages(http: Any, symbol: str, interval: str, span: Span) -> Iterator[list[Candle]]:
    """Pages of candles with open time in the span, newest page first."""
    start_ms, end_ms = to_ms(span.first), to_ms(span.last)
    step_ms = int(check_interval(interval).total_seconds() * 1000)
    while end_ms >= start_ms:
        rows = http.get_kline(
            category="linear",
            symbol=symbol,
            interval=interval,
            start=start_ms,
            end=end_ms,
            limit=KLINE_PAGE,
        )["result"]["list"]
        page: list[Candle] = [
            candle_from_row(symbol, interval, row)
            for row in rows
            if start_ms <= int(row[0]) <= end_ms  # never trust the server's filtering
        ]
        for candle in page:
            if (to_ms(candle.start) - start_ms) % step_ms:
                # Stored off the grid, the bar would never match the missing-bar search
                # and every rerun would fetch it again and call its range a gap.
                raise OffGridError(
                    f"{symbol} {interval}: the exchange opened a bar at "
                    f"{candle.start:%Y-%m-%d %H:%M} UTC, off the grid Alpha assumes "
                    "(docs/bybit.md#where-the-documentation-is-silent); that bar is not stored"
                )
        if not page:
            return
        yield page
        oldest = min(int(row[0]) for row in rows)
        end_ms = oldest - 1


def download_funding(
    http: Any,
    conn: psycopg.Connection[Any],
    exchange: str,
    symbol: str,
    start: datetime,
    end: datetime,
) -> FundingReport:
    """Settlements in ``[start, end)`` outside what the store already spans there.

    Funding intervals differ per symbol and change over time, so there is no grid to
    find holes on: a run resumes before the oldest and after the newest stored row.
    """
    report = FundingReport(symbol)
    oldest, newest = store.funding_bounds(conn, exchange, symbol, start, end)
    conn.commit()
    one_ms = timedelta(milliseconds=1)
    if oldest is None or newest is None:
        windows = [(start, end - one_ms)]
    else:
        windows = [(start, oldest - one_ms), (newest + one_ms, end - one_ms)]
    for lo, hi in windows:
        if lo > hi:
            continue
        for page in _funding_pages(http, symbol, to_ms(lo), to_ms(hi)):
            report.pages += 1
            report.fetched += len(page)
            report.written += store.upsert_funding(conn, exchange, symbol, page)
            conn.commit()
    return report


def _funding_pages(
    http: Any, symbol: str, start_ms: int, end_ms: int
) -> Iterator[list[tuple[datetime, Decimal]]]:
    while end_ms >= start_ms:
        items = http.get_funding_rate_history(
            category="linear",
            symbol=symbol,
            startTime=start_ms,
            endTime=end_ms,
            limit=FUNDING_PAGE,
        )["result"]["list"]
        stamps = [int(i["fundingRateTimestamp"]) for i in items]
        page = [
            (from_ms(ts), Decimal(str(i["fundingRate"])))
            for ts, i in zip(stamps, items, strict=True)
            if start_ms <= ts <= end_ms
        ]
        if not page:
            return
        yield page
        end_ms = min(stamps) - 1


def download(
    http: Any,
    conn: psycopg.Connection[Any],
    exchange: str,
    symbols: Sequence[str],
    interval: str,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    funding: bool = True,
    progress: IO[str] | None = None,
) -> tuple[list[CandleReport], list[FundingReport]]:
    """Every symbol's candles (and funding), one after the other."""
    candles = [
        download_candles(http, conn, exchange, s, interval, start, end, now, progress=progress)
        for s in symbols
    ]
    rates = (
        [download_funding(http, conn, exchange, s, start, min(end, now)) for s in symbols]
        if funding
        else []
    )
    return candles, rates
