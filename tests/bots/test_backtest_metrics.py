"""The backtest metrics against values worked out by hand (bots/backtest/metrics.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path

from bots.backtest import Backtest, BacktestResult, RoundTrip
from bots.backtest.metrics import compute, exposure, max_drawdown, trade_stats
from core import plugins
from core.candles import read_csv
from core.link_ids import Reason

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
SAMPLES = Path(__file__).resolve().parents[2] / "bots" / "samples"


def _at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _trade(symbol: str, opened: float, closed: float, pnl: str, fee: str = "1") -> RoundTrip:
    return RoundTrip(
        symbol, "Buy", _at(opened), _at(closed), Decimal(100), Decimal(101), Decimal(1),
        Decimal(pnl), Decimal(fee), Reason.TP,
    )  # fmt: skip


# Four hourly bars from 1000: +10 %, -10 %, +10 %, +10 % (each division is exact).
CURVE = [(_at(1), Decimal(1100)), (_at(2), Decimal(990)), (_at(3), Decimal(1089))]
CURVE.append((_at(4), Decimal("1197.9")))
TRADES = [
    _trade("BTCUSDT", 0.5, 1.5, "30"),
    _trade("ETHUSDT", 1, 2, "20"),
    _trade("BTCUSDT", 3, 3.5, "-10"),
    _trade("ETHUSDT", 3.25, 3.75, "-20"),
]


def _result() -> BacktestResult:
    return BacktestResult(
        initial_equity=Decimal(1000),
        final_equity=Decimal("1197.9"),
        fees=Decimal(4),
        max_drawdown=Decimal(110),
        max_drawdown_pct=Decimal(10),
        candles=4,
        trades=TRADES,
        equity_curve=CURVE,
    )


def test_trade_statistics_by_hand() -> None:
    s = trade_stats(TRADES)
    assert (s.trades, s.wins) == (4, 2)
    assert s.net_pnl == Decimal(20)  # 30 + 20 - 10 - 20
    assert s.fees == Decimal(4) and s.gross_pnl == Decimal(24) and s.funding == 0
    assert s.win_rate == Decimal("0.5")
    with localcontext() as ctx:
        ctx.prec = 28
        assert s.profit_factor == Decimal(50) / Decimal(30)  # winners 50 over losers 30
    assert s.expectancy == Decimal(5)  # 20 over 4 trades
    assert trade_stats([]).win_rate is None and trade_stats([]).expectancy is None
    assert trade_stats(TRADES[:2]).profit_factor is None  # no loser: not infinity


def test_drawdown_depth_and_duration_by_hand() -> None:
    dd = max_drawdown(Decimal(1000), T0, CURVE)
    # Peak 1100 at 01:00, trough 990; 1089 at 03:00 is still below, 1197.9 at 04:00 is not.
    assert dd.amount == Decimal(110) and dd.fraction == Decimal("0.1")
    assert dd.duration == 3 * HOUR
    # Never recovered: the drawdown lasts to the last bar.
    open_dd = max_drawdown(Decimal(1000), T0, [(_at(1), Decimal(900)), (_at(5), Decimal(950))])
    assert open_dd.duration == 5 * HOUR and open_dd.amount == Decimal(100)
    # Rising equity has no drawdown at all (a new peak each bar is not a duration).
    rising = max_drawdown(Decimal(1000), T0, [(_at(i), Decimal(1000 + i)) for i in range(1, 9)])
    assert rising.duration == timedelta(0) and rising.amount == 0


def test_exposure_counts_overlapping_positions_once() -> None:
    # 00:30-02:00 (two overlapping trades) and 03:00-03:45 (two more): 2.25 h of 4 h.
    assert exposure(TRADES, T0, _at(4)) == Decimal("0.5625")
    assert exposure([], T0, _at(4)) == 0


def test_all_metrics_of_a_run_by_hand() -> None:
    m = compute(_result(), bar_seconds=3600)
    assert m.net_pnl == Decimal("197.9") and m.gross_pnl == Decimal("201.9")
    assert m.fees == 4 and m.funding == 0 and m.funding_modelled is False
    assert (m.start, m.end) == (T0, _at(4))
    # Returns 0.1, -0.1, 0.1, 0.1: mean 0.05, sample std 0.1, downside dev √(0.01/4) = 0.05.
    with localcontext() as ctx:
        ctx.prec = 28
        root = Decimal(8760).sqrt()  # hourly bars in a year
        assert m.sharpe == Decimal("0.5") * root
        assert m.sortino == Decimal(1) * root
    assert m.exposure == Decimal("0.5625")
    assert set(m.per_symbol) == {"BTCUSDT", "ETHUSDT"}
    assert m.per_symbol["BTCUSDT"].net_pnl == 20 and m.per_symbol["ETHUSDT"].net_pnl == 0
    assert m.per_symbol["ETHUSDT"].win_rate == Decimal("0.5")
    as_json = m.to_json()
    assert as_json["net_pnl"] == "197.9" and as_json["max_drawdown_seconds"] == 3 * 3600
    assert as_json["funding_modelled"] is False


def test_calmar_over_exactly_one_year() -> None:
    half = 365 * 24 * 3600 // 2
    start = T0
    curve = [
        (start + timedelta(seconds=half), Decimal(900)),
        (start + timedelta(seconds=2 * half), Decimal(1200)),
    ]
    result = BacktestResult(
        Decimal(1000), Decimal(1200), Decimal(0), Decimal(100), Decimal(10), 2,
        equity_curve=curve,
    )  # fmt: skip
    # One year, +20 %, worst fall 10 % of its peak: Calmar 2.
    assert compute(result, bar_seconds=half).calmar == Decimal(2)


def test_a_real_run_adds_up() -> None:
    """The engine's curve ends at its final equity, and net = gross - fees."""
    config = plugins.validate_config("lxalgo", {"symbols": ["BTCUSDT"]})
    candles = read_csv(SAMPLES / "btcusdt_5m.csv", "BTCUSDT", "5")
    result = Backtest(plugins.load("lxalgo")(config)).run(candles)
    assert result.trades, "the sample should trade"
    assert len(result.equity_curve) == len(candles)
    assert result.equity_curve[-1] == (candles[-1].end, result.final_equity)
    m = compute(result, bar_seconds=300)
    assert m.net_pnl == m.gross_pnl - m.fees
    assert m.max_drawdown.amount == result.max_drawdown
    assert m.total.net_pnl == sum((t.pnl for t in result.trades), Decimal(0))
    assert m.start == candles[0].start and m.end == candles[-1].end


