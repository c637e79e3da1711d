"""A market order that walks a thin book: several executions, each in the ledger once.

Real pybit against the paper exchange with a realistic, thin BTCUSDT book: the order is
larger than the top level, so it fills in several executions at increasing prices, and
the listener must record every one of them exactly once in ``trading.fills``.
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
from tests.websocket_listener.helpers import SHARED, ledger, register_bots
from websocket_listener.service import Listener

ACCOUNTS = [("main", "main-key", "main-secret")]


def _wait(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_walking_market_order_lands_each_execution_once(database, redis, tmp_path):
    register_bots(database, SHARED)
    # About 600 USDT at the touch: a 0.03 BTC order eats two levels and part of a third.
    thin = {"BTCUSDT": Decimal(600)}
    with running_exchange(accounts=ACCOUNTS, seed=5, liquidity="realistic", depth=thin) as ex:
        settings = dataclasses.replace(
            database.settings,
            bybit=BybitSettings(env="paper", rest_url=ex.rest_url, ws_url=ex.ws_url),
            listener=ListenerSettings(spool_dir=tmp_path / "spool", catchup_margin_seconds=60),
            accounts={
                AccountName(n): AccountCredentials(AccountName(n), SecretStr(k), SecretStr(s))
                for n, k, s in ACCOUNTS
            },
        )
        listener = Listener(settings)
        stop = threading.Event()
        runner = threading.Thread(target=listener.run, args=(stop,), daemon=True)
        runner.start()
        try:
            _wait(lambda: all(s.connected for s in listener.streams.values()), what="sockets")
            http = make_http(settings, "main")
            bot = SHARED[0]
            reply = http.place_order(
                category="linear", symbol="BTCUSDT", side="Buy", orderType="Market",
                qty="0.030", orderLinkId=LinkIdFactory(bot.code).new(Reason.ENTRY),
            )  # fmt: skip
            oid = reply["result"]["orderId"]
            fills = http.get_executions(category="linear", orderId=oid)["result"]["list"]
            assert len(fills) >= 3 and len({f["execId"] for f in fills}) == len(fills)
            by_time = sorted(fills, key=lambda f: (int(f["execTime"]), Decimal(f["execPrice"])))
            prices = [Decimal(f["execPrice"]) for f in by_time]
            assert prices == sorted(prices) and len(set(prices)) == len(prices)
            assert sum(Decimal(f["execQty"]) for f in fills) == Decimal("0.030")

            exec_ids = {f["execId"] for f in fills}
            _wait(lambda: exec_ids <= set(ledger(database)), what="the executions in the ledger")
            listener.pipeline.flush(10)
            rows = ledger(database)  # asserts no exec_id is there twice
            assert exec_ids == set(rows)
            assert all(rows[e][0] == bot.bot_id and rows[e][1] == "main" for e in exec_ids)
            with database.connect("readonly") as conn:
                stored = dict(
                    conn.execute("SELECT exec_id, exec_price FROM trading.fills").fetchall()
                )
            assert {e: Decimal(f["execPrice"]) for e, f in ((f["execId"], f) for f in fills)} == {
                e: Decimal(p) for e, p in stored.items()
            }
        finally:
            stop.set()
            runner.join(30)
