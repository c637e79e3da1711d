"""Replay of Bybit kline CSVs: ``start,open,high,low,close,volume,turnover``.

An optional ``symbol`` column allows several symbols in one file; otherwise the symbol
is the file name's first ``_``/``-``/``.``-separated part (``BTCUSDT_1.csv``).
"""

from __future__ import annotations

import csv
import itertools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from core.errors import UserError

COLUMNS = ("start", "open", "high", "low", "close", "volume", "turnover")


@dataclass(frozen=True, slots=True)
class CsvCandle:
    start: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def load_csv(path: Path) -> dict[str, list[CsvCandle]]:
    """Candles per symbol, oldest first; raises UserError naming the bad line."""
    if not path.is_file():
        raise UserError(f"market file not found: {path}")
    default_symbol = re.split(r"[_.\-]", path.name)[0].upper()
    out: dict[str, list[CsvCandle]] = {}
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header: list[str] | None = None
        for lineno, row in enumerate(reader, 1):
            if not row or row[0].startswith("#"):
                continue
            if header is None and not row[0].strip().lstrip("-").isdigit():
                header = [c.strip().lower() for c in row]
                missing = [c for c in COLUMNS[:6] if c not in header]
                if missing:
                    raise UserError(f"{path}:{lineno}: missing columns {', '.join(missing)}")
                continue
            cols = header or list(COLUMNS)
            rec = dict(zip(cols, (c.strip() for c in row), strict=False))
            try:
                candle = CsvCandle(
                    start=int(rec["start"]),
                    open=Decimal(rec["open"]),
                    high=Decimal(rec["high"]),
                    low=Decimal(rec["low"]),
                    close=Decimal(rec["close"]),
                    volume=Decimal(rec.get("volume") or "0"),
                )
            except (KeyError, ValueError, InvalidOperation) as exc:
                raise UserError(f"{path}:{lineno}: bad kline row ({exc})") from None
            symbol = (rec.get("symbol") or default_symbol).upper()
            if not re.fullmatch(r"[A-Z0-9]{2,30}", symbol):
                raise UserError(f"{path}:{lineno}: bad symbol {symbol!r}")
            out.setdefault(symbol, []).append(candle)
    if not out:
        raise UserError(f"{path}: no candles")
    for symbol, rows in out.items():
        rows.sort(key=lambda c: c.start)
        if len(rows) < 2:
            raise UserError(f"{path}: {symbol} needs at least two candles")
    return out


def base_interval_ms(rows: list[CsvCandle]) -> int:
    steps = [b.start - a.start for a, b in itertools.pairwise(rows) if b.start > a.start]
    if not steps:
        raise UserError("market file: candle start times do not increase")
    return min(steps)