def test_a_wiped_out_run_has_no_ratios_rather_than_a_crash() -> None:
    curve = [(_at(1), Decimal(500)), (_at(2), Decimal(0)), (_at(3), Decimal(10))]
    result = BacktestResult(
        Decimal(1000), Decimal(10), Decimal(0), Decimal(1000), Decimal(100), 3,
        equity_curve=curve,
    )  # fmt: skip
    m = compute(result, bar_seconds=3600)
    assert m.sharpe is None and m.sortino is None
    assert m.max_drawdown.amount == 1000 and m.max_drawdown.fraction == 1
    # A year compounded from a millionfold in two minutes does not fit in a Decimal.
    tiny = BacktestResult(
        Decimal(1000), Decimal(10**9), Decimal(0), Decimal(1), Decimal("0.1"), 2,
        equity_curve=[(_at(0) + timedelta(minutes=1), Decimal(999)),
                      (_at(0) + timedelta(minutes=2), Decimal(10**9))],
    )  # fmt: skip
    assert compute(tiny, bar_seconds=60).calmar is None


def test_huge_ratios_print_short() -> None:
    from bots.backtest.report import ratio

    assert ratio("4.817930093642553662549713412E+79113") == "4.818e+79113"
    assert ratio("1.23456") == "1.235" and ratio(None) == "n/a"
