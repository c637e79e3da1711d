"""``alpha backtest show ID --chart out.png``: the stored run's mark-to-market equity
curve (migration 0022) drawn with its drawdown."""

from __future__ import annotations

from decimal import Decimal

from harness.services import Database

from bots.backtest.chart import drawdown_pct
from bots.backtest.results import load_equity_curve
from core.config import Role
from tests.bots.test_backtest_results_store import _engine_run, _save


def test_a_saved_run_keeps_its_equity_curve_and_charts_it(database: Database, tmp_path) -> None:
    run_id = _save(database)
    with database.connect(Role.READONLY) as conn:
        stored = load_equity_curve(conn, run_id)
    assert stored == _engine_run().equity_curve, "the engine's curve, exactly"

    out = tmp_path / "run.png"
    done = database.alpha("backtest", "show", str(run_id), "--chart", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"chart written to {out}")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 20_000  # two panels of a 4000-bar curve, not an empty frame


def test_a_run_stored_without_a_curve_and_misplaced_charts_are_one_line(
    database: Database, tmp_path
) -> None:
    old = _save(database)
    with database.connect(Role.OWNER, direct=True) as conn:  # as a run stored before 0022
        conn.execute(
            "UPDATE analytics.backtest_runs SET equity_times = NULL, equity = NULL WHERE id = %s",
            (old,),
        )
        conn.commit()
    out = tmp_path / "x.png"
    for args, words in [
        (("show", str(old)), "stored without its equity curve"),
        (("list",), "--chart draws one stored run"),
        (("lxalgo", "--candles", "x.csv"), "--chart draws a stored run"),
    ]:
        done = database.alpha("backtest", *args, "--chart", str(out))
        assert done.returncode != 0
        assert words in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_drawdown_is_measured_from_the_running_peak() -> None:
    curve = [Decimal(v) for v in (100, 110, 99, 121, 110)]
    assert drawdown_pct(curve, Decimal(100)) == [0, 0, 10, 0, Decimal(11) / 121 * 100]
