"""End to end: real pybit against the paper exchange → listener → PgBouncer/PostgreSQL → Redis.

Two bots share the account ``main`` (attributed by their order link ids), a third is
alone on ``solo`` (bound account); a manual trade on ``main`` goes to ``external``.
Faults from the paper exchange — dropped, duplicated and reordered executions, sockets
closed repeatedly — must leave every execution in the ledger exactly once, and per-bot
Redis positions equal to the ledger fold and summing to the exchange's position.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from decimal import Decimal

from pydantic import SecretStr

from core.config import AccountCredentials, BybitSettings, ListenerSettings
from core.exchange.client import make_http
from core.ids import AccountName
from core.link_ids import LinkIdFactory, Reason
from paper_exchange.testing import running_exchange
from tests.websocket_listener.helpers import SHARED, SOLO, ledger, redis_positions, register_bots
from websocket_listener.service import Listener

ACCOUNTS = [("main", "main-key", "main-secret"), ("solo", "solo-key", "solo-secret")]


def _settings(database, ex, tmp_path):
    accounts = {
        AccountName(name): AccountCredentials(AccountName(name), SecretStr(k), SecretStr(s))
        for name, k, s in ACCOUNTS
    }
    return dataclasses.replace(
        database.settings,
        bybit=BybitSettings(env="paper", rest_url=ex.rest_url, ws_url=ex.ws_url),
        listener=ListenerSettings(spool_dir=tmp_path / "spool", catchup_margin_seconds=60),
        accounts=accounts,
    )


def _wait(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _exchange_executions(ex, account):
    return {row["execId"]: row for row in ex.control.dump(account)["executions"]}


def _exchange_position(ex, account, symbol="BTCUSDT"):
    for p in ex.control.dump(account)["positions"]:
        if p["symbol"] == symbol:
            size = Decimal(p["size"])
            return size if p["side"] == "Buy" else -size
    return Decimal(0)


def _place(http, link, side, qty):
    reply = http.place_order(
        category="linear", symbol="BTCUSDT", side=side, orderType="Market", qty=qty,
        orderLinkId=link,
    )  # fmt: skip
    assert reply["retCode"] == 0, reply


def _assert_exactly_once(database, ex, bot_of_link):
    rows = ledger(database)
    for account in ("main", "solo"):
        produced = _exchange_executions(ex, account)
        mine = {k for k, v in rows.items() if v[1] == account}
        assert mine == set(produced), f"{account}: ledger differs from the exchange"
        for exec_id, row in produced.items():
            bot = rows[exec_id][0]
            if account == "solo":
                assert bot == SOLO.bot_id
            else:
                assert bot == bot_of_link(row.get("orderLinkId", "")), row
    return rows


def _assert_positions(database, ex, rows):
    # Redis equals the ledger fold (summed per bot), and per account sums to the exchange.
    got = redis_positions(database.stack, (*SHARED, SOLO))
    per_bot: dict[tuple[str, str], Decimal] = {}
    with database.connect("readonly") as conn:
        for bot, symbol, qty in conn.execute(
            "SELECT bot_id, symbol, sum(CASE side WHEN 'Buy' THEN exec_qty ELSE -exec_qty END)"
            " FROM trading.fills GROUP BY bot_id, symbol"
        ):
            per_bot[(bot, symbol)] = qty
    for key, qty in got.items():
        assert qty == per_bot.get(key, Decimal(0)), key
    main_sum = sum((q for (b, _), q in per_bot.items() if b != SOLO.bot_id), Decimal(0))
    assert main_sum == _exchange_position(ex, "main")
    assert per_bot.get((SOLO.bot_id, "BTCUSDT"), Decimal(0)) == _exchange_position(ex, "solo")


def test_bots_on_a_shared_and_a_solo_account_under_socket_faults(database, redis, tmp_path):
    register_bots(database)
    with running_exchange(accounts=ACCOUNTS, seed=11) as ex:
        settings = _settings(database, ex, tmp_path)
        listener = Listener(settings)
        stop = threading.Event()
        runner = threading.Thread(target=listener.run, args=(stop,), daemon=True)
        runner.start()
        try:
            _wait(lambda: all(s.connected for s in listener.streams.values()), what="sockets")
            main, solo = make_http(settings, "main"), make_http(settings, "solo")
            links = {b.code: LinkIdFactory(b.code) for b in SHARED}
            code_to_bot = {b.code: b.bot_id for b in SHARED}

            def bot_of_link(link):
                return code_to_bot.get(link.split("-", 1)[0], "external") if link else "external"

            # Plain trading, then each fault in turn.
            for i in range(10):
                bot = SHARED[i % 2]
                _place(
                    main, links[bot.code].new(Reason.ENTRY), ("Buy", "Sell")[i % 3 == 0], "0.003"
                )
                _place(solo, "", ("Buy", "Sell")[i % 2], "0.002")
            ex.control.manual_trade("main", "BTCUSDT", "Buy", "0.001")
            ex.control.post("/paper/faults/duplicate", account="main", count=5)
            ex.control.post("/paper/faults/reorder", account="main", window=4)
            for i in range(8):
                _place(main, links[SHARED[i % 2].code].new(Reason.ENTRY), "Buy", "0.001")
            ex.control.post("/paper/faults/drop", account="main", count=3)
            ex.control.post("/paper/faults/drop", account="solo", count=2)
            for _ in range(3):
                _place(main, links[SHARED[0].code].new(Reason.STOP_LOSS), "Sell", "0.001")
                _place(solo, "", "Sell", "0.001")
            # Dropped executions come back through the catch-up that follows a reconnect.
            for _ in range(5):
                ex.control.post("/paper/faults/close-sockets", block_ms=100)
                _place(main, links[SHARED[1].code].new(Reason.ENTRY), "Buy", "0.001")
                _wait(lambda: all(s.connected for s in listener.streams.values()), what="reconnect")
            ex.control.clear_faults()

            def caught_up():
                rows = ledger(database)
                return all(set(_exchange_executions(ex, a)) <= set(rows) for a in ("main", "solo"))

            _wait(caught_up, timeout=60, what="every execution in the ledger")
            listener.pipeline.flush(10)
            rows = _assert_exactly_once(database, ex, bot_of_link)
            assert len(rows) >= 40  # one or more executions per order
            assert "external" in {v[0] for v in rows.values()}
            _wait(lambda: bool(redis_positions(database.stack, SHARED)), what="redis")
            _assert_positions(database, ex, rows)

            # Redis flushed: the listener notices and rebuilds from the ledger.
            before = redis_positions(database.stack, (*SHARED, SOLO))
            database.stack.redis(0).flushall()
            _wait(lambda: redis_positions(database.stack, (*SHARED, SOLO)) == before,
                  timeout=20, what="positions rebuilt after a flush")  # fmt: skip
        finally:
            stop.set()
            runner.join(30)
