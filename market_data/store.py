"""SQL against ``market.candles`` and ``market.funding_rates`` (migration 0013).

Writes are upserts that change a row only when the exchange's values differ from the
stored ones, so downloading a range twice writes nothing the second time and the
counts returned say exactly what changed. Every function takes an open psycopg
connection; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from core.candles import Candle
from market_data.spans import Span


@dataclass(frozen=True, slots=True)
class Written:
    """What one upsert did: rows new to the store, rows whose values changed."""

    inserted: int = 0
    updated: int = 0

    def __add__(self, other: Written) -> Written:
        return Written(self.inserted + other.inserted, self.updated + other.updated)


def _utc(moment: datetime) -> datetime:
    """psycopg returns timestamptz in the session's TimeZone, which is the server's
    setting; everything Alpha prints and compares is UTC."""
    return moment.astimezone(UTC)


def _counts(rows: Sequence[tuple[Any, ...]]) -> Written:
    inserted = sum(1 for (is_new,) in rows if is_new)
    return Written(inserted, len(rows) - inserted)


def bar_columns(candles: Sequence[Candle]) -> tuple[list[Any], ...]:
    """The bars' open time, OHLC, volume and turnover as one array each, in the
    columns' order, for an ``unnest`` insert into ``market.candles``."""
    return (
        [c.start for c in candles],
        [c.open for c in candles],
        [c.high for c in candles],
        [c.low for c in candles],
        [c.close for c in candles],
        [c.volume for c in candles],
        [c.turnover for c in candles],
    )


def upsert_candles(
    conn: psycopg.Connection[Any], exchange: str, candles: Sequence[Candle]
) -> Written:
    """Store closed candles; an identical row is left alone (no write, no count)."""
    if not candles:
        return Written()
    rows = conn.execute(
        """
        INSERT INTO market.candles AS c
            (exchange, symbol, interval, open_time, open, high, low, close, volume, turnover)
        SELECT %s, %s, %s, t.*
          FROM unnest(%s::timestamptz[], %s::numeric[], %s::numeric[], %s::numeric[],
                      %s::numeric[], %s::numeric[], %s::numeric[]) AS t
        ON CONFLICT (exchange, symbol, interval, open_time) DO UPDATE
           SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
               close = EXCLUDED.close, volume = EXCLUDED.volume, turnover = EXCLUDED.turnover
         WHERE (c.open, c.high, c.low, c.close, c.volume, c.turnover)
               IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low,
                                 EXCLUDED.close, EXCLUDED.volume, EXCLUDED.turnover)
        RETURNING (xmax = 0)
        """,
        (
            exchange,
            candles[0].symbol,
            candles[0].interval,
            *bar_columns(candles),
        ),
    ).fetchall()
    return _counts(rows)


def upsert_funding(
    conn: psycopg.Connection[Any],
    exchange: str,
    symbol: str,
    rates: Sequence[tuple[datetime, Decimal]],
) -> Written:
    """Store funding settlements ``(time, rate)``; identical rows are left alone."""
    if not rates:
        return Written()
    rows = conn.execute(
        """
        INSERT INTO market.funding_rates AS f (exchange, symbol, funding_time, rate)
        SELECT %s, %s, t.* FROM unnest(%s::timestamptz[], %s::numeric[]) AS t
        ON CONFLICT (exchange, symbol, funding_time) DO UPDATE SET rate = EXCLUDED.rate
         WHERE f.rate IS DISTINCT FROM EXCLUDED.rate
        RETURNING (xmax = 0)
        """,
        (exchange, symbol, [t for t, _ in rates], [r for _, r in rates]),
    ).fetchall()
    return _counts(rows)


def missing_spans(
    conn: psycopg.Connection[Any],
    exchange: str,
    symbol: str,
    interval: str,
    first: datetime,
    last: datetime,
    step: timedelta,
) -> list[Span]:
    """Runs of bars ``first`` … ``last`` (open times on the grid) the store lacks."""
    if last < first:
        return []
    rows = conn.execute(
        """
        SELECT min(t), max(t), count(*)
          FROM (SELECT t, t - (row_number() OVER (ORDER BY t))::float8 * %(step)s AS run
                  FROM generate_series(%(first)s::timestamptz, %(last)s::timestamptz,
                                       %(step)s::interval) AS t
                 WHERE NOT EXISTS (
                       SELECT 1 FROM market.candles c
                        WHERE c.exchange = %(exchange)s AND c.symbol = %(symbol)s
                          AND c.interval = %(interval)s AND c.open_time = t)) AS m
         GROUP BY run ORDER BY 1
        """,
        {
            "step": step,
            "first": first,
            "last": last,
            "exchange": exchange,
            "symbol": symbol,
            "interval": interval,
        },
    ).fetchall()
    return [Span(_utc(a), _utc(b), int(n)) for a, b, n in rows]


