"""A bot does not enter while trade sync reports open drift on its account and symbol;
it enters again once the drift is cleared (bots/runtime/drift_gate.py)."""

from __future__ import annotations

import time

from bots.runtime import drift_gate
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
