"""Executions the exchange never pushed reach the ledger after one audit, exactly once.

Real pieces end to end: pybit against the paper exchange, the real listener writing
through PgBouncer, trade sync handing over through Redis.
"""

from __future__ import annotations

from sync_helpers import (
    context,
    ledger_rows,
    running_listener,
    sync_runs,
    sync_settings,
    wait_for,
)

from core.exchange import make_http
from core.redis_keys import HANDOVER
from paper_exchange.testing import running_exchange
from trade_sync.jobs import execution_audit
from trade_sync.runs import run_job

ACCOUNTS = [("main", "main-key-01", "main-secret-01")]


def _market(http, side: str, qty: str = "0.001") -> None:
    reply = http.place_order(category="linear", symbol="BTCUSDT", side=side,
                             orderType="Market", qty=qty)  # fmt: skip
    assert reply["retCode"] == 0, reply


def test_silently_dropped_executions_appear_after_one_audit_exactly_once(
    database, redis, tmp_path
) -> None:
    with running_exchange(accounts=ACCOUNTS, seed=21) as ex:
        settings = sync_settings(database, ex, tmp_path)
        ctx = context(settings)
        http = make_http(settings, "main")
        with running_listener(settings) as listener:
            _market(http, "Buy")
            wait_for(lambda: len(ledger_rows(database)) == 1, what="first fill via WS")

            ex.control.post("/paper/faults/drop", account="main", count=3)
            for side in ("Buy", "Sell", "Buy"):
                _market(http, side)
            _market(http, "Sell")  # pushed normally: proves the socket is still up
            produced = {r["execId"] for r in ex.control.dump("main")["executions"]}
            wait_for(lambda: len(ledger_rows(database)) == 2, what="the undropped fill")
            assert all(s.connected and s.stream.reconnects == 0 for s in listener.streams.values())
            missing = produced - set(ledger_rows(database))
            assert len(missing) == 3  # the listener, still connected, never saw them

            outcome = run_job(ctx, execution_audit.NAME, "main",
                              lambda: execution_audit.run(ctx, "main"))  # fmt: skip
            assert outcome is not None and outcome.found == 3
            assert set(outcome.details["missing"]) == missing
            wait_for(lambda: set(ledger_rows(database)) == produced, what="handed-over fills")

            rows = ledger_rows(database)
            assert {rows[e][1] for e in missing} == {"rest"}
            assert len(rows) == len(produced) == 5  # exactly once: ledger key is execId

            # The next cycle finds nothing: zero is the steady state.
            again = run_job(ctx, execution_audit.NAME, "main",
                            lambda: execution_audit.run(ctx, "main"))  # fmt: skip
            assert again is not None and again.found == 0 and again.status == "ok"
            runs = sync_runs(database, execution_audit.NAME)
            assert [(r["status"], r["found"], r["checked"]) for r in runs] == [
                ("found", 3, 5), ("ok", 0, 5),
            ]  # fmt: skip
            # Every handed-over entry was consumed and acknowledged by the listener.
            infra = listener.settings.redis.infra_db
            client = database.stack.redis(infra)
            wait_for(lambda: client.xpending(HANDOVER, "listener")["pending"] == 0,
                     what="hand-over acked")  # fmt: skip
            assert client.xlen(HANDOVER) == 3