def funding_bounds(
    conn: psycopg.Connection[Any], exchange: str, symbol: str, start: datetime, end: datetime
) -> tuple[datetime | None, datetime | None]:
    """The oldest and newest stored settlement in ``[start, end)``."""
    row = conn.execute(
        "SELECT min(funding_time), max(funding_time) FROM market.funding_rates"
        " WHERE exchange = %s AND symbol = %s AND funding_time >= %s AND funding_time < %s",
        (exchange, symbol, start, end),
    ).fetchone()
    assert row is not None
    return (_utc(row[0]) if row[0] else None), (_utc(row[1]) if row[1] else None)


@dataclass(frozen=True, slots=True)
class Coverage:
    """What the store holds for one exchange/symbol/interval."""

    exchange: str
    symbol: str
    interval: str
    candles: int
    first: datetime
    last: datetime
    holes: list[Span]


def coverage(
    conn: psycopg.Connection[Any], *, symbol: str | None = None, interval: str | None = None
) -> list[Coverage]:
    """Per stored series: its count, first and last bar, and the holes between them."""
    from core.candles import INTERVAL_SECONDS

    series = conn.execute(
        """
        SELECT exchange, symbol, interval, count(*), min(open_time), max(open_time)
          FROM market.candles
         WHERE (%(symbol)s::text IS NULL OR symbol = %(symbol)s)
           AND (%(interval)s::text IS NULL OR interval = %(interval)s)
         GROUP BY 1, 2, 3
        """,
        {"symbol": symbol, "interval": interval},
    ).fetchall()
    # Shortest bars first within a symbol ("5" before "60" before "D"), not text order.
    series.sort(key=lambda r: (r[0], r[1], INTERVAL_SECONDS[r[2]]))
    out = []
    for ex, sym, iv, n, first, last in series:
        step = timedelta(seconds=INTERVAL_SECONDS[iv])
        holes = conn.execute(
            """
            SELECT prev + %(step)s, open_time - %(step)s
              FROM (SELECT open_time, lag(open_time) OVER (ORDER BY open_time) AS prev
                      FROM market.candles
                     WHERE exchange = %(ex)s AND symbol = %(sym)s AND interval = %(iv)s) s
             WHERE open_time - prev > %(step)s ORDER BY 1
            """,
            {"step": step, "ex": ex, "sym": sym, "iv": iv},
        ).fetchall()
        spans = [Span(_utc(a), _utc(b), int((b - a) / step) + 1) for a, b in holes]
        out.append(Coverage(ex, sym, iv, int(n), _utc(first), _utc(last), spans))
    return out


def funding_coverage(
    conn: psycopg.Connection[Any], *, symbol: str | None = None
) -> list[tuple[str, str, int, datetime, datetime]]:
    """Per exchange/symbol: settlements stored, the first and the last."""
    rows = conn.execute(
        """
        SELECT exchange, symbol, count(*), min(funding_time), max(funding_time)
          FROM market.funding_rates
         WHERE (%(symbol)s::text IS NULL OR symbol = %(symbol)s)
         GROUP BY 1, 2 ORDER BY 1, 2
        """,
        {"symbol": symbol},
    ).fetchall()
    return [(ex, sym, int(n), _utc(first), _utc(last)) for ex, sym, n, first, last in rows]


def read_candles(
    conn: psycopg.Connection[Any],
    exchange: str,
    symbol: str,
    interval: str,
    start: datetime,
    end: datetime,
) -> list[Candle]:
    """Stored candles with open time in ``[start, end)``, oldest first."""
    rows = conn.execute(
        "SELECT open_time, open, high, low, close, volume, turnover FROM market.candles"
        " WHERE exchange = %s AND symbol = %s AND interval = %s"
        "   AND open_time >= %s AND open_time < %s ORDER BY open_time",
        (exchange, symbol, interval, start, end),
    ).fetchall()
    return [Candle(symbol, interval, _utc(t), *rest) for t, *rest in rows]


def read_funding(
    conn: psycopg.Connection[Any],
    exchange: str,
    symbol: str,
    start: datetime,
    end: datetime,
) -> list[tuple[datetime, Decimal]]:
    """Stored funding settlements ``(time, rate)`` in ``[start, end)``, oldest first."""
    rows = conn.execute(
        "SELECT funding_time, rate FROM market.funding_rates"
        " WHERE exchange = %s AND symbol = %s AND funding_time >= %s AND funding_time < %s"
        " ORDER BY funding_time",
        (exchange, symbol, start, end),
    ).fetchall()
    return [(_utc(t), rate) for t, rate in rows]
