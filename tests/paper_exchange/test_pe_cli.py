"""``alpha run paper-exchange``: argument errors, and a real subprocess pybit can trade on."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pe_helpers import make_http

from core.errors import UserError
from paper_exchange.accounts import parse_account
from paper_exchange.testing import running_exchange, spawn_exchange


def test_parse_account() -> None:
    assert parse_account("main:k1:s1") == ("main", "k1", "s1", Decimal(100_000))
    assert parse_account("bot_a:k:s:2500.5")[3] == Decimal("2500.5")
    for bad in ("main", "Main:k:s", "main:k", "main:k:s:lots", "main:k:s:-1", "a:b:c:d:e"):
        with pytest.raises(UserError):
            parse_account(bad)


def test_bad_account_is_one_line_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "core.cli", "run", "paper-exchange", "--account", "oops"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("alpha: error: bad --account") and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "paper_exchange", "--scenario", "moon"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1 and "unknown --scenario" in proc.stderr
    for args, error in (
        (["--liquidity", "ocean"], "unknown --liquidity"),
        (["--depth", "BTCUSDT=lots"], "--depth wants SYMBOL=USDT"),
        (["--depth", "BTCUSDT=0"], "--depth wants SYMBOL=USDT"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "paper_exchange", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 1 and error in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_subprocess_exchange_serves_pybit() -> None:
    ex = spawn_exchange(
        [
            "--account",
            "main:pk:ps:1000",
            "--speed",
            "manual",
            "--history-minutes",
            "60",
            "--scenario",
            "pump",
            "--seed",
            "3",
        ]
    )
    try:
        state = ex.control.state()
        assert state["accounts"] == ["main"] and state["speed"] is None

        from types import SimpleNamespace

        target = SimpleNamespace(rest_url=ex.rest_url, accounts={"main": ("pk", "ps")})
        http = make_http(target)  # type: ignore[arg-type]
        wallet = http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
        assert wallet["totalWalletBalance"] == "1000"
    finally:
        ex.stop()


def test_csv_replay_and_scenarios(tmp_path: Path) -> None:
    csv = tmp_path / "PEPEUSDT_5.csv"
    start = 1_700_000_100_000 - 1_700_000_100_000 % 300_000
    lines = ["start,open,high,low,close,volume,turnover"]
    price = Decimal("0.001000")
    for i in range(50):
        o = price
        c = price + Decimal("0.000010") * (1 if i % 3 else -1)
        lines.append(
            f"{start + i * 300_000},{o},{max(o, c) + Decimal('0.000005')},"
            f"{min(o, c) - Decimal('0.000005')},{c},1000000,1000"
        )
        price = c
    csv.write_text("\n".join(lines) + "\n")
    with running_exchange(market_files=[csv], history_minutes=100) as ex:
        http = make_http(ex)
        info = http.get_instruments_info(category="linear", symbol="PEPEUSDT")["result"]["list"]
        assert info and info[0]["symbol"] == "PEPEUSDT"
        rows = http.get_kline(category="linear", symbol="PEPEUSDT", interval="5", limit=5)[
            "result"
        ]["list"]
        assert len(rows) == 5 and int(rows[0][0]) == start + 20 * 300_000
        assert Decimal(rows[1][4]) == Decimal(lines[20].split(",")[4])  # replayed exactly
        assert ex.control.state()["now_ms"] == start + 20 * 300_000

    # Same seed and scenario → same candles; a different scenario → different ones.
    def closes(scenario: str) -> list[str]:
        with running_exchange(
            seed=5, scenario=scenario, history_minutes=30, start_ms=1_700_000_000_000
        ) as ex:
            ex.control.advance(120 * 60_000)
            rows = make_http(ex).get_kline(
                category="linear", symbol="BTCUSDT", interval="1", limit=100
            )["result"]["list"]
            return [r[4] for r in rows]

    pump = closes("pump")
    assert pump == closes("pump") and pump != closes("random_walk")
    ordered = list(reversed(pump))
    assert max(Decimal(c) for c in ordered) > Decimal(ordered[0]) * Decimal("1.04")  # the pump


def test_accounts_from_the_environment_stay_off_the_command_line(tmp_path: Path) -> None:
    """The compose file used to pass every account's secret as --account, where `ps` and
    `docker inspect` show it."""
    from types import SimpleNamespace

    ex = spawn_exchange(
        ["--speed", "manual", "--history-minutes", "10"],
        env={"PAPER_ACCOUNTS": "main:envkey:envsecret:750,\nsolo:solokey:solosecret"},
    )
    try:
        assert ex.control.state()["accounts"] == ["main", "solo"]
        target = SimpleNamespace(rest_url=ex.rest_url, accounts={"main": ("envkey", "envsecret")})
        wallet = make_http(target).get_wallet_balance(accountType="UNIFIED")  # type: ignore[arg-type]
        assert wallet["result"]["list"][0]["totalWalletBalance"] == "750"
        cmdline = Path(f"/proc/{ex.process.pid}/cmdline").read_bytes()
        assert b"envsecret" not in cmdline and b"solosecret" not in cmdline
    finally:
        ex.stop()
    secrets = tmp_path / "accounts"
    secrets.write_text("main:filekey:filesecret:1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "paper_exchange", "--scenario", "moon"],
        capture_output=True, text=True, timeout=30,
        env={**os.environ, "PAPER_ACCOUNTS": "x:y:z", "PAPER_ACCOUNTS_FILE": str(secrets)},
    )  # fmt: skip
    assert proc.returncode == 1 and "error: set either PAPER_ACCOUNTS" in proc.stderr
