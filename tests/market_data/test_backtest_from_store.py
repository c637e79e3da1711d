"""``alpha backtest TYPE --from-store SYMBOL --from --to`` runs the same candles as the
CSV they came from, trade for trade."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from harness.services import Database

from core.candles import read_csv
from core.config import Role
from market_data import store

SAMPLE = Path(__file__).resolve().parents[2] / "bots" / "samples" / "btcusdt_5m.csv"
PAPER = {"BYBIT_ENV": "paper"}


def _load_sample(database: Database) -> tuple[str, str]:
    """The sample's candles into the store as paper history; the range that covers them."""
    candles = read_csv(SAMPLE, "BTCUSDT", "5")
    with database.connect(Role.OWNER, direct=True) as conn:
        written = store.upsert_candles(conn, "paper", candles)
        conn.commit()
    assert written.inserted == len(candles)
    start = candles[0].start.strftime("%Y-%m-%dT%H:%M")
    end = (candles[-1].start + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    return start, end


def test_the_store_backtests_like_the_csv(database: Database) -> None:
    start, end = _load_sample(database)
    from_csv = database.alpha("backtest", "lxalgo", "--candles", str(SAMPLE), env=PAPER)
    from_store = database.alpha(
        "backtest", "lxalgo", "--from-store", "BTCUSDT", "--from", start, "--to", end, env=PAPER
    )
    assert from_csv.returncode == 0, from_csv.stderr
    assert from_store.returncode == 0, from_store.stderr
    assert "trades" in from_store.stdout and from_store.stderr == ""
    assert from_store.stdout == from_csv.stdout


def test_a_hole_in_the_stored_range_is_warned_about(database: Database) -> None:
    start, end = _load_sample(database)
    with database.connect(Role.OWNER, direct=True) as conn:
        conn.execute(
            "DELETE FROM market.candles WHERE open_time IN"
            " (SELECT open_time FROM market.candles ORDER BY open_time OFFSET 100 LIMIT 3)"
        )
        conn.commit()
    result = database.alpha(
        "backtest", "lxalgo", "--from-store", "BTCUSDT", "--from", start, "--to", end,
        "--quiet", env=PAPER,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("alpha: warning: 3 bar(s) missing"), result.stderr


def test_an_empty_store_and_misused_flags_are_one_line(database: Database) -> None:
    empty = database.alpha(
        "backtest", "lxalgo", "--from-store", "ETHUSDT", "--from", "2026-01-01",
        "--to", "2026-02-01", env=PAPER,
    )  # fmt: skip
    assert empty.returncode == 1
    assert empty.stderr.strip().splitlines() == [
        "alpha: error: the store has no paper ETHUSDT 5 candles in 2026-01-01 … 2026-02-01:"
        " alpha data download ETHUSDT --interval 5 --from 2026-01-01 --to 2026-02-01"
    ]
    stray = database.alpha(
        "backtest", "lxalgo", "--candles", str(SAMPLE), "--from", "2026-01-01", env=PAPER
    )
    assert stray.returncode == 1 and len(stray.stderr.strip().splitlines()) == 1
    assert "use --from-store" in stray.stderr
    both = database.alpha(
        "backtest", "lxalgo", "--candles", str(SAMPLE), "--from-store", "BTCUSDT", env=PAPER
    )
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
