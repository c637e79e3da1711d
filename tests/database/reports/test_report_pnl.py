"""``alpha report pnl`` prints the daily table and writes a real PNG and CSV."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ledger import Fill, add_bot, insert_fills, insert_funding

from database.reports import charts

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 6, day, hour, tzinfo=UTC)


@pytest.fixture
def ledger(database: Any) -> Any:
    add_bot(database, "bot_r")
    add_bot(database, "bot_s")
    fills = [
        ("r1", "bot_r", "BTCUSDT", "Buy", "100", "2", "0.1", at(1, 9)),
        ("r2", "bot_r", "BTCUSDT", "Sell", "105", "2", "0.1", at(1, 10)),
        ("r3", "bot_r", "BTCUSDT", "Sell", "105", "1", "0.05", at(2, 9)),
        ("r4", "bot_r", "BTCUSDT", "Buy", "107.5", "1", "0.05", at(3, 9)),
        ("s1", "bot_s", "ETHUSDT", "Buy", "10", "1", "0", at(2, 9)),
    ]
    insert_fills(database, [
        Fill(i, b, s, side, Decimal(p), Decimal(q), Decimal(fee), t)
        for i, b, s, side, p, q, fee, t in fills
    ])  # fmt: skip
    insert_funding(database, [("fr1", "bot_r", "BTCUSDT", Decimal("0.3"), at(2, 16))])
    return database


def test_report_prints_and_writes_png_and_csv(ledger: Any, tmp_path: Path) -> None:
    png, out_csv = tmp_path / "pnl.png", tmp_path / "pnl.csv"
    done = ledger.alpha("report", "pnl", "--bot", "bot_r", "--png", str(png), "--csv", str(out_csv))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].split() == [
        "day",
        "realized_pnl",
        "fees",
        "funding",
        "net_pnl",
        "volume",
        "fills",
    ]
    # Day 1: long 2 @100 -> 105: gross 10, fees .2; day 2: short opened, fee .05, funding .3;
    # day 3: short closed at a loss of 2.5, fee .05.
    assert lines[2].split() == ["2026-06-01", "9.8", "0.2", "0", "9.8", "410", "2"]
    assert lines[3].split() == ["2026-06-02", "-0.05", "0.05", "0.3", "-0.35", "105", "1"]
    assert lines[4].split() == ["2026-06-03", "-2.55", "0.05", "0", "-2.55", "107.5", "1"]
    assert lines[5].split() == ["total", "7.20", "0.30", "0.3", "6.90", "622.5", "4"]
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 5000
    with out_csv.open() as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "day" and rows[1] == ["2026-06-01", "9.8", "0.2", "0", "9.8", "410", "2"]
    assert len(rows) == 4


def test_report_date_range_all_bots_and_errors(ledger: Any) -> None:
    done = ledger.alpha("report", "pnl", "--from", "2026-06-02", "--to", "2026-06-02")
    assert done.returncode == 0, done.stderr
    day = [line.split() for line in done.stdout.splitlines() if line.startswith("2026-")]
    assert day == [["2026-06-02", "-0.05", "0.05", "0.3", "-0.35", "115", "2"]]
    unknown = ledger.alpha("report", "pnl", "--bot", "nobody_here")
    assert unknown.returncode == 1 and "unknown bot" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    bad = ledger.alpha("report", "pnl", "--from", "June")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr


def test_chart_returns_png_bytes_and_writes_the_file(tmp_path: Path) -> None:
    series = [(date(2026, 6, d), Decimal(v)) for d, v in ((1, "5"), (2, "-2.5"), (3, "1.25"))]
    target = tmp_path / "c.png"
    data = charts.pnl_chart_png(series, "test", target)
    assert data.startswith(PNG_MAGIC) and target.read_bytes() == data
    assert charts.pnl_chart_png([], "empty").startswith(PNG_MAGIC)
