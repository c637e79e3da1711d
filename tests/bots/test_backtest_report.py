"""The compare table's notes (bots/backtest/report.py), on runs built in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from bots.backtest.report import compare_lines
from bots.backtest.results import StoredRun

T = datetime(2026, 1, 1, tzinfo=UTC)
METRICS = {
    "gross_pnl": "11", "trades": {"win_rate": "0.5", "profit_factor": None, "expectancy": "5"},
    "max_drawdown": "3", "max_drawdown_fraction": "0.0003", "max_drawdown_seconds": 3600,
    "sharpe": "1.5", "sortino": None, "calmar": "2", "exposure": "0.25",
    "funding_modelled": False,
}  # fmt: skip
RUN = StoredRun(
    1, "lxalgo", {"pivot": 3, "symbols": ["BTCUSDT"]}, "0.1.0", "csv:x", T, T, ["BTCUSDT"],
    "5", 10, T, T, Decimal(10000), Decimal(10010), Decimal(10), Decimal(1), Decimal(0), 2,
    METRICS,
)  # fmt: skip


def test_compare_names_config_changes_and_subtracts() -> None:
    other = replace(RUN, id=2, config={"pivot": 4, "symbols": ["BTCUSDT"]}, net_pnl=Decimal(-5))
    lines = compare_lines(RUN, other)
    assert "config pivot: A 3  B 4" in lines
    net = next(line for line in lines if line.startswith("net P&L")).split()
    assert net[2:] == ["10.0000", "-5.0000", "-15.0000"]
    sortino = next(line for line in lines if line.startswith("Sortino")).split()
    assert sortino[1:] == ["n/a", "n/a"]  # no difference of unknowns
    assert not any(line.startswith("note:") for line in lines)


def test_compare_warns_when_ratios_are_not_comparable() -> None:
    assert "config: the same" in compare_lines(RUN, replace(RUN, id=2))
    hourly = replace(RUN, id=2, interval="60")
    notes = [line for line in compare_lines(RUN, hourly) if line.startswith("note:")]
    assert notes and notes[0].startswith("note: intervals differ (5 and 60)")
    other_type = compare_lines(RUN, replace(RUN, id=3, bot_type="momentum", config={}))
    assert "config: different bot types (alpha backtest show ID for each)" in other_type
