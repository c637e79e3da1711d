"""``alpha bots …`` round trips as a subprocess, and every validation error."""

from __future__ import annotations

import json
import os

import pytest

from core.config import Role
from core.redis_client import redis_client

BASE = ["--type", "momentum", "--mode", "paper", "--account", "main"]


def register(database, bot_id: str = "mom_001", code: str = "mo1", db: int = 1, *extra: str):
    args = ["bots", "register", bot_id, "--code", code, "--redis-db", str(db)]
    if "--symbols" not in extra:
        args += ["--symbols", "BTCUSDT,ETHUSDT"]
    if "--no-capital" in extra:
        extra = tuple(e for e in extra if e != "--no-capital")
    elif "--initial-capital" not in extra:
        args += ["--initial-capital", "1000"]  # bots sharing an account need one
    return database.alpha(*args, *BASE, *extra)


def ok(result) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def refused(result, message: str, code: int = 1) -> None:
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert message in lines[-1], result.stderr
    if code == 1:
        assert len(lines) == 1, result.stderr  # one line, nothing else


def test_register_list_show_pause_resume_retire(database, services) -> None:
    out = ok(
        register(
            database, "mom_001", "mo1", 1,
            "--name", "Momentum one", "--strategy", "bb squeeze",
            "--config", '{"max_positions": 2}', "--initial-capital", "1000.50",
        )
    )  # fmt: skip
    assert "registered mom_001" in out

    listing = ok(database.alpha("bots", "list"))
    assert "mom_001" in listing and "external" in listing and "BTCUSDT,ETHUSDT" in listing

    shown = json.loads(ok(database.alpha("bots", "show", "mom_001", "--json")))
    assert shown["bot_code"] == "mo1" and shown["status"] == "active"
    assert shown["config"]["max_positions"] == 2 and shown["config"]["symbols"] == [
        "BTCUSDT",
        "ETHUSDT",
    ]
    assert shown["config"]["interval"] == "240"  # the plugin's default, filled in
    assert shown["initial_capital"] == "1000.50" and shown["redis_db"] == 1
    assert "bb squeeze" in ok(database.alpha("bots", "show", "mom_001"))

    state = redis_client(database.settings, 1)
    assert state.get("bot:mom_001:state") == "running"
    assert ok(database.alpha("bots", "pause", "mom_001")).strip() == "mom_001: paused"
    assert state.get("bot:mom_001:state") == "paused"
    refused(database.alpha("bots", "pause", "mom_001"), "bot mom_001 is paused; cannot pause it")
    assert ok(database.alpha("bots", "resume", "mom_001")).strip() == "mom_001: active"
    assert state.get("bot:mom_001:state") == "running"
    refused(database.alpha("bots", "resume", "mom_001"), "is active; cannot resume it")
    assert ok(database.alpha("bots", "retire", "mom_001")).strip() == "mom_001: retired"
    assert state.get("bot:mom_001:state") == "stopped"
    refused(database.alpha("bots", "retire", "mom_001"), "is retired; cannot retire it")
    assert "mom_001" not in ok(database.alpha("bots", "list", "--active"))

    # A retired bot gives its Redis DB back, but its id and code stay taken.
    ok(register(database, "mom_002", "mo2", 1))
    refused(register(database, "mom_001", "mo9", 2), "bot mom_001 is already registered")
    refused(register(database, "mom_003", "mo1", 3), "bot code mo1 is already used by bot mom_001")

    with database.connect(Role.READONLY) as conn:
        audit = conn.execute(
            "SELECT command, bot_id FROM trading.bot_commands WHERE channel = 'cli' ORDER BY id"
        ).fetchall()
    assert audit == [
        ("register", "mom_001"), ("pause", "mom_001"), ("resume", "mom_001"),
        ("retire", "mom_001"), ("register", "mom_002"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("bot_id", "code", "extra", "message"),
    [
        ("Bad-Id", "b1", [], "invalid bot id 'Bad-Id'"),
        ("ab", "b1", [], "invalid bot id 'ab'"),
        ("external", "b1", [], "bot id 'external' is reserved"),
        ("mom_009", "B!", [], "invalid bot code 'B!'"),
        ("mom_009", "toolongcode", [], "invalid bot code 'toolongcode'"),
        ("mom_009", "ext", [], "bot code 'ext' is reserved"),
        ("mom_009", "m9", ["--type", "nosuchbot"], "unknown bot type 'nosuchbot'"),
        ("mom_009", "m9", ["--config", "{not json"], "--config: malformed JSON"),
        ("mom_009", "m9", ["--config", "[1, 2]"], "--config: must be a JSON object, got list"),
        (
            "mom_009", "m9", ["--config", '{"max_positions": 0}'],
            "invalid config for bot type 'momentum': max_positions",
        ),
        ("mom_009", "m9", ["--config", '{"bogus": 1}'], "invalid config for bot type 'momentum'"),
        ("mom_009", "m9", ["--symbols", "btc-usdt"], "--symbols: invalid symbol 'BTC-USDT'"),
        ("mom_009", "m9", ["--symbols", "BTCUSDT,BTCUSDT"], "--symbols: BTCUSDT listed twice"),
        ("mom_009", "m9", ["--symbols", " , "], "--symbols: give at least one symbol"),
        ("mom_009", "m9", ["--initial-capital", "lots"], "--initial-capital: not a number"),
        ("mom_009", "m9", ["--initial-capital", "-5"], "--initial-capital: must be a finite"),
        ("mom_009", "m9", ["--account", "Main"], "invalid account 'Main'"),
    ],
)  # fmt: skip
def test_register_validation_errors(database, bot_id, code, extra, message) -> None:
    # Later flags override BASE's, so "--type nosuchbot" replaces momentum.
    refused(register(database, bot_id, code, 4, *extra), message)
    with database.connect(Role.READONLY) as conn:
        assert conn.execute("SELECT count(*) FROM trading.bots").fetchone() == (1,)


@pytest.mark.parametrize(
    ("db", "message"),
    [("16", "--redis-db: must be 0..15, got 16"), ("15", "--redis-db: 15 is REDIS_INFRA_DB")],
)
def test_redis_db_out_of_range_or_infra(database, db: str, message: str) -> None:
    refused(register(database, "mom_009", "m9", db), message)


def test_usage_errors_exit_2(database) -> None:
    refused(register(database, "mom_009", "m9", 4, "--mode", "real"), "invalid choice: 'real'", 2)
    refused(register(database, "mom_009", "m9", "x"), "--redis-db: not an integer: 'x'", 2)
    result = database.alpha("bots", "register", "mom_009")
    refused(result, "the following arguments are required", 2)


def test_duplicate_redis_db_names_the_holder(database) -> None:
    ok(register(database, "mom_001", "mo1", 1))
    refused(register(database, "mom_002", "mo2", 1), "redis db 1 is already used by bot mom_001")


def test_exclusive_refused_when_another_bot_trades_a_symbol(database) -> None:
    ok(register(database, "mom_001", "mo1", 1, "--symbols", "BTCUSDT,ETHUSDT"))
    refused(
        register(database, "mom_002", "mo2", 2, "--symbols", "ETHUSDT,SOLUSDT", "--exclusive"),
        "--exclusive refused: bot mom_001 also trades ETHUSDT on account main",
    )
    # Another account, or other symbols: fine.
    ok(register(database, "mom_003", "mo3", 3, "--symbols", "SOLUSDT", "--exclusive"))
    ok(
        register(
            database, "mom_004", "mo4", 4, "--symbols", "ETHUSDT", "--exclusive",
            "--account", "second",
        )
    )  # fmt: skip
    # ... and nobody may then join an exclusive bot's symbol on its account.
    refused(
        register(database, "mom_005", "mo5", 5, "--symbols", "SOLUSDT"),
        "bot mom_003 trades SOLUSDT exclusively on account main",
    )
    shown = json.loads(ok(database.alpha("bots", "show", "mom_003", "--json")))
    assert shown["exclusive"] is True and shown["config"]["exclusive"] is True


def test_unknown_bot_and_reserved_external(database) -> None:
    refused(database.alpha("bots", "show", "nobody_here"), "no bot 'nobody_here'")
    refused(database.alpha("bots", "pause", "nobody_here"), "no bot 'nobody_here'")
    refused(database.alpha("bots", "retire", "external"), "bot 'external' is reserved")


def test_two_bots_on_one_account_must_agree_on_a_shared_symbols_leverage(database) -> None:
    ok(register(database, "mom_001", "mo1", 1, "--symbols", "BTCUSDT", "--config",
                '{"leverage": "5"}'))  # fmt: skip
    refused(
        register(
            database,
            "mom_002",
            "mo2",
            2,
            "--symbols",
            "ETHUSDT,BTCUSDT",
            "--config",
            '{"leverage": "10"}',
        ),
        "leverage 10 refused: bot mom_001 trades BTCUSDT on account main at leverage 5",
    )
    # The same leverage, another account, or no leverage of its own: fine.
    ok(register(database, "mom_002", "mo2", 2, "--symbols", "BTCUSDT", "--config",
                '{"leverage": "5.0"}'))  # fmt: skip
    ok(register(database, "mom_003", "mo3", 3, "--symbols", "BTCUSDT", "--account", "second",
                "--config", '{"leverage": "10"}'))  # fmt: skip
    ok(register(database, "mom_004", "mo4", 4, "--symbols", "BTCUSDT"))


def test_every_bot_on_a_shared_account_needs_an_allocation(database) -> None:
    ok(register(database, "mom_001", "mo1", 1, "--symbols", "BTCUSDT", "--no-capital"))
    refused(
        register(database, "mom_002", "mo2", 2, "--symbols", "ETHUSDT", "--no-capital"),
        "--initial-capital required: account main is shared with bot mom_001",
    )
    refused(
        register(database, "mom_002", "mo2", 2, "--symbols", "ETHUSDT"),
        "account main is shared from now on, but bot mom_001 has no --initial-capital",
    )
    # Alone on its account, a bot may go without one (the account's equity at start).
    ok(register(database, "mom_003", "mo3", 3, "--account", "solo", "--no-capital"))
    listed = json.loads(ok(database.alpha("bots", "list", "--json")))
    assert [b["bot_id"] for b in listed if b["bot_id"] != "external"] == ["mom_001", "mom_003"]


def test_show_includes_the_universe_the_bot_published(database, services) -> None:
    ok(register(database, "lx_001", "lx1", 1, "--type", "lxalgo"))
    shown = json.loads(ok(database.alpha("bots", "show", "lx_001", "--json")))
    assert shown["universe"] is None  # not running yet: nothing published
    published = {"symbols": ["ETHUSDT", "BTCUSDT"], "updated_at": "2026-12-05T12:00:00+00:00"}
    redis_client(database.settings, 1).set("bot:lx_001:universe", json.dumps(published))
    shown = json.loads(ok(database.alpha("bots", "show", "lx_001", "--json")))
    assert shown["universe"] == published
    text = ok(database.alpha("bots", "show", "lx_001"))
    assert "universe         ETHUSDT,BTCUSDT (as of 2026-12-05T12:00:00+00:00)" in text


def test_a_pause_holds_when_a_running_bot_cannot_be_told(database):
    """The state key is what a bot obeys; the notice only gets it acknowledged at once. A
    notice Redis refuses is a warning, not a failed pause (before, the CLI exited 1 and
    said the state was not updated, which it was)."""
    ok(register(database, "mom_009", "mo9", 1))
    admin = redis_client(database.settings, 0)
    user = f"no_notice_{os.getpid()}"
    allowed = ["+set", "+get", "+ping", "+select", "+client"]  # no XADD, no commands:* key
    admin.acl_setuser(user, enabled=True, reset=True, passwords=["+no-notice-pw"],
                      keys=["bot:*"], commands=allowed)  # fmt: skip
    try:
        login = {"REDIS_USERNAME": user, "REDIS_PASSWORD": "no-notice-pw"}
        done = database.alpha("bots", "pause", "mom_009", env=login)
        assert ok(done).strip() == "mom_009: paused"
        assert "a running bot was not told and will not acknowledge it" in done.stderr
        state = redis_client(database.settings, 1)
        assert state.get("bot:mom_009:state") == "paused"
        assert not state.exists("commands:mom_009")
    finally:
        admin.acl_deluser(user)
