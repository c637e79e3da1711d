"""Closed candles for a live bot: history to warm up (the market data store when it
holds the range, else REST), public WebSocket after that.

Bybit's REST klines are newest first and the first row may be the candle still
forming; the WebSocket pushes a candle many times and sets ``confirm`` on its last
update. A strategy must only ever see closed candles, once each, in order — this
module is where that is made true (docs/strategies.md#rules-every-strategy-follows).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.candles import INTERVAL_SECONDS, Candle, candle_from_row, from_ms, interval_delta

log = logging.getLogger(__name__)

#: Bybit serves at most this many klines per request.
PAGE = 1000


def server_now(http: Any) -> datetime:
    """The exchange's clock (the paper exchange's may be simulated), as aware UTC."""
    ms = int(http.get_server_time()["time"])
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def closed_history(
    http: Any,
    symbol: str,
    interval: str,
    bars: int,
    now: datetime,
    *,
    since: datetime | None = None,
) -> list[Candle]:
    """The last ``bars`` closed candles (or every one after ``since``), oldest first."""
    step = interval_delta(interval)
    out: dict[datetime, Candle] = {}
    end_ms: int | None = None
    while len(out) < bars:
        params: dict[str, Any] = {"category": "linear", "symbol": symbol,
                                  "interval": interval, "limit": PAGE}  # fmt: skip
        if end_ms is not None:
            params["end"] = end_ms
        rows = http.get_kline(**params)["result"]["list"]
        fresh = 0
        for row in rows:
            candle = candle_from_row(symbol, interval, row)
            if candle.start + step > now:
                continue  # still forming
            if since is not None and candle.start <= since:
                continue
            if candle.start not in out:
                out[candle.start] = candle
                fresh += 1
        if not rows or fresh == 0:
            break
        oldest = min(int(row[0]) for row in rows)
        if since is not None and datetime.fromtimestamp(oldest / 1000, tz=UTC) <= since:
            break
        end_ms = oldest - 1
    return sorted(out.values(), key=lambda c: c.start)[-bars:]


def stored_history(
    conn: Any, exchange: str, symbol: str, interval: str, bars: int, now: datetime
) -> list[Candle] | None:
    """The last ``bars`` closed candles from ``market.candles``, oldest first, or ``None``
    when the store does not hold every one of them (the caller then asks REST).

    The range is the ``bars`` bars before the one forming at ``now`` on the exchange's
    bar grid, so a store that stops short of the newest closed bar, or has a hole, is
    not used: a strategy warmed up on a partial history would decide on other
    indicators than one warmed up from the exchange. ``conn`` is a psycopg connection
    (the bot role reads ``market.*``; no SQLAlchemy in a bot)."""
    if interval not in INTERVAL_SECONDS:
        return None  # monthly bars are not stored
    from market_data.spans import floor_bar
    from market_data.store import read_candles

    end = floor_bar(now, interval)  # the forming bar's open: excluded
    start = end - interval_delta(interval) * bars
    candles = read_candles(conn, exchange, symbol, interval, start, end)
    if len(candles) != bars:
        log.info(
            "%s %s: the store holds %d of the %d bars to warm up on; asking the exchange",
            symbol, interval, len(candles), bars,
        )  # fmt: skip
        return None
    return candles


def closed_candle(message: Mapping[str, Any]) -> Iterator[Candle]:
    """The closed candles in one public ``kline.{interval}.{symbol}`` message."""
    topic = str(message.get("topic", ""))
    parts = topic.split(".")
    if len(parts) != 3 or parts[0] != "kline":
        return
    _, interval, symbol = parts
    for item in message.get("data") or []:
        if item.get("confirm") is not True:
            continue
        yield Candle(
            symbol=symbol,
            interval=interval,
            start=from_ms(int(item["start"])),
            open=Decimal(item["open"]),
            high=Decimal(item["high"]),
            low=Decimal(item["low"]),
            close=Decimal(item["close"]),
            volume=Decimal(item["volume"]),
            turnover=Decimal(item.get("turnover") or "0"),
        )


class CandleSequencer:
    """Passes each symbol's closed candles on once, in order, and reports gaps to fill."""

    def __init__(self, interval: str) -> None:
        self._step: timedelta = interval_delta(interval)
        self.last: dict[str, datetime] = {}

    def seen(self, candle: Candle) -> bool:
        last = self.last.get(candle.symbol)
        return last is not None and candle.start <= last

    def gap_after(self, candle: Candle) -> datetime | None:
        """When candles are missing before ``candle``: the last start we have."""
        last = self.last.get(candle.symbol)
        if last is not None and candle.start - last > self._step:
            return last
        return None

    def accept(self, candle: Candle) -> None:
        self.last[candle.symbol] = candle.start
