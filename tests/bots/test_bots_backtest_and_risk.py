"""Backtest CLI end to end on the samples, and the account risk rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.cli import main
from core.risk_rules import LXAlgoRisk, MomentumRisk

SAMPLES = Path(__file__).resolve().parents[2] / "bots" / "samples"


@pytest.mark.parametrize(
    ("bot_type", "csv", "min_trades"),
    [
        ("shortseller", "btcusdt_5m.csv", 1),
        ("lxalgo", "btcusdt_5m.csv", 1),
        ("orderblock", "btcusdt_15m.csv", 1),
    ],
)
def test_backtest_cli_prints_trades_and_summary(
    bot_type: str, csv: str, min_trades: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", bot_type, "--candles", str(SAMPLES / csv)]) == 0
    out = capsys.readouterr().out
    for word in ("net P&L", "win rate", "max drawdown", "fees"):
        assert word in out
    trades = int(out.split("trades", 1)[1].split()[0])
    assert trades >= min_trades


def test_backtest_cli_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", "nope", "--candles", str(SAMPLES / "btcusdt_5m.csv")]) == 1
    assert "unknown bot type 'nope'" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("start,open\n1,2\n")
    assert main(["backtest", "orderblock", "--candles", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "missing column" in err and err.count("\n") == 1
    assert (
        main(
            [
                "backtest",
                "orderblock",
                "--candles",
                str(SAMPLES / "btcusdt_15m.csv"),
                "--config",
                "{",
            ]
        )
        == 1
    )
    assert "--config is not JSON" in capsys.readouterr().err


T = datetime(2024, 1, 3, 0, 0, tzinfo=UTC)  # a Wednesday


def test_lxalgo_daily_drawdown_closes_all_and_pauses_until_0001() -> None:
    r = LXAlgoRisk()
    assert r.update(T, Decimal(1000)).allow_entries
    d = r.update(T + timedelta(hours=5), Decimal(979))
    assert d.close_all and not d.allow_entries
    assert not r.update(T + timedelta(hours=6), Decimal(990)).close_all  # fires once
    assert not r.update(T + timedelta(days=1), Decimal(990)).allow_entries  # 00:00 still paused
    assert r.update(T + timedelta(days=1, minutes=1), Decimal(990)).allow_entries


def test_lxalgo_weekly_reduce_until_half_recovered_and_halt() -> None:
    r = LXAlgoRisk(daily_pct=Decimal(100))
    r.update(T - timedelta(days=2), Decimal(1000))  # Monday anchor
    d = r.update(T, Decimal(955))
    assert d.allow_entries and d.size_multiplier == Decimal("0.5")
    assert r.update(T, Decimal(970)).size_multiplier == Decimal("0.5")  # 30 of 45 lost
    assert r.update(T, Decimal("977.5")).size_multiplier == 1  # half of 45 recovered
    d = r.update(T + timedelta(hours=1), Decimal(939))
    assert d.close_all and not d.allow_entries
    monday = datetime(2024, 1, 8, 0, 1, tzinfo=UTC)
    assert not r.update(monday - timedelta(minutes=1), Decimal(939)).allow_entries
    assert r.update(monday, Decimal(939)).allow_entries


def test_momentum_daily_weekly_monthly() -> None:
    r = MomentumRisk()
    r.update(datetime(2024, 1, 1, tzinfo=UTC), Decimal(1000))
    d = r.update(datetime(2024, 1, 1, 8, tzinfo=UTC), Decimal(969))
    assert not d.allow_entries and not d.close_all
    assert r.update(datetime(2024, 1, 2, tzinfo=UTC), Decimal(969)).allow_entries  # next day
    d = r.update(datetime(2024, 1, 3, tzinfo=UTC), Decimal(919))
    assert d.size_multiplier == Decimal("0.5")
    d = r.update(datetime(2024, 1, 17, tzinfo=UTC), Decimal(840))
    assert not d.allow_entries  # monthly −16 %: halted for the month
    assert r.update(datetime(2024, 2, 1, tzinfo=UTC), Decimal(840)).allow_entries
