"""Dates on the command line, the bar grid of an interval, and runs of missing bars.

Every range here is half-open in time, ``[start, end)``: a candle belongs to it when its
open time does. Bars are aligned to the Unix epoch, as Bybit's are, except weekly bars,
which Bybit opens on Mondays 00:00 UTC (the epoch was a Thursday).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.candles import INTERVAL_SECONDS
from core.errors import UserError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Bybit's weekly bars open on Monday; 1970-01-05 was the first Monday after the epoch.
_WEEK_ORIGIN = datetime(1970, 1, 5, tzinfo=UTC)


def parse_date(text: str, flag: str) -> datetime:
    """``2024-01-31`` or ``2024-01-31T12:00`` (UTC unless an offset is given)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(
            f"{flag} {text!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def check_interval(interval: str) -> timedelta:
    """The bar length of a Bybit interval this store keeps (monthly bars have none)."""
    if interval not in INTERVAL_SECONDS:
        known = ", ".join(INTERVAL_SECONDS)
        raise UserError(f"--interval {interval!r} is not one of {known}")
    return timedelta(seconds=INTERVAL_SECONDS[interval])


def _origin(interval: str) -> datetime:
    return _WEEK_ORIGIN if interval == "W" else _EPOCH


def floor_bar(moment: datetime, interval: str) -> datetime:
    """The open time of the bar ``moment`` falls in."""
    step = check_interval(interval)
    origin = _origin(interval)
    return origin + ((moment - origin) // step) * step


def ceil_bar(moment: datetime, interval: str) -> datetime:
    """The first bar that opens at or after ``moment``."""
    floor = floor_bar(moment, interval)
    return floor if floor == moment else floor + check_interval(interval)


@dataclass(frozen=True, slots=True)
class Span:
    """Bars ``first`` … ``last`` (open times, both included) of one interval."""

    first: datetime
    last: datetime
    bars: int

    def __str__(self) -> str:
        if self.first == self.last:
            return f"{self.first:%Y-%m-%d %H:%M}"
        return f"{self.first:%Y-%m-%d %H:%M} … {self.last:%Y-%m-%d %H:%M}"


def runs(opens: Iterable[datetime], step: timedelta) -> Iterator[Span]:
    """Contiguous runs of bar open times (given oldest first, without duplicates)."""
    first: datetime | None = None
    last: datetime | None = None
    count = 0
    for t in opens:
        if last is not None and t - last == step:
            last, count = t, count + 1
            continue
        if first is not None and last is not None:
            yield Span(first, last, count)
        first, last, count = t, t, 1
    if first is not None and last is not None:
        yield Span(first, last, count)


def bar_opens(start: datetime, end: datetime, interval: str) -> Iterator[datetime]:
    """Open times of the bars in ``[start, end)``, on the interval's grid."""
    step = check_interval(interval)
    t = ceil_bar(start, interval)
    while t < end:
        yield t
        t += step
