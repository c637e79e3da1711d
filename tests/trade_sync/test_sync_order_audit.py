"""Order states the WebSocket never delivered reach ``trading.orders`` after one order
audit, exactly once, written by the listener (trade sync only hands them over).

While the listener is down, four orders reach a terminal state on the paper exchange:

* A — placed while the listener ran (ledger: New), cancelled while it was down;
* B — placed while the listener ran (ledger: New), filled while it was down;
* C — placed and cancelled while it was down (the ledger never heard of it);
* D — a market order placed while it was down (Filled).

The restarted listener's catch-up reads executions only, so B's and D's fills arrive
but none of the four orders' terminal states do. Real pieces end to end: pybit against
the paper exchange, the real listener writing through PgBouncer, Redis hand-over.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from sync_helpers import (
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
from core.redis_keys import HANDOVER, HANDOVER_GROUP
from paper_exchange.testing import running_exchange
from trade_sync.jobs import order_audit
from trade_sync.runs import run_job

ACCOUNTS = [("main", "main-key-05", "main-secret-05")]
SYMBOL = "BTCUSDT"


def _orders(database) -> dict[str, tuple[str, str, Decimal]]:
    """order_id → (status, bot_id, cum_exec_qty) of every trading.orders row."""
    with database.connect("readonly") as conn:
        rows = conn.execute(
            "SELECT order_id, status, bot_id, cum_exec_qty FROM trading.orders"
        ).fetchall()
    assert len(rows) == len({r[0] for r in rows})
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _place(http, link: LinkIdFactory, side: str, order_type: str, price: Decimal | None) -> str:
    params: dict[str, Any] = {"category": "linear", "symbol": SYMBOL, "side": side,
                              "orderType": order_type, "qty": "0.001",
                              "orderLinkId": link.new(Reason.ENTRY)}  # fmt: skip
    if price is not None:
        params["price"] = str(price)
    reply = http.place_order(**params)
    assert reply["retCode"] == 0, reply
    return str(reply["result"]["orderId"])


def _audit(ctx):
    return run_job(ctx, order_audit.NAME, "main", lambda: order_audit.run(ctx, "main"))


def test_terminal_order_states_missed_while_the_listener_was_down(
    database, redis, tmp_path
) -> None:
    register_bots(database)
    with running_exchange(accounts=ACCOUNTS, seed=25) as ex:
        settings = sync_settings(database, ex, tmp_path)
        ctx = context(settings)
        http = make_http(settings, "main")
        link = LinkIdFactory("aa1")  # alpha_one
        ticker = http.get_tickers(category="linear", symbol=SYMBOL)["result"]["list"][0]
        last = Decimal(ticker["lastPrice"])

        def below(fraction: str) -> Decimal:
            return (last * Decimal(fraction)).quantize(Decimal(1), rounding=ROUND_DOWN)

        with running_listener(settings):
            order_a = _place(http, link, "Buy", "Limit", below("0.80"))
            order_b = _place(http, link, "Buy", "Limit", below("0.90"))
            wait_for(lambda: {o: s[0] for o, s in _orders(database).items()}
                     == {order_a: "New", order_b: "New"}, what="A and B as New")  # fmt: skip

        # The listener is down: nothing the exchange pushes now reaches it.
        reply = http.cancel_order(category="linear", symbol=SYMBOL, orderId=order_a)
        assert reply["retCode"] == 0, reply
        ex.control.price(SYMBOL, below("0.90"))  # trades through B's limit: B fills
        order_c = _place(http, link, "Buy", "Limit", below("0.70"))
        reply = http.cancel_order(category="linear", symbol=SYMBOL, orderId=order_c)
        assert reply["retCode"] == 0, reply
        order_d = _place(http, link, "Sell", "Market", None)
        exchange_state = {
            o["orderId"]: o["orderStatus"]
            for oid in (order_a, order_b, order_c, order_d)
            for o in http.get_open_orders(category="linear", orderId=oid)["result"]["list"]
        }
        assert exchange_state == {order_a: "Cancelled", order_b: "Filled",
                                  order_c: "Cancelled", order_d: "Filled"}  # fmt: skip
        produced = {e["execId"] for e in ex.control.dump("main")["executions"]}
        assert len(produced) == 2  # B's and D's fills

        with running_listener(settings) as listener:
            # Catch-up brings the fills (executions), never the orders' final states.
            wait_for(lambda: set(ledger_rows(database)) == produced, what="catch-up fills")
            assert {o: s[0] for o, s in _orders(database).items()} == {
                order_a: "New",
                order_b: "New",
            }

            outcome = _audit(ctx)
            assert outcome is not None and outcome.status == "found", outcome
            assert outcome.found == 4, outcome.details
            assert set(outcome.details["terminal_missed"]) == {order_a, order_b, order_c, order_d}
            assert outcome.details["handed_over"] == 4

            expected = {
                order_a: ("Cancelled", "alpha_one", Decimal(0)),
                order_b: ("Filled", "alpha_one", Decimal("0.001")),
                order_c: ("Cancelled", "alpha_one", Decimal(0)),
                order_d: ("Filled", "alpha_one", Decimal("0.001")),
            }
            wait_for(lambda: _orders(database) == expected, what="terminal states written")

            # Written by the listener: each hand-over entry was consumed and acknowledged
            # by its group (trade sync's role cannot write trading.orders at all).
            client = database.stack.redis(listener.settings.redis.infra_db)
            wait_for(lambda: client.xpending(HANDOVER, HANDOVER_GROUP)["pending"] == 0,
                     what="hand-over acked")  # fmt: skip
            entries = client.xrange(HANDOVER)
            assert sorted(f["kind"] for _, f in entries) == ["order"] * 4
            group = next(g for g in client.xinfo_groups(HANDOVER) if g["name"] == HANDOVER_GROUP)
            assert group["last-delivered-id"] == entries[-1][0]
            with database.connect("app") as conn:
                assert not conn.execute(
                    "SELECT has_table_privilege('trading.orders', 'INSERT')"
                ).fetchone()[0]

            # The next cycle finds nothing and hands nothing over: the steady state.
            again = _audit(ctx)
            assert again is not None and again.found == 0 and again.status == "ok", again
            assert client.xlen(HANDOVER) == 4
            assert _orders(database) == expected
            runs = sync_runs(database, order_audit.NAME)
            assert [(r["status"], r["found"]) for r in runs] == [("found", 4), ("ok", 0)]
            # The fills were not touched by any of this: still exactly the two.
            assert set(ledger_rows(database)) == produced
