"""``alpha bots update`` and ``alpha bots history``: a registered bot changes in place,
validated like a registration, and every version is kept."""

from __future__ import annotations

import json

from core.config import Role
from tests.database.test_bots_cli import ok, refused, register


def _versions(database) -> list[dict]:
    return json.loads(ok(database.alpha("bots", "history", "mom_001", "--json")))


def _row(database) -> tuple:
    with database.connect(Role.OWNER, direct=True) as conn:
        return conn.execute(
            "SELECT mode, symbols, config, initial_capital::text FROM trading.bots"
            " WHERE bot_id = 'mom_001'"
        ).fetchone()


def test_update_keeps_every_version_and_audits_it(database, tmp_path) -> None:
    ok(register(database, "mom_001", "mo1", 1, "--config", '{"max_positions": 2}'))
    [first] = _versions(database)
    assert (first["version"], first["changed_by"], first["changes"]) == (1, "registration", {})

    risk = tmp_path / "risk.json"
    risk.write_text('{"max_positions": 3, "risk": {"max_daily_loss_pct": "4"}}')
    out = ok(database.alpha("bots", "update", "mom_001", "--config", f"@{risk}",
                            "--symbols", "BTCUSDT,SOLUSDT", "--mode", "demo"))  # fmt: skip
    assert out.splitlines() == [
        'mom_001: mode "paper" -> "demo"; symbols ["BTCUSDT","ETHUSDT"] ->'
        ' ["BTCUSDT","SOLUSDT"]; config.max_positions 2 -> 3; config.risk null ->'
        ' {"max_daily_loss_pct":"4"}; config.symbols ["BTCUSDT","ETHUSDT"] ->'
        ' ["BTCUSDT","SOLUSDT"]',
        "mom_001 is not running: the change applies when it starts",
    ]
    mode, symbols, config, capital = _row(database)
    assert (mode, symbols, capital) == ("demo", ["BTCUSDT", "SOLUSDT"], "1000")
    assert config["max_positions"] == 3 and config["interval"] == "240"  # defaults kept
    assert config["risk"]["max_daily_loss_pct"] == "4"

    versions = _versions(database)
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["changed_by"] == "cli"
    assert set(versions[1]["changes"]) == {"mode", "symbols", "config"}
    assert versions[1]["changes"]["mode"] == {"from": "paper", "to": "demo"}
    history = ok(database.alpha("bots", "history", "mom_001")).splitlines()
    assert history[0].startswith("v1 ") and history[0].endswith("registered")
    assert history[1].startswith("v2 ") and 'mode "paper" -> "demo"' in history[1]

    with database.connect(Role.OWNER, direct=True) as conn:
        audit = conn.execute(
            "SELECT channel, command, detail FROM trading.bot_commands"
            " WHERE bot_id = 'mom_001' ORDER BY id"
        ).fetchall()
    assert audit == [("cli", "register", "momentum paper main"),
                     ("cli", "update", "version 2: mode, symbols, config")]  # fmt: skip


def test_a_change_the_plugin_rejects_changes_nothing(database) -> None:
    ok(register(database, "mom_001", "mo1", 1))
    before = _row(database)
    refused(database.alpha("bots", "update", "mom_001", "--config", '{"max_positions": -1}'),
            "invalid config for bot type 'momentum': max_positions")  # fmt: skip
    refused(database.alpha("bots", "update", "mom_001", "--mode", "mainnet"),
            "invalid choice", code=2)  # fmt: skip
    refused(database.alpha("bots", "update", "mom_001", "--symbols", "BTC-USDT"), "--symbols")
    refused(database.alpha("bots", "update", "mom_001", "--config", "@/nonexistent.json"),
            "--config: cannot read /nonexistent.json")  # fmt: skip
    refused(database.alpha("bots", "update", "mom_001"), "nothing to update")
    refused(database.alpha("bots", "update", "nobody_01", "--mode", "demo"), "no bot")
    refused(database.alpha("bots", "update", "external", "--mode", "demo"), "reserved")
    assert _row(database) == before
    assert [v["version"] for v in _versions(database)] == [1]


def test_an_update_must_agree_with_the_other_bots_of_the_account(database) -> None:
    ok(register(database, "mom_001", "mo1", 1, "--symbols", "BTCUSDT"))
    ok(register(database, "mom_002", "mo2", 2, "--symbols", "ETHUSDT", "--exclusive"))
    refused(database.alpha("bots", "update", "mom_001", "--symbols", "BTCUSDT,ETHUSDT"),
            "bot mom_002 trades ETHUSDT exclusively on account main")  # fmt: skip
    same = ok(database.alpha("bots", "update", "mom_001", "--symbols", "BTCUSDT"))
    assert same.strip() == "mom_001: nothing changed (the registration already says that)"
    assert [v["version"] for v in _versions(database)] == [1]
