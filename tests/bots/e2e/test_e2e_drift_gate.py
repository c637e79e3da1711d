"""A bot does not enter while trade sync reports open drift on its account and symbol;
it enters again once the drift is cleared or an operator acknowledged it as it is
(bots/runtime/drift_gate.py, core/operator/drift_ack.py); its /healthz shows the gate."""

from __future__ import annotations

import json
import time
import urllib.request

from bots.runtime import drift_gate
from bots.runtime.service import bot_health
from core.config import Role
from tests.bots.e2e.harness import SYMBOL, stack
from tests.bots.e2e.test_e2e_loss_limits import BOT, _bars
from tests.bots.e2e.test_e2e_restart import CONFIG


def _drift(database, sql: str) -> None:
    with database.connect(Role.SYNC) as conn:  # trade sync's own role writes drift
        conn.execute(sql, (SYMBOL,))
        conn.commit()


def test_open_drift_holds_entries_until_it_clears(database, redis, tmp_path, monkeypatch):
    monkeypatch.setattr(drift_gate, "REFRESH_SECONDS", 0.0)  # read at every decision
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(BOT, "sl1", "shortseller", CONFIG | {"cooldown_minutes": 0}, redis_db=1)
        _drift(database, "INSERT INTO trading.drift_events (account, symbol, exchange_qty,"
                         " ledger_qty) VALUES ('main', %s, '0.5', '0')")  # fmt: skip
        s.start_bot(BOT)
        s.play(3)  # bar 20: the cross that enters when nothing is wrong
        assert s.fills(BOT) == []
        _drift(database, "UPDATE trading.drift_events SET cleared_at = now()"
                         " WHERE symbol = %s AND cleared_at IS NULL")  # fmt: skip
        time.sleep(0.5)
        s.play(11)  # through bar 30: the next cross
        assert [f.reason for f in s.fills(BOT)][:1] == ["entry"]


def _healthz(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
        return json.loads(reply.read())


def test_an_acknowledged_drift_lets_the_bot_enter_and_healthz_shows_the_gate(
    database, redis, tmp_path, monkeypatch
):
    monkeypatch.setattr(drift_gate, "REFRESH_SECONDS", 0.0)  # read at every decision
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(BOT, "sl1", "shortseller", CONFIG | {"cooldown_minutes": 0}, redis_db=1)
        _drift(database, "INSERT INTO trading.drift_events (account, symbol, exchange_qty,"
                         " ledger_qty) VALUES ('main', %s, '0.5', '0')")  # fmt: skip
        bot = s.start_bot(BOT)
        with bot_health(bot.host, "127.0.0.1", 0).start() as health:
            gate = _healthz(health.port)["info"]["drift_gate"]
            assert gate["entries_held"] is True and list(gate["symbols"]) == [SYMBOL]
            s.play(3)  # bar 20: the cross that enters when nothing is wrong
            assert s.fills(BOT) == []
            # Without --yes: the drift is listed, nothing is acknowledged.
            listed = database.alpha("drift", "ack", BOT)
            assert listed.returncode == 1, listed.stderr
            assert f"main {SYMBOL}: exchange 0.5, bots 0" in listed.stderr
            assert "Traceback" not in listed.stderr
            assert _healthz(health.port)["info"]["drift_gate"]["entries_held"] is True
            done = database.alpha("drift", "ack", BOT, "--reason", "known hedge", "--yes")
            assert done.returncode == 0, done.stderr
            assert f"acknowledged: main {SYMBOL}: exchange 0.5, bots 0" in done.stdout
            gate = _healthz(health.port)["info"]["drift_gate"]
            assert gate == {"entries_held": False, "account": "main", "symbols": {}}
            assert _healthz(health.port)["status"] == "ok"
            s.play(11)  # through bar 30: the next cross enters despite the drift
            assert [f.reason for f in s.fills(BOT)][:1] == ["entry"]
            # The drift changes: the acknowledgement does not cover it, entries wait again.
            _drift(database, "UPDATE trading.drift_events SET exchange_qty = '0.6'"
                             " WHERE symbol = %s AND cleared_at IS NULL")  # fmt: skip
            assert _healthz(health.port)["info"]["drift_gate"]["entries_held"] is True
            assert bot.host.drift.refusal(SYMBOL) is not None
    with database.connect(Role.OWNER) as conn:
        rows = conn.execute(
            "SELECT command, bot_id, outcome, channel, detail FROM trading.bot_commands"
            " WHERE command <> 'register' ORDER BY id"
        ).fetchall()
    assert [(c, b, o, ch) for c, b, o, ch, _ in rows] == [("drift ack", BOT, "accepted", "cli")]
    assert rows[0][4].endswith("(known hedge)")
