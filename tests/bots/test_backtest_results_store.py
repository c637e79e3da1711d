"""Stored backtest runs against the real database: ``alpha backtest … --save``, ``list``,
``show``, ``compare``, and who may touch ``analytics.backtest_*`` (migration 0015)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from harness.services import Database

from bots.backtest import Backtest
from core import plugins
from core.candles import read_csv
from core.config import Role

SAMPLE = Path(__file__).resolve().parents[2] / "bots" / "samples" / "btcusdt_5m.csv"
PAPER = {"BYBIT_ENV": "paper"}

RUN = (
    "INSERT INTO analytics.backtest_runs (bot_type, config, code_version, data_source,"
    " data_from, data_to, symbols, interval, candles, started_at, finished_at,"
    " initial_equity, final_equity, net_pnl, fees, funding, trades, metrics)"
    " VALUES ('lxalgo', '{}', '0.1.0', 'csv:x', now(), now(), '{BTCUSDT}', '5', 1,"
    " now(), now(), 1, 1, 0, 0, 0, 0, '{}') RETURNING id"
)
NOT_READERS = (Role.LISTENER, Role.APP, Role.BOT, Role.SYNC)


def _conn(database: Database, role: Role) -> psycopg.Connection[Any]:
    # The backup connects directly in production; the services through PgBouncer.
    return database.connect(role, direct=role in (Role.OWNER, Role.BACKUP))


def _engine_run(config: dict[str, Any] | None = None) -> Any:
    validated = plugins.validate_config("lxalgo", {"symbols": ["BTCUSDT"], **(config or {})})
    candles = read_csv(SAMPLE, "BTCUSDT", "5")
    return Backtest(plugins.load("lxalgo")(validated)).run(candles)


def _save(database: Database, *extra: str) -> int:
    done = database.alpha("backtest", "lxalgo", "--candles", str(SAMPLE), "--save", *extra)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("saved as run "), last
    return int(last.split()[3])


def test_only_the_owner_writes_and_only_readonly_and_backup_read(database: Database) -> None:
    with _conn(database, Role.OWNER) as conn:
        run_id = conn.execute(RUN).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO analytics.backtest_trades VALUES"
            " (%s, 0, 'BTCUSDT', 'Buy', now(), now(), 1, 2, 1, 'take profit', 1, 0.1, 0, 0.9)",
            (run_id,),
        )
        conn.commit()
    for role in (Role.READONLY, Role.BACKUP):
        with _conn(database, role) as conn:
            assert conn.execute("SELECT count(*) FROM analytics.backtest_runs").fetchone() == (1,)
            assert conn.execute("SELECT count(*) FROM analytics.backtest_trades").fetchone() == (1,)
    for role in (Role.READONLY, Role.BACKUP, *NOT_READERS):
        for statement in (RUN, "UPDATE analytics.backtest_trades SET net_pnl = 0",
                          "DELETE FROM analytics.backtest_runs"):  # fmt: skip
            with (
                _conn(database, role) as conn,
                pytest.raises(psycopg.errors.InsufficientPrivilege),
            ):
                conn.execute(statement)
    for role in NOT_READERS:
        with _conn(database, role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM analytics.backtest_runs")


def test_a_trade_row_must_add_up(database: Database) -> None:
    with _conn(database, Role.OWNER) as conn:
        run_id = conn.execute(RUN).fetchone()[0]  # type: ignore[index]
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO analytics.backtest_trades VALUES (%s, 0, 'BTCUSDT', 'Buy', now(),"
                " now(), 1, 2, 1, 'take profit', 1, 0.1, 0, 1)",  # 1 - 0.1 is not 1
                (run_id,),
            )


def test_a_saved_run_holds_the_engines_numbers_exactly(database: Database) -> None:
    run_id = _save(database)
    expected = _engine_run()
    with _conn(database, Role.READONLY) as conn:
        run = conn.execute(
            "SELECT bot_type, config->'symbols', code_version, data_source, symbols, interval,"
            " candles, initial_equity, final_equity, net_pnl, fees, funding, trades,"
            " metrics->>'funding_modelled', metrics->>'max_drawdown'"
            " FROM analytics.backtest_runs WHERE id = %s",
            (run_id,),
        ).fetchone()
        trades = conn.execute(
            "SELECT symbol, side, entry_time, exit_time, entry_price, exit_price, qty,"
            " gross_pnl, fees, funding, net_pnl FROM analytics.backtest_trades"
            " WHERE run_id = %s ORDER BY seq",
            (run_id,),
        ).fetchall()
    assert run is not None
    assert run[:2] == ("lxalgo", ["BTCUSDT"])
    assert run[2].startswith("0.1.0+g"), run[2]  # the package version and the commit
    assert run[3] == f"csv:{SAMPLE}" and run[4:7] == (["BTCUSDT"], "5", expected.candles)
    assert run[7:11] == (
        expected.initial_equity, expected.final_equity, expected.net_pnl, expected.fees
    )  # fmt: skip
    assert run[11] == 0 and run[12] == len(expected.trades) > 0 and run[13] == "false"
    assert Decimal(run[14]) == expected.max_drawdown
    assert trades == [
        (t.symbol, t.side, t.opened, t.closed, t.entry_price, t.exit_price, t.qty,
         t.pnl + t.fees, t.fees, 0, t.pnl)
        for t in expected.trades
    ]  # fmt: skip


def test_list_show_and_compare(database: Database) -> None:
    empty = database.alpha("backtest", "list")
    assert empty.returncode == 0 and "no stored backtest runs" in empty.stdout
    first = _save(database, "--quiet")
    second = _save(database, "--quiet", "--config", '{"notional_usdt": 100}')
    listed = database.alpha("backtest", "list")
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()
    assert rows[0].split()[:3] == ["id", "finished", "(UTC)"]
    assert [int(r.split()[0]) for r in rows[1:]] == [second, first]  # newest first
    limited = database.alpha("backtest", "list", "--limit", "1")
    assert len(limited.stdout.splitlines()) == 2

    shown = database.alpha("backtest", "show", str(first))
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    expected = _engine_run()
    assert out.startswith(f"run {first}: lxalgo on BTCUSDT (5)")
    assert "funding       0.0000 (not modelled: zero)" in out.splitlines()
    net_line = next(line for line in out.splitlines() if line.startswith("net P&L"))
    assert net_line.split()[-1] == f"{expected.net_pnl:.4f}"
    for label in ("Sharpe", "Sortino", "Calmar", "exposure", "max DD duration", "profit factor"):
        assert any(line.startswith(label) for line in out.splitlines()), label
    trade_rows = [line.split() for line in out.splitlines() if line.split()[1:3] in (
        ["BTCUSDT", "Buy"], ["BTCUSDT", "Sell"])]  # fmt: skip
    assert [row[11] for row in trade_rows] == [f"{t.pnl:.4f}" for t in expected.trades]

    compared = database.alpha("backtest", "compare", str(first), str(second))
    assert compared.returncode == 0, compared.stderr
    lines = compared.stdout.splitlines()
    assert "config notional_usdt: A '200'  B '100'" in lines
    other = _engine_run({"notional_usdt": 100})
    net = next(line for line in lines if line.startswith("net P&L")).split()
    assert net[2:] == [
        f"{expected.net_pnl:.4f}",
        f"{other.net_pnl:.4f}",
        f"{other.net_pnl - expected.net_pnl:.4f}",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("show", "999"), "alpha: error: no stored backtest run 999 (alpha backtest list)"),
        (("compare", "1", "999"), "alpha: error: no stored backtest run 999 (alpha backtest list)"),
        (("show", "x1"), "alpha: error: run id 'x1' is not a positive whole number"),
        (("show",), "alpha: error: usage: alpha backtest show ID (0 run id(s) given)"),
        (("compare", "1"), "alpha: error: usage: alpha backtest compare A B (1 run id(s) given)"),
        (
            ("list", "--candles", str(SAMPLE)),
            "alpha: error: alpha backtest list reads stored runs: drop --candles, --from-store,"
            " --save",
        ),
        (
            ("lxalgo",),
            "alpha: error: say where the candles are: --candles FILE.csv or --from-store SYMBOL",
        ),
    ],
)
def test_bad_requests_are_one_line(database: Database, argv: tuple[str, ...], message: str) -> None:
    if argv[:2] == ("compare", "1"):
        _save(database, "--quiet")
    done = database.alpha("backtest", *argv)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [message]


def _store_sample(database: Database) -> tuple[list[Any], str, str]:
    from market_data import store

    candles = read_csv(SAMPLE, "BTCUSDT", "5")
    # A settlement every 8 hours of the sample, alternating sign, so open trades pay and
    # receive; one past the range, which must be ignored.
    first = candles[0].start
    rates = [(first + timedelta(hours=8 * i), Decimal("0.0001") * (-1) ** i) for i in range(43)]
    with database.connect(Role.OWNER, direct=True) as conn:
        store.upsert_candles(conn, "paper", candles)
        store.upsert_funding(conn, "paper", "BTCUSDT", rates)
        conn.commit()
    start = candles[0].start.strftime("%Y-%m-%dT%H:%M")
    end = candles[-1].end.strftime("%Y-%m-%dT%H:%M")
    return candles, start, end


def test_a_run_from_the_store_names_the_store_and_pays_its_funding(database: Database) -> None:
    candles, start, end = _store_sample(database)
    argv = ("backtest", "lxalgo", "--from-store", "BTCUSDT", "--from", start, "--to", end,
            "--quiet", "--save")  # fmt: skip
    done = database.alpha(*argv, env=PAPER)
    assert done.returncode == 0, done.stderr
    assert "funding       " in done.stdout and "settlement(s) on open positions" in done.stdout
    bare = database.alpha(*argv, "--no-funding", env=PAPER)
    assert bare.returncode == 0, bare.stderr
    assert "funding       not modelled (zero)" in bare.stdout.splitlines()
    with _conn(database, Role.READONLY) as conn:
        runs = conn.execute(
            "SELECT id, data_source, data_from, data_to, candles, net_pnl, funding,"
            " metrics->>'funding_modelled' FROM analytics.backtest_runs ORDER BY id"
        ).fetchall()
        per_trade = conn.execute(
            "SELECT run_id, sum(funding), sum(net_pnl), sum(gross_pnl - fees)"
            " FROM analytics.backtest_trades GROUP BY run_id ORDER BY run_id"
        ).fetchall()
    (with_id, *with_funding), (bare_id, *without) = runs
    assert with_funding[:4] == ["store:paper", candles[0].start, candles[-1].end, len(candles)]
    assert without[:4] == with_funding[:4]
    funding = with_funding[5]
    assert funding != 0 and with_funding[6] == "true"
    assert without[5] == 0 and without[6] == "false"
    # The sample ends flat, so the run's funding is its trades' funding, and the funding
    # is exactly the difference between the two runs' net P&L (same trades otherwise).
    assert per_trade[0] == (with_id, funding, with_funding[4], with_funding[4] - funding)
    assert per_trade[1][1] == 0 and per_trade[1][0] == bare_id
    assert with_funding[4] - without[4] == funding
    shown = database.alpha("backtest", "show", str(with_id))
    assert shown.returncode == 0, shown.stderr
    rows = [line.split() for line in shown.stdout.splitlines() if line.split()[1:2] == ["BTCUSDT"]]
    with _conn(database, Role.READONLY) as conn:
        stored = conn.execute(
            "SELECT funding FROM analytics.backtest_trades WHERE run_id = %s ORDER BY seq",
            (with_id,),
        ).fetchall()
    assert [row[10] for row in rows] == [f"{f:.4f}" for (f,) in stored]
    assert any(f != 0 for (f,) in stored)
