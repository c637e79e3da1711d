"""``POST /drift/ack``: the C2's ``/ackdrift`` over HTTP, confirmed like flatten and kill,
through core/operator/drift_ack.py; the bots' drift gate (bots/runtime/drift_gate.py,
read against the real database as the bot role) lifts once it is confirmed."""

from __future__ import annotations

from typing import Any

from api_harness import add_bot, audit_rows, check_reply, make_token, running_api

from api.routes import PREFIX
from bots.runtime.drift_gate import DriftGate
from core.config import Role


def _owner(database: Any, sql: str) -> list[tuple[Any, ...]]:
    with database.connect(Role.OWNER, direct=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def test_drift_is_acknowledged_only_on_confirmation_and_the_gate_lifts(
    database, services, redis
) -> None:
    add_bot(database, "alpha_one", "a1", 3)
    _owner(database, "UPDATE trading.bots SET symbols = '{BTCUSDT,ETHUSDT}', account = 'main'")
    _owner(
        database,
        "INSERT INTO trading.drift_events (account, symbol, exchange_qty, ledger_qty)"
        " VALUES ('main', 'ETHUSDT', 1, 0)",
    )
    gate = DriftGate(database.settings, "main", refresh_seconds=0)
    assert gate.refusal("ETHUSDT") is not None  # held before anything
    admin = make_token(database, "ops", "admin")
    viewer = make_token(database, "wall", "viewer")
    path = f"{PREFIX}/drift/ack"
    with running_api(database) as api:
        assert api.post(path, viewer, json={"target": "alpha_one"}).status_code == 403
        for bad in ({}, {"target": ""}, {"target": "a1", "why": "x"}, {"target": "nobody"}):
            r = api.post(path, admin, json=bad)
            assert r.status_code == 400, bad
            check_reply(r, "Error")
        asked = api.post(path, admin, json={"target": "a1", "reason": "hedge kept by hand"})
        assert asked.status_code == 202, asked.text
        body = check_reply(asked, "Confirmation")
        assert (body["action"], body["bot_id"]) == ("ackdrift", "alpha_one")
        assert gate.refusal("ETHUSDT") is not None  # nothing acknowledged before confirm
        assert _owner(database, "SELECT count(*) FROM trading.drift_acks") == [(0,)]

        done = check_reply(api.post(body["confirm"], admin), "Confirmed")
        assert done["action"] == "ackdrift" and done["bot_id"] == "alpha_one"
        assert done["detail"].startswith(
            "Drift acknowledged on alpha_one (account main, BTCUSDT,ETHUSDT): main ETHUSDT:"
            " exchange 1, bots 0"
        )
        assert gate.refusal("ETHUSDT") is None  # the bots' gate lifts
        assert api.post(body["confirm"], admin).status_code == 404  # single use

        nothing = api.post(path, admin, json={"target": "main"})  # the account: all acked
        assert nothing.status_code == 409
        assert "nothing to acknowledge" in check_reply(nothing, "Error")["error"]["message"]

        # Trade sync finds other quantities: the acknowledgement no longer covers it.
        _owner(database, "UPDATE trading.drift_events SET exchange_qty = 2")
        assert gate.refusal("ETHUSDT") is not None
    acks = _owner(
        database, "SELECT exchange_qty, ledger_qty, acked_by, reason FROM trading.drift_acks"
    )
    assert len(acks) == 1
    exchange_qty, ledger_qty, acked_by, reason = acks[0]
    assert (exchange_qty, ledger_qty, reason) == (1, 0, "hedge kept by hand")
    assert acked_by.startswith("api:") and acked_by.endswith(":ops")
    rows = [(r["username"], r["command"], r["outcome"], r["bot_id"]) for r in audit_rows(database)]
    assert rows == [
        ("wall", "ack", "refused", None),  # a viewer token (the role check names the path)
        ("ops", "ackdrift", "refused", None),  # {}
        ("ops", "ackdrift", "refused", None),  # empty target
        ("ops", "ackdrift", "refused", None),  # unknown field
        ("ops", "ackdrift", "refused", None),  # neither a bot nor an account
        ("ops", "ackdrift", "pending", "alpha_one"),
        ("ops", "ackdrift", "confirmed", "alpha_one"),
        ("ops", "confirm", "refused", None),  # used twice
        ("ops", "ackdrift", "refused", None),  # nothing left on the account
    ]
