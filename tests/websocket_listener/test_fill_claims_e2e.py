"""End to end: a manual trade on the paper exchange (real pybit, real sockets) lands in
``external``; ``alpha fills assign`` sent through Redis to the running listener gives it
to the bot, whose Redis position, analytics and share of the exchange's position follow.
"""

from __future__ import annotations

import threading
from decimal import Decimal

from core.exchange.client import make_http
from core.link_ids import LinkIdFactory, Reason
from paper_exchange.testing import running_exchange
from tests.websocket_listener.helpers import SHARED, SOLO, ledger, redis_positions, register_bots
from tests.websocket_listener.test_end_to_end import (
    ACCOUNTS,
    _exchange_position,
    _place,
    _settings,
    _wait,
)
from websocket_listener.service import Listener

A, B = SHARED


def test_a_manual_trade_is_claimed_by_a_running_listener(
    database, redis, tmp_path, monkeypatch, capsys
):
    from core.cli import main

    register_bots(database, (*SHARED, SOLO))
    for name, value in database.env().items():
        monkeypatch.setenv(name, value)
    with running_exchange(accounts=ACCOUNTS, seed=5) as ex:
        settings = _settings(database, ex, tmp_path)
        listener = Listener(settings)
        stop = threading.Event()
        runner = threading.Thread(target=listener.run, args=(stop,), daemon=True)
        runner.start()
        try:
            _wait(lambda: all(s.connected for s in listener.streams.values()), what="sockets")
            http = make_http(settings, "main")
            _place(http, LinkIdFactory(A.code).new(Reason.ENTRY), "Buy", "0.003")
            ex.control.manual_trade("main", "BTCUSDT", "Buy", "0.002")

            def external_ids() -> list[str]:
                return [k for k, v in ledger(database).items() if v[0] == "external"]

            _wait(lambda: bool(external_ids()), what="the manual trade in the ledger")
            _wait(
                lambda: (
                    redis_positions(database.stack, (A,))
                    == {(A.bot_id, "BTCUSDT"): Decimal("0.003")}
                ),
                what="the bot's own position",
            )
            manual = external_ids()
            for exec_id in manual:
                argv = ["fills", "assign", exec_id, "--bot", A.bot_id, "--reason", "by hand"]
                assert main(argv) == 0
            printed = capsys.readouterr().out.splitlines()
            assert printed == [f"fill {e} (main BTCUSDT) assigned to {A.bot_id}" for e in manual]
            assert external_ids() == []
            _wait(
                lambda: (
                    redis_positions(database.stack, (A,))
                    == {(A.bot_id, "BTCUSDT"): Decimal("0.005")}
                ),
                what="the claimed fill in the bot's Redis position",
            )
            assert _exchange_position(ex, "main") == Decimal("0.005")
            with database.connect("readonly") as conn:
                views = dict(
                    conn.execute(
                        "SELECT bot_id, qty FROM analytics.bot_positions WHERE symbol = 'BTCUSDT'"
                        " AND qty <> 0"
                    ).fetchall()
                )
            assert views == {A.bot_id: Decimal("0.005")}
        finally:
            stop.set()
            runner.join(30)
