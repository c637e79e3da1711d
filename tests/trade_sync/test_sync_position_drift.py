"""A manual trade on a symbol two bots trade is a drift; the correcting trade clears it."""

from __future__ import annotations

import json
from decimal import Decimal

from sync_helpers import (
    BOTS,
    context,
    ledger_rows,
    register_bots,
    running_listener,
    sync_runs,
    sync_settings,
    wait_for,
)

from core.exchange import make_http
from core.link_ids import LinkIdFactory, Reason
from core.redis_keys import ALERTS
from paper_exchange.testing import running_exchange
from trade_sync.jobs import position_drift
from trade_sync.runs import run_job

ACCOUNTS = [("main", "main-key-02", "main-secret-02")]


def _drift(ctx):
    return run_job(ctx, position_drift.NAME, "main", lambda: position_drift.run(ctx, "main"))


def _alerts(client) -> list[dict[str, str]]:
    return [fields for _id, fields in client.xrange(ALERTS)]


def _open_events(database):
    with database.connect("readonly") as conn:
        return conn.execute(
            "SELECT symbol, exchange_qty, ledger_qty, per_bot, cleared_at IS NOT NULL "
            "FROM trading.drift_events ORDER BY id"
        ).fetchall()


def test_manual_trade_raises_a_drift_alert_that_clears_after_the_correction(
    database, redis, tmp_path
) -> None:
    register_bots(database)
    with running_exchange(accounts=ACCOUNTS, seed=22) as ex:
        settings = sync_settings(database, ex, tmp_path)
        ctx = context(settings)
        infra = database.stack.redis(settings.redis.infra_db)
        http = make_http(settings, "main")
        with running_listener(settings):
            links = {code: LinkIdFactory(code) for _, code in BOTS}
            for (_bot, code), side, qty in zip(BOTS, ("Buy", "Sell"), ("0.005", "0.002"),
                                               strict=True):  # fmt: skip
                reply = http.place_order(category="linear", symbol="BTCUSDT", side=side,
                                         orderType="Market", qty=qty,
                                         orderLinkId=links[code].new(Reason.ENTRY))  # fmt: skip
                assert reply["retCode"] == 0
            wait_for(lambda: len(ledger_rows(database)) >= 2, what="bot fills")

            clean = _drift(ctx)
            assert clean is not None and clean.status == "ok", clean
            assert _alerts(infra) == [] and _open_events(database) == []

            ex.control.manual_trade("main", "BTCUSDT", "Buy", "0.004")  # no link id
            first = _drift(ctx)
            assert first is not None and first.status == "drift" and first.found == 1
            [alert] = _alerts(infra)
            assert alert["kind"] == "drift" and alert["account"] == "main"
            assert alert["symbol"] == "BTCUSDT"
            assert Decimal(alert["exchange_qty"]) == Decimal("0.007")
            assert Decimal(alert["ledger_qty"]) == Decimal("0.003")
            assert json.loads(alert["per_bot"]) == {"alpha_one": "0.005", "alpha_two": "-0.002"}
            assert "0.007" in alert["text"] and "0.003" in alert["text"]
            [(symbol, exq, ldq, per_bot, cleared)] = _open_events(database)
            assert (symbol, exq, ldq, cleared) == ("BTCUSDT", Decimal("0.007"),
                                                   Decimal("0.003"), False)  # fmt: skip
            assert per_bot == {"alpha_one": "0.005", "alpha_two": "-0.002"}

            # Still drifting, unchanged: recorded again, not alerted again.
            assert _drift(ctx).status == "drift"
            assert len(_alerts(infra)) == 1 and len(_open_events(database)) == 1

            ex.control.manual_trade("main", "BTCUSDT", "Sell", "0.004")  # the operator's fix
            fixed = _drift(ctx)
            assert fixed is not None and fixed.status == "ok"
            alerts = _alerts(infra)
            assert [a["kind"] for a in alerts] == ["drift", "drift_cleared"]
            assert alerts[1]["symbol"] == "BTCUSDT" and alerts[1]["account"] == "main"
            # The clear closes the very incident the drift opened (the C2 de-duplicates by key).
            assert alerts[0]["key"] == alerts[1]["key"] == "drift:main:BTCUSDT"
            assert (alerts[0]["resolved"], alerts[1]["resolved"]) == ("0", "1")
            [(_, _, _, _, cleared)] = _open_events(database)
            assert cleared is True
            statuses = [r["status"] for r in sync_runs(database, position_drift.NAME)]
            assert statuses == ["ok", "drift", "drift", "ok"]
