"""``alpha data download`` and ``alpha data show`` as an operator runs them: against the
paper exchange and a real database, and with bad input (one line, never a traceback)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from harness.services import Database

from bots.runtime.market import server_now
from core.exchange.client import AlphaHTTP
from paper_exchange.testing import RunningExchange, running_exchange


def _env(exchange: RunningExchange) -> dict[str, str]:
    return {"BYBIT_ENV": "paper", "BYBIT_REST_URL": exchange.rest_url}


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_download_then_show_then_rerun(
    database: Database, exchange: RunningExchange, http: AlphaHTTP
) -> None:
    now = server_now(http)
    start = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    end = (now + timedelta(days=1)).strftime("%Y-%m-%d")
    args = ("data", "download", "btcusdt,ETHUSDT", "--interval", "15", "--from", start, "--to", end)

    first = database.alpha(*args, env=_env(exchange))
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("paper BTCUSDT 15: ") and " 0 changed" in lines[0]
    assert lines[1].startswith("paper ETHUSDT 15: ")
    assert "funding" in lines[2] and "funding" in lines[3]

    with database.connect("readonly") as conn:
        stored = conn.execute("SELECT count(*) FROM market.candles").fetchone()[0]
    assert stored >= 14  # two hours of 15-minute bars, the edges closed or not

    again = database.alpha(*args, env=_env(exchange))
    assert again.returncode == 0, again.stderr
    for line in again.stdout.splitlines()[:2]:
        assert " 0 missing, 0 fetched in 0 page(s): 0 new, 0 changed" in line

    shown = database.alpha("data", "show")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].startswith(f"paper BTCUSDT 15: {stored // 2} candles ")
    assert "no holes" in shown.stdout


def test_show_on_an_empty_store(database: Database) -> None:
    shown = database.alpha("data", "show", "--symbol", "BTCUSDT")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "the store holds no market data for BTCUSDT"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["BTC-USDT", "--interval", "5", "--from", "2026-01-01", "--to", "2026-01-02"],
         "'BTC-USDT' is not a symbol"),
        (["BTCUSDT,", "--interval", "5", "--from", "2026-01-01", "--to", "2026-01-02"],
         "'' is not a symbol"),
        (["BTCUSDT", "--interval", "7", "--from", "2026-01-01", "--to", "2026-01-02"],
         "--interval '7' is not one of"),
        (["BTCUSDT", "--interval", "M", "--from", "2026-01-01", "--to", "2026-01-02"],
         "--interval 'M' is not one of"),
        (["BTCUSDT", "--interval", "5", "--from", "yesterday", "--to", "2026-01-02"],
         "--from 'yesterday' is not a date"),
        (["BTCUSDT", "--interval", "5", "--from", "2026-01-02", "--to", "2026-01-01"],
         "--from 2026-01-02 is not before --to 2026-01-01"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(database: Database, args: list[str], expected: str) -> None:
    result = database.alpha("data", "download", *args)
    assert result.returncode != 0
    line = _one_error_line(result.stderr)
    assert line.startswith("alpha: error: ") and expected in line, line


def test_an_unknown_symbol_is_the_exchange_s_one_line(
    database: Database, exchange: RunningExchange
) -> None:
    result = database.alpha(
        "data", "download", "NOPEUSDT", "--interval", "60", "--from", "2020-01-01",
        "--to", "2030-01-01", env=_env(exchange),
    )  # fmt: skip
    assert result.returncode != 0
    line = _one_error_line(result.stderr)
    assert "the exchange refused the request" in line and "NOPEUSDT" in line, line


def test_an_unreachable_exchange_is_one_line(database: Database) -> None:
    result = database.alpha(
        "data", "download", "BTCUSDT", "--interval", "60", "--from", "2026-01-01",
        "--to", "2026-01-02", env={"BYBIT_ENV": "paper", "BYBIT_REST_URL": "http://127.0.0.1:9"},
    )  # fmt: skip
    assert result.returncode != 0
    line = _one_error_line(result.stderr)
    assert "cannot reach the exchange at http://127.0.0.1:9" in line, line


def test_help_explains_the_range(database: Database) -> None:
    result = database.alpha("data", "download", "--help")
    assert result.returncode == 0
    assert "comma-separated" in result.stdout and "excluded" in result.stdout


def test_a_bar_off_the_grid_is_refused_in_one_line(database: Database) -> None:
    # The paper exchange opens weekly bars on the epoch's Thursday; Bybit's open on
    # Mondays (docs/bybit.md#where-the-documentation-is-silent). Storing them would make
    # every rerun fetch them again and report their range as a gap.
    with running_exchange(seed=5, history_minutes=22 * 1440) as ex:
        now = server_now(AlphaHTTP(base_url=ex.rest_url))
        result = database.alpha(
            "data", "download", "BTCUSDT", "--interval", "W",
            "--from", f"{now - timedelta(days=21):%Y-%m-%d}", "--to", f"{now:%Y-%m-%d}",
            env=_env(ex),
        )  # fmt: skip
    assert result.returncode != 0
    line = _one_error_line(result.stderr)
    assert "BTCUSDT W: the exchange opened a bar at " in line and "off the grid" in line, line
    with database.connect("readonly") as conn:
        assert conn.execute("SELECT count(*) FROM market.candles").fetchone() == (0,)


def test_show_lists_series_shortest_bars_first_with_their_holes(database: Database) -> None:
    # A server whose TimeZone is not UTC: psycopg hands back its local times, and what
    # `show` prints must still be UTC.
    with database.connect("admin", True, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE \"{database.name}\" SET timezone = 'Asia/Tokyo'")
    with database.connect("owner", direct=True) as conn:
        for interval, step in (("D", "1 day"), ("60", "1 hour"), ("5", "5 minutes")):
            conn.execute(
                "INSERT INTO market.candles SELECT 'bybit', 'BTCUSDT', %s, t, 1, 1, 1, 1, 0, 0"
                " FROM generate_series(timestamptz '2026-01-01 00:00+00',"
                " timestamptz '2026-01-01 00:00+00' + 9 * %s::interval, %s::interval) AS t",
                (interval, step, step),
            )
        # Two holes in the 5-minute series: one bar, then three.
        conn.execute(
            "DELETE FROM market.candles WHERE interval = '5' AND open_time IN"
            " ('2026-01-01 00:10+00', '2026-01-01 00:25+00', '2026-01-01 00:30+00',"
            "  '2026-01-01 00:35+00')"
        )
        conn.commit()
    shown = database.alpha("data", "show", "--gaps")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "bybit BTCUSDT 5: 6 candles 2026-01-01 00:00 … 2026-01-01 00:45 UTC,"
        " 4 bar(s) missing in 2 hole(s)",
        "  hole 2026-01-01 00:10 (1 bars)",
        "  hole 2026-01-01 00:25 … 2026-01-01 00:35 (3 bars)",
        "bybit BTCUSDT 60: 10 candles 2026-01-01 00:00 … 2026-01-01 09:00 UTC, no holes",
        "bybit BTCUSDT D: 10 candles 2026-01-01 00:00 … 2026-01-10 00:00 UTC, no holes",
    ]


def test_gaps_are_reported_and_strict_makes_them_fail(
    database: Database, exchange: RunningExchange, http: AlphaHTTP
) -> None:
    now = server_now(http)
    args = (
        "data", "download", "XRPUSDT", "--interval", "60", "--no-funding",
        "--from", f"{now - timedelta(hours=12):%Y-%m-%dT%H:%M}", "--to", f"{now:%Y-%m-%dT%H:%M}",
    )  # fmt: skip
    lenient = database.alpha(*args, env=_env(exchange))
    assert lenient.returncode == 0, lenient.stderr
    lines = lenient.stdout.splitlines()
    assert len(lines) == 2 and "funding" not in lenient.stdout  # --no-funding
    assert lines[1].startswith("  gaps: the exchange has no candle for ")
    assert " bar(s) in 1 run(s): " in lines[1]
    strict = database.alpha(*args, "--strict", env=_env(exchange))
    assert strict.returncode == 3, strict.stderr
    assert " 0 new, 0 changed" in strict.stdout and "  gaps: " in strict.stdout
