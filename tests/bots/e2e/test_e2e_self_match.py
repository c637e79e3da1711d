"""Two bots on one shared account whose orders cross each other (issue 16: "a
self-crossing pair of orders from two bots does not trade").

The order-block bot rests a limit buy at its block's top (61200). The market comes down
to one tick above it, so that buy is the best bid: a market sell of the webhook bot on
the same account meets it before any other bid. With the bots' default ``smpType``
(``CancelMaker``) the exchange cancels the resting buy and the sell trades with the rest
of the market: no execution between the two bots reaches the ledger, and the order-block
bot learns from the ledger's order record that its entry is gone and frees it. With
``smpType`` ``None`` they do trade (a wash trade), and each bot's execution is its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core import redis_keys, signals
from tests.bots.e2e.harness import SYMBOL, D, flat_bars, stack, wait
from tests.bots.e2e.test_e2e_orderblock import VECTOR

OB, WH = "ob_smp", "wh_smp"
ENTRY = D("61200")  # the block's top: where the order-block bot's buy rests
QTY = Decimal("0.01")


def _bars() -> list[Any]:
    bars = [tuple(D(x) * 600 for x in b) for b in VECTOR[:7]]  # bar 6 places the buy
    above = ENTRY + D("0.1")  # one tick above the resting buy: it stays the best bid
    bars.append((bars[-1][3], bars[-1][3], above, above))
    return bars + flat_bars(above, 20)


def _sell_signal(s: Any) -> None:
    """The webhook bot sells ``QTY`` at market, as an alert would have it do."""
    signal = signals.parse({
        "id": "smp-1", "action": "enter_short", "symbol": SYMBOL, "qty": str(QTY),
        "time": datetime.now(UTC).isoformat(),
    })  # fmt: skip
    s.command(WH, signals.COMMAND, **signal.fields())
    wait(lambda: any(o["orderLinkId"].startswith("wh5-") for o in s.orders()), what="the sell")
    s.settle()


def _order_row(database: Any, link: str) -> tuple[Any, ...]:
    with database.connect("readonly") as conn:
        row = conn.execute(
            "SELECT bot_id, status, cancel_type, raw->>'smpOrderId' FROM trading.orders"
            " WHERE order_link_id = %s",
            (link,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def _start(s: Any, webhook_config: dict[str, Any]) -> dict[str, Any]:
    s.register(OB, "ob5", "orderblock", {"pivot_len": 2}, redis_db=4)
    s.register(WH, "wh5", "webhook", {"symbols": [SYMBOL], **webhook_config}, redis_db=5)
    s.start_bot(OB)
    s.start_bot(WH)
    s.play()  # bar 6: the bullish block; the buy rests at its top
    (entry,) = s.open_orders(OB)
    assert (entry["side"], D(entry["price"]), entry["smpType"]) == ("Buy", ENTRY, "CancelMaker")
    s.play()  # bar 7 comes down to one tick above it
    assert [o["orderId"] for o in s.open_orders(OB)] == [entry["orderId"]]
    return entry  # type: ignore[no-any-return]


def test_with_the_default_smp_type_the_crossing_orders_do_not_trade(database, redis, tmp_path):
    with stack(database, tmp_path, _bars(), history=6) as s:
        entry = _start(s, {})
        _sell_signal(s)

        (sell,) = [o for o in s.orders() if o["orderLinkId"].startswith("wh5-")]
        assert (sell["smpType"], sell["orderStatus"]) == ("CancelMaker", "Filled")
        # The resting buy was cancelled by self-match prevention, not filled.
        assert s.open_orders(OB) == []
        assert _order_row(database, entry["orderLinkId"]) == (
            OB, "Cancelled", "CancelBySmp", sell["orderId"],
        )  # fmt: skip
        # Nothing of the order-block bot reaches the ledger; the sell traded with the
        # market below the cancelled bid (a taker, one execution).
        assert s.fills(OB) == []
        (fill,) = s.fills(WH)
        assert (fill.side, fill.qty, fill.price) == ("Sell", QTY, ENTRY)
        executions = s.ex.control.dump("main")["executions"]
        assert [(e["orderId"], e["isMaker"]) for e in executions] == [(sell["orderId"], False)]
        assert (s.qty(OB), s.qty(WH)) == (0, -QTY)

        # On its next candle the order-block bot reads the cancel from the ledger: the
        # order is forgotten and the strategy no longer waits on that entry.
        s.play()
        ob = s.bots[OB].host
        assert not any(t.open for t in ob.orders.book.by_intent.values())
        stored = s.bot_redis(OB).hvals(redis_keys.order_book(OB))  # type: ignore[arg-type]
        assert all('"status": "done"' in raw for raw in stored)
        assert ob.strategy.book.get(SYMBOL) is None  # type: ignore[attr-defined]


def test_with_smp_type_none_the_bots_wash_trade_each_with_its_own_fill(database, redis, tmp_path):
    with stack(database, tmp_path, _bars(), history=6) as s:
        entry = _start(s, {"smp_type": "None"})
        _sell_signal(s)

        (sell,) = [o for o in s.orders() if o["orderLinkId"].startswith("wh5-")]
        assert (sell["smpType"], sell["orderStatus"]) == ("None", "Filled")
        # Two executions of the one account at the resting buy's price, each attributed
        # by its own link id to its own bot: nothing merged or dropped as a duplicate.
        (buy_fill,) = s.fills(OB)
        (sell_fill,) = s.fills(WH)
        assert (buy_fill.side, buy_fill.qty, buy_fill.price) == ("Buy", QTY, ENTRY)
        assert (sell_fill.side, sell_fill.qty, sell_fill.price) == ("Sell", QTY, ENTRY)
        assert buy_fill.link == entry["orderLinkId"] and sell_fill.link == sell["orderLinkId"]
        assert buy_fill.exec_id != sell_fill.exec_id
        assert (s.qty(OB), s.qty(WH)) == (QTY, -QTY)  # the exchange's net is flat
        # The rest of the buy still rests; the filled part got its stop and take profit.
        resting = {o["orderLinkId"].split("-")[1]: o for o in s.open_orders(OB)}
        assert set(resting) == {"en", "sl", "tp"}
        assert resting["en"]["orderStatus"] == "PartiallyFilled"
        assert D(resting["sl"]["qty"]) == QTY
