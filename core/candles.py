"""Closed candles, the only market data a strategy sees.

A :class:`Candle` is always a *closed* bar (Bybit ``confirm=true``, or a REST row that is
not the first, still-forming one). Prices and volumes are ``Decimal``: they come from the
exchange as strings and are compared against order prices, so float rounding must never
decide an entry.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from core.config import BybitEnv
from core.errors import UserError

#: Bybit V5 kline intervals and their length; "M" (month) has no fixed length.
INTERVAL_SECONDS: dict[str, int] = {
    "1": 60,
    "3": 180,
    "5": 300,
    "15": 900,
    "30": 1800,
    "60": 3600,
    "120": 7200,
    "240": 14400,
    "360": 21600,
    "720": 43200,
    "D": 86400,
    "W": 604800,
}

#: The store's ``exchange`` column (``market.candles``) per environment: testnet and demo
#: prices are not mainnet's, and the paper exchange's are simulated, so none may pass for
#: Bybit's history.
EXCHANGE_NAMES: dict[BybitEnv, str] = {
    BybitEnv.MAINNET: "bybit",
    BybitEnv.TESTNET: "bybit-testnet",
    BybitEnv.DEMO: "bybit-demo",
    BybitEnv.PAPER: "paper",
}


def interval_delta(interval: str) -> timedelta:
    """The length of one bar of ``interval`` (Bybit spelling: "5", "240", "D" …)."""
    try:
        return timedelta(seconds=INTERVAL_SECONDS[interval])
    except KeyError:
        known = ", ".join(INTERVAL_SECONDS)
        raise UserError(f"unknown candle interval {interval!r} (known: {known})") from None


@dataclass(frozen=True, slots=True)
class Candle:
    """One closed bar. ``start`` is the bar's open time in UTC (Bybit's ``start``)."""

    symbol: str
    interval: str
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    turnover: Decimal

    @property
    def end(self) -> datetime:
        """The close time: when the bar became final and a decision may be taken."""
        return self.start + timedelta(seconds=INTERVAL_SECONDS[self.interval])


def from_ms(ms: int) -> datetime:
    """Bybit millisecond epoch → aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def candle_from_row(symbol: str, interval: str, row: list[str] | tuple[str, ...]) -> Candle:
    """A Bybit REST kline row ``[start, open, high, low, close, volume, turnover]`` (strings)."""
    start, o, h, low, c, v, t = row[:7]
    return Candle(
        symbol,
        interval,
        from_ms(int(start)),
        Decimal(o),
        Decimal(h),
        Decimal(low),
        Decimal(c),
        Decimal(v),
        Decimal(t),
    )


CSV_COLUMNS = ("start", "open", "high", "low", "close", "volume", "turnover")


def read_csv(path: str | Path, symbol: str, interval: str) -> list[Candle]:
    """Candles from a CSV with Bybit kline columns, oldest first (sorted, duplicates refused).

    ``start`` is the bar's open time in milliseconds. Errors name the file and line, so a
    bad export is fixed without a debugger.
    """
    path = Path(path)
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise UserError(f"cannot read candles {path}: {exc.strerror}") from None
    with handle:
        try:
            return sorted(_parse(csv.DictReader(handle), path, symbol, interval), key=_start)
        except UnicodeDecodeError as exc:
            raise UserError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _start(c: Candle) -> datetime:
    return c.start


def _parse(reader: csv.DictReader[str], path: Path, symbol: str, interval: str) -> Iterator[Candle]:
    missing = [col for col in CSV_COLUMNS if col not in (reader.fieldnames or ())]
    if missing:
        raise UserError(
            f"{path}: missing column(s) {', '.join(missing)} (need {','.join(CSV_COLUMNS)})"
        )
    seen: set[str] = set()
    for line, rec in enumerate(reader, start=2):
        try:
            candle = candle_from_row(symbol, interval, [rec[col].strip() for col in CSV_COLUMNS])
        except (ValueError, InvalidOperation, TypeError, AttributeError, OverflowError):
            raise UserError(f"{path}:{line}: not a kline row: {dict(rec)}") from None
        if rec["start"] in seen:
            raise UserError(f"{path}:{line}: duplicate start {rec['start']}")
        seen.add(rec["start"])
        if (
            not candle.low
            <= min(candle.open, candle.close)
            <= max(candle.open, candle.close)
            <= candle.high
        ):
            raise UserError(f"{path}:{line}: inconsistent OHLC (low ≤ open/close ≤ high violated)")
        yield candle
