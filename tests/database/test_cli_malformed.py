"""Every malformed CLI input: one ``error:`` line on stderr, a non-zero exit, no
traceback, no hang, and nothing changed in the database (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

BOT = ["--code", "mo1", "--redis-db", "1", "--symbols", "BTCUSDT", "--type", "momentum",
       "--name", "n", "--strategy", "s", "--account", "main", "--initial-capital", "100",
       "--mode", "paper"]  # fmt: skip


def _register(bot_id: str = "mom_001", **changes: str) -> list[str]:
    args = list(BOT)
    for flag, value in changes.items():
        flag = "--" + flag.replace("_", "-")
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    return ["bots", "register", bot_id, *args]


def _files(tmp: Path) -> dict[str, Path | str]:
    binary = tmp / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage\n\x80\x81\n")
    junk = tmp / "junk.jsonl"
    junk.write_text('{"topic": "execution", "data": [{"execId": 1}]\nnot json at all\n')
    empty = tmp / "empty.csv"
    empty.write_text("")
    headers = tmp / "headers.csv"
    headers.write_text("start,open,high,low,close,volume,turnover\n1,a,b,c,d,e,f\n")
    return {"binary": binary, "junk": junk, "empty": empty, "headers": headers}


CASES: list[tuple[str, list[str]]] = [
    ("bad bot id", _register("Bad-Id!")),
    ("bad code", _register(code="X")),
    ("negative redis db", _register(redis_db="-1")),
    ("text redis db", _register(redis_db="one")),
    ("huge redis db", _register(redis_db="99999999999999999999")),
    ("empty symbols", _register(symbols="")),
    ("symbols with spaces", _register(symbols="BTC USDT")),
    ("config not an object", _register(config="[1, 2]")),
    ("config not json", _register(config="{")),
    ("config wrong type", _register(config='{"max_positions": "many"}')),
    ("config unknown key", _register(config='{"no_such_parameter": 1}')),
    ("negative capital", _register(initial_capital="-5")),
    ("nan capital", _register(initial_capital="NaN")),
    ("infinite capital", _register(initial_capital="Infinity")),
    ("huge capital", _register(initial_capital="1e999999")),
    ("unknown mode", _register(mode="moon")),
    ("unknown type", _register(type="nope")),
    ("unknown account name", _register(account="Main Account")),
    ("very long name", _register(name="n" * 10_000)),
    ("show unknown bot", ["bots", "show", "nobody"]),
    ("pause unknown bot", ["bots", "pause", "nobody"]),
    ("show injection", ["bots", "show", "x'; DROP TABLE trading.fills; --"]),
    ("restore text id", ["backup", "restore", "abc", "--target-db", "scratch"]),
    ("restore unknown id", ["backup", "restore", "999999", "--target-db", "scratch"]),
    ("restore conninfo", ["backup", "restore", "1", "--target-db", "host=evil dbname=x"]),
    (
        "restore over the live database",
        ["backup", "restore", "1", "--target-db", "{live}", "--force"],
    ),
    ("downgrade base unconfirmed", ["db", "downgrade", "base"]),
    ("verify negative id", ["backup", "verify", "-1"]),
    ("sync ledger bad day", ["sync", "ledger", "--day", "2026-13-45"]),
    ("sync ledger text days", ["sync", "ledger", "--days", "many"]),
    ("sync ledger negative days", ["sync", "ledger", "--days", "-3"]),
    ("backfill bad since", ["sync", "backfill", "--since", "yesterday-ish"]),
    ("backfill zero window", ["sync", "backfill", "--since", "2026-01-01", "--window-hours", "0"]),
    ("positions unknown bot", ["positions", "show", "--bot", "nobody"]),
    ("report bad date", ["report", "pnl", "--from", "2026-02-30"]),
    ("report reversed range", ["report", "pnl", "--from", "2026-02-01", "--to", "2026-01-01"]),
    ("downgrade unknown revision", ["db", "downgrade", "no_such_revision"]),
    ("backtest unknown type", ["backtest", "nope", "--candles", "{empty}"]),
    ("backtest missing file", ["backtest", "orderblock", "--candles", "/no/such/file.csv"]),
    ("backtest empty file", ["backtest", "orderblock", "--candles", "{empty}"]),
    ("backtest bad numbers", ["backtest", "orderblock", "--candles", "{headers}"]),
    ("backtest binary file", ["backtest", "orderblock", "--candles", "{binary}"]),
    ("backtest no candles", ["backtest", "orderblock"]),
    ("backtest show text id", ["backtest", "show", "abc"]),
    ("backtest show unknown id", ["backtest", "show", "999999"]),
    ("backtest show huge id", ["backtest", "show", "99999999999999999999"]),
    ("backtest compare one id", ["backtest", "compare", "1"]),
    ("backtest list zero limit", ["backtest", "list", "--limit", "0"]),
    ("backtest list text limit", ["backtest", "list", "--limit", "all"]),
    ("replay missing file", ["listener", "replay", "/no/such/capture.jsonl"]),
    ("replay binary file", ["listener", "replay", "{binary}"]),
    ("replay junk", ["listener", "replay", "{junk}"]),
    ("replay unknown account", ["listener", "replay", "--account", "Nope!", "{junk}"]),
]


@pytest.mark.parametrize(("name", "args"), CASES, ids=[c[0] for c in CASES])
def test_malformed_input_is_one_error_line(database, tmp_path, name, args) -> None:
    files = _files(tmp_path)
    files["live"] = database.name
    args = [str(files[a[1:-1]]) if a[1:-1] in files and a[0] == "{" else a for a in args]
    before = _snapshot(database)
    result = database.alpha(*args, timeout=60)
    assert result.returncode != 0, f"{name}: accepted\n{result.stdout}"
    err = result.stderr.strip()
    assert "Traceback" not in err, f"{name}: traceback\n{err}"
    lines = err.splitlines()
    # One error line, last; argparse puts its usage above it.
    assert lines and "error:" in lines[-1], f"{name}: no error line\n{err}"
    assert sum("error:" in line for line in lines) == 1, f"{name}: several errors\n{err}"
    assert _snapshot(database) == before, f"{name}: changed the database"


def _snapshot(database) -> tuple[object, ...]:
    with database.connect("owner", direct=True) as conn:
        return tuple(
            conn.execute(f"SELECT count(*) FROM trading.{table}").fetchone()[0]
            for table in ("bots", "fills", "funding", "backups", "bot_commands")
        )


def test_files_the_cli_writes_are_the_owners_alone(database, tmp_path) -> None:
    """Trade data was written 0644 (a dump 0644 until its final chmod, the spool and
    reports always): every verb now runs with umask 077."""
    out = tmp_path / "pnl.csv"
    result = database.alpha("report", "pnl", "--csv", str(out))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_mode & 0o777 == 0o600
