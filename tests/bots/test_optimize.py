"""``alpha optimize`` against the real database: a search over stored candles finds the
optimum planted in a synthetic market, walk-forward reports both windows exactly, every
trial is stored (migration 0016), and bad input is one line."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from harness.services import Database

from core.candles import Candle
from core.config import Role
from market_data import store

PLUGIN_DIR = Path(__file__).resolve().parent / "planted"
START = datetime(2026, 1, 1, tzinfo=UTC)
CYCLES = 40
#: The best round trip: one unit bought at bar 1's open (101), sold at the top (109),
#: taker fees both ways.
BEST_TRADE = Decimal(8) - (Decimal(101) + Decimal(109)) * Decimal("0.00055")


def _price(k: int) -> Decimal:
    """The open of bar ``k`` of a 24-bar cycle: up 1 a bar to 109 at bar 9, then down 2 a
    bar. Bought at bar 1's open (the order of bar 0's close), sold at bar h+1's open, so
    holding 8 bars sells at the top and every other hold sells lower."""
    return Decimal(100 + k) if k <= 9 else Decimal(109 - 2 * (k - 9))


def _market(symbol: str = "BTCUSDT") -> list[Candle]:
    candles = []
    for i in range(24 * CYCLES):
        k = i % 24
        opened, closed = _price(k), _price(k + 1) if k < 23 else _price(23) - 2
        candles.append(
            Candle(symbol, "60", START + timedelta(hours=i), opened, max(opened, closed),
                   min(opened, closed), closed, Decimal(1), opened)
        )  # fmt: skip
    return candles


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(PLUGIN_DIR), os.environ.get("PYTHONPATH")]))
    return {"BYBIT_ENV": "paper", "PYTHONPATH": path}


def _store(database: Database, *symbols: str) -> None:
    with database.connect(Role.OWNER, direct=True) as conn:
        for symbol in symbols:
            store.upsert_candles(conn, "paper", _market(symbol))
        conn.commit()


RANGE = (
    "--from",
    "2026-01-01",
    "--to",
    (START + timedelta(hours=24 * CYCLES)).strftime("%Y-%m-%dT%H:%M"),
)


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_the_search_finds_the_planted_optimum(database: Database, sampler: str) -> None:
    _store(database, "BTCUSDT")
    result = database.alpha(
        "optimize", "planted", "--space", "hold_bars", "--trials", "30", "--objective",
        "net_pnl", "--sampler", sampler, "--seed", "7", "--jobs", "2", "--from-store",
        "BTCUSDT", *RANGE, env=_env(), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "best hold_bars=8" in result.stdout, result.stdout
    assert "alpha bots update BOT_ID --config '{\"hold_bars\": 8}'" in result.stdout
    assert "trial 30/30" in result.stderr  # progress
    with database.connect(Role.READONLY) as conn:
        run_id, sampler_stored = conn.execute(
            "SELECT id, sampler FROM analytics.optimisation_runs"
        ).fetchone()  # type: ignore[misc]
        trials = conn.execute(
            "SELECT params, value FROM analytics.optimisation_trials WHERE run_id = %s",
            (run_id,),
        ).fetchall()
    assert sampler_stored == sampler and len(trials) == 30
    best = max(trials, key=lambda row: row[1])
    assert best[0] == {"hold_bars": 8}
    assert best[1] == CYCLES * BEST_TRADE  # exact: NUMERIC from the engine's Decimal


def test_walk_forward_reports_both_windows_exactly(database: Database) -> None:
    _store(database, "BTCUSDT")
    result = database.alpha(
        "optimize", "planted", "--space", "hold_bars=1:20", "--trials", "30", "--seed", "3",
        "--jobs", "2", "--walk-forward", "1", "--from-store", "BTCUSDT", *RANGE,
        env=_env(), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    half = CYCLES // 2 * BEST_TRADE  # each window holds 20 whole cycles
    assert f"in-sample     net_pnl {half:.6g}" in result.stdout, result.stdout
    assert f"out-of-sample net_pnl {half:.6g}" in result.stdout
    with database.connect(Role.READONLY) as conn:
        row = conn.execute(
            "SELECT best_params, in_sample, out_of_sample, train_to <= test_from"
            " FROM analytics.optimisation_folds"
        ).fetchone()
    assert row == ({"hold_bars": 8}, half, half, True)


def test_a_portfolio_searches_all_its_symbols(database: Database) -> None:
    _store(database, "BTCUSDT", "ETHUSDT")
    result = database.alpha(
        "optimize", "planted", "--space", "hold_bars", "--trials", "25", "--seed", "7",
        "--jobs", "1", "--from-store", "BTCUSDT,ETHUSDT", *RANGE, env=_env(), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "best hold_bars=8" in result.stdout
    assert "--symbols BTCUSDT,ETHUSDT" in result.stdout
    with database.connect(Role.READONLY) as conn:
        value, metrics = conn.execute(
            "SELECT value, metrics FROM analytics.optimisation_trials"
            " WHERE params = '{\"hold_bars\": 8}' LIMIT 1"
        ).fetchone()  # type: ignore[misc]
    assert value == 2 * CYCLES * BEST_TRADE  # one equity, both symbols' trades
    assert set(metrics["per_symbol"]) == {"BTCUSDT", "ETHUSDT"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--space", "nope"], "--space: PlantedConfig has no field 'nope'"),
        (["--space", "hold_bars=x:3"], "'x' is not a number"),
        (["--space", "hold_bars=1.5:3"], "hold_bars is a whole number field"),
        (["--space", "qty"], "qty has no upper bound in the config"),
        (["--space", "symbols"], "symbols is not a number field"),
        (["--space", "hold_bars", "--objective", "luck"], "--objective 'luck' is not one of"),
        (["--space", "hold_bars", "--sampler", "grid"], "--sampler 'grid' is not one of"),
    ],
)
def test_bad_input_is_one_line(database: Database, args: list[str], message: str) -> None:
    result = database.alpha(
        "optimize", "planted", *args, "--from-store", "BTCUSDT", *RANGE, env=_env()
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_a_trial_whose_strategy_raises_is_stored_as_failed(database: Database) -> None:
    _store(database, "BTCUSDT")
    result = database.alpha(
        "optimize", "planted", "--space", "hold_bars=7:13", "--config", '{"fragile": true}',
        "--trials", "20", "--seed", "5", "--jobs", "2", "--from-store", "BTCUSDT", *RANGE,
        env=_env(), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "best hold_bars=8" in result.stdout
    assert "RuntimeError: unlucky 13" in result.stderr  # the progress line says why
    with database.connect(Role.READONLY) as conn:
        failed = conn.execute(
            "SELECT DISTINCT params, value, error FROM analytics.optimisation_trials"
            " WHERE error IS NOT NULL"
        ).fetchall()
    assert failed == [({"hold_bars": 13}, None, "RuntimeError: unlucky 13")]


def test_every_trial_runs_under_the_hosts_risk_limits(database: Database) -> None:
    """``--config '{"risk": …}'`` is the registration's risk object: every trial runs under
    the host's rules as ``alpha backtest`` does (here the drawdown limit, 0.05 % of the
    mark-to-market peak: a hold that gives back more than that is halted after its first
    trade, by hand below), and the limits are stored and printed in the register line."""
    _store(database, "BTCUSDT")
    risk = '{"risk": {"max_drawdown_pct": "0.05"}}'
    result = database.alpha(
        "optimize", "planted", "--space", "hold_bars=8:12", "--config", risk, "--trials",
        "15", "--seed", "7", "--jobs", "2", "--from-store", "BTCUSDT", *RANGE,
        env=_env(), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "best hold_bars=8" in result.stdout, result.stdout
    assert '"risk": {"max_drawdown_pct": "0.05"}, "hold_bars": 8}' in result.stdout
    fee = Decimal("0.00055")
    # Bought at 101; sold at bar h+1's open; the peak is the close at 109 (bar 8) less the
    # entry fee, and the bar before the sale closes at the sale's price.
    expected = {
        8: CYCLES * BEST_TRADE,
        9: CYCLES * (Decimal(6) - (101 + 107) * fee),  # 2 from the peak: 0.02 %, no halt
        10: CYCLES * (Decimal(4) - (101 + 105) * fee),  # 4: 0.04 %, no halt
        11: Decimal(2) - (101 + 103) * fee,  # 6: 0.06 %, halted after the first trade
        12: Decimal(0) - (101 + 101) * fee,
    }
    with database.connect(Role.READONLY) as conn:
        trials = conn.execute("SELECT params, value FROM analytics.optimisation_trials").fetchall()
        base = conn.execute("SELECT base_config FROM analytics.optimisation_runs").fetchone()
    assert trials and {params["hold_bars"] for params, _ in trials} >= {8, 11}
    for params, value in trials:
        assert value == expected[params["hold_bars"]], params
    assert base is not None and base[0]["risk"] == {"max_drawdown_pct": "0.05"}

    bad = database.alpha(
        "optimize", "planted", "--space", "hold_bars", "--config",
        '{"risk": {"max_drawdown_pct": 200}}', "--from-store", "BTCUSDT", *RANGE, env=_env(),
    )  # fmt: skip
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "--config risk: max_drawdown_pct" in lines[0], lines


def test_only_owner_writes_and_readers_read(database: Database) -> None:
    for role in (Role.LISTENER, Role.APP, Role.BOT, Role.SYNC):
        with database.connect(role) as conn, pytest.raises(Exception, match="permission denied"):
            conn.execute("SELECT 1 FROM analytics.optimisation_trials")
    with database.connect(Role.READONLY) as conn:
        assert conn.execute("SELECT count(*) FROM analytics.optimisation_runs").fetchone() == (0,)
        with pytest.raises(Exception, match="permission denied"):
            conn.execute("DELETE FROM analytics.optimisation_trials")


def test_a_portfolio_backtest_from_the_store_shares_one_equity(database: Database) -> None:
    """``alpha backtest --from-store A,B``: both symbols' trades, one equity, stored as one
    run with both symbols."""
    _store(database, "BTCUSDT", "ETHUSDT")
    config = ("--config", '{"hold_bars": 8}')
    one = database.alpha(
        "backtest", "planted", *config, "--from-store", "BTCUSDT", *RANGE, "--quiet",
        env=_env(),
    )  # fmt: skip
    both = database.alpha(
        "backtest", "planted", *config, "--from-store", "BTCUSDT,ETHUSDT", *RANGE, "--save",
        env=_env(),
    )  # fmt: skip
    assert one.returncode == 0 and both.returncode == 0, one.stderr + both.stderr
    assert f"net P&L       {CYCLES * BEST_TRADE:.4f}" in one.stdout
    assert f"net P&L       {2 * CYCLES * BEST_TRADE:.4f}" in both.stdout, both.stdout
    assert "planted on BTCUSDT,ETHUSDT" in both.stdout
    assert f"trades        {2 * CYCLES}" in both.stdout
    with database.connect(Role.READONLY) as conn:
        row = conn.execute(
            "SELECT symbols, net_pnl, trades,"
            " (SELECT count(DISTINCT symbol) FROM analytics.backtest_trades)"
            " FROM analytics.backtest_runs"
        ).fetchone()
    assert row == (["BTCUSDT", "ETHUSDT"], 2 * CYCLES * BEST_TRADE, 2 * CYCLES, 2)


def test_ranges_come_from_the_field_bounds() -> None:
    """``ge``/``le`` are the range; an exclusive ``gt``/``lt`` moves in by one step."""
    from bots.momentum.config import MomentumConfig
    from bots.optimize.space import Param, parse

    assert parse("stop_pct, bb_period=10:40", MomentumConfig) == [
        Param("stop_pct", False, Decimal("0.000001"), Decimal("99.999999")),
        Param("bb_period", True, Decimal(10), Decimal(40)),
    ]
