"""The order manager against the paper exchange with the real pybit client."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from core.config import AccountCredentials, BybitEnv, load_settings
from core.exchange import make_http
from core.exchange.rest import instruments as fetch_instruments
from core.ids import AccountName, BotCode, BotId
from core.instruments import Instrument
from core.link_ids import decode
from core.orders import OrderBook, OrderManager, Outcome
from core.strategy import (
    AmendStop,
    CancelOrder,
    EnterLimit,
    EnterMarket,
    ExitMarket,
    PlaceStop,
    PlaceTakeProfit,
    Reason,
    TriggerDirection,
)
from paper_exchange.testing import running_exchange

BOT = BotId("shortseller_001")
CODE = BotCode("ss1")


@pytest.fixture
def exchange() -> Iterator:
    with running_exchange(accounts=[("main", "ord-key", "ord-secret", "100000")], seed=3) as ex:
        ex.control.price("BTCUSDT", "60000")
        yield ex


def _http(exchange):
    base = load_settings()
    bybit = base.bybit.model_copy(update={"env": BybitEnv.PAPER, "rest_url": exchange.rest_url})
    main = AccountName("main")
    creds = AccountCredentials(main, SecretStr("ord-key"), SecretStr("ord-secret"))
    settings = dataclasses.replace(base, bybit=bybit, accounts={main: creds})
    return make_http(settings, main, retry_delay=0.05)


def _manager(
    exchange, redis, *, exclusive: bool = False, code: BotCode = CODE, smp_type: str | None = None
) -> OrderManager:
    http = _http(exchange)
    rules = {i["symbol"]: Instrument.from_bybit(i) for i in fetch_instruments(http)}
    book = OrderBook(redis, BotId(f"bot_{code}"))
    return OrderManager(
        http, BotId(f"bot_{code}"), code, book, rules, exclusive=exclusive, backoff=0.01,
        smp_type=smp_type,
    )  # fmt: skip


def _orders(exchange) -> list[dict]:
    return exchange.control.dump("main")["orders"]


def test_entry_is_sent_with_a_link_id_carrying_the_bot_code(exchange, redis) -> None:
    om = _manager(exchange, redis)
    result = om.execute(
        EnterMarket("i1", "BTCUSDT", "Sell", Decimal("0.0105")), price_hint=Decimal("60000")
    )
    assert result.outcome is Outcome.PLACED
    decoded = decode(result.link_id)
    assert decoded is not None and decoded.bot_code == CODE and decoded.reason is not None
    executions = exchange.control.dump("main")["executions"]
    assert [e["orderLinkId"] for e in executions] == [result.link_id]
    assert Decimal(executions[0]["execQty"]) == Decimal("0.010")  # floored to qtyStep 0.001
    # Remembered before sending, so a restarted bot finds it again.
    reloaded = OrderBook(redis, om.bot_id)
    reloaded.load()
    assert reloaded.by_intent["i1"].link_id == result.link_id


def test_an_entry_below_the_minimums_is_skipped_not_rounded_up(exchange, redis) -> None:
    om = _manager(exchange, redis)
    result = om.execute(
        EnterMarket("i1", "BTCUSDT", "Buy", Decimal("0.0004")), price_hint=Decimal("60000")
    )
    assert result.outcome is Outcome.SKIPPED
    assert exchange.control.dump("main")["executions"] == []


def test_a_retry_after_a_server_error_places_the_order_once(exchange, redis) -> None:
    om = _manager(exchange, redis)
    exchange.control._request(  # ``path`` clashes with post()'s own parameter
        "POST", "/paper/faults/rest", {"count": 2, "ret_code": 10016, "path": "/v5/order/create"}
    )
    result = om.execute(EnterLimit("i1", "BTCUSDT", "Buy", Decimal("0.01"), Decimal("50000.05")))
    assert result.outcome is Outcome.PLACED
    resting = [o for o in _orders(exchange) if o["orderLinkId"] == result.link_id]
    assert len(resting) == 1
    assert Decimal(resting[0]["price"]) == Decimal("50000")  # a buy limit rounds down to the tick


def test_a_duplicate_link_id_means_already_placed(exchange, redis) -> None:
    om = _manager(exchange, redis)
    first = om.execute(EnterLimit("i1", "BTCUSDT", "Buy", Decimal("0.01"), Decimal("50000")))
    outcome, detail, _code = om._send(
        om._http.place_order,
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.01",
            "price": "50000",
            "orderLinkId": first.link_id,
        },
    )
    assert outcome is Outcome.PLACED and "110072" in detail
    assert len([o for o in _orders(exchange) if o["orderLinkId"] == first.link_id]) == 1


def test_a_rejection_is_reported_and_not_retried(exchange, redis) -> None:
    om = _manager(exchange, redis)
    result = om.execute(
        EnterMarket("i1", "BTCUSDT", "Buy", Decimal("500")), price_hint=Decimal("60000")
    )
    assert result.outcome is Outcome.REJECTED
    assert "110007" in result.detail  # 30M notional on a 100k account
    assert result.code == 110007  # the retCode itself, for the rejection notification
    assert om.book.by_intent["i1"].status == "done"


def _protect(om: OrderManager) -> tuple:
    om.execute(EnterMarket("e1", "BTCUSDT", "Sell", Decimal("0.01")), price_hint=Decimal("60000"))
    stop = om.execute(
        PlaceStop(
            "s1",
            "BTCUSDT",
            "Buy",
            Decimal("0.01"),
            Decimal("60600.03"),
            TriggerDirection.RISE,
            Reason.SL,
            "t1",
            reduce_only=True,
        )
    )
    tp = om.execute(
        PlaceTakeProfit(
            "t1",
            "BTCUSDT",
            "Buy",
            Decimal("0.01"),
            Decimal("58200"),
            TriggerDirection.FALL,
            Reason.TP,
            "s1",
            reduce_only=True,
        )
    )
    return stop, tp


def test_shared_account_bots_never_send_reduce_only(exchange, redis) -> None:
    om = _manager(exchange, redis, exclusive=False)
    stop, _ = _protect(om)
    order = next(o for o in _orders(exchange) if o["orderLinkId"] == stop.link_id)
    assert order["reduceOnly"] is False
    # A short's stop rounds toward the entry.
    assert Decimal(order["triggerPrice"]) == Decimal("60600")


def test_exclusive_bots_may_send_reduce_only(exchange, redis) -> None:
    om = _manager(exchange, redis, exclusive=True)
    stop, _ = _protect(om)
    order = next(o for o in _orders(exchange) if o["orderLinkId"] == stop.link_id)
    assert order["reduceOnly"] is True


def test_a_stop_fill_cancels_its_take_profit_sibling(exchange, redis) -> None:
    om = _manager(exchange, redis)
    stop, tp = _protect(om)
    exchange.control.price("BTCUSDT", "60700")  # triggers the stop
    fills = [
        e for e in exchange.control.dump("main")["executions"] if e["orderLinkId"] == stop.link_id
    ]
    assert fills, "the stop should have triggered and filled"
    cancels = om.on_fill(stop.link_id, Decimal(fills[0]["execQty"]))
    assert [c.intent_id for c in cancels] == ["t1"]
    assert om.execute(cancels[0]).outcome is Outcome.CANCELLED
    tp_order = next(o for o in _orders(exchange) if o["orderLinkId"] == tp.link_id)
    assert tp_order["orderStatus"] in ("Cancelled", "Deactivated")


def test_trailing_amend_moves_the_trigger_and_gone_orders_are_recognised(exchange, redis) -> None:
    om = _manager(exchange, redis)
    stop, _ = _protect(om)
    resize = AmendStop("s1", "BTCUSDT", qty=Decimal("0.02"), reason=Reason.ENTRY)
    assert om.execute(resize).outcome is Outcome.AMENDED
    assert om.book.by_intent["s1"].reason == Reason.SL.value  # a new size is no new reason
    assert om.execute(AmendStop("s1", "BTCUSDT", Decimal("60300"))).outcome is Outcome.AMENDED
    order = next(o for o in _orders(exchange) if o["orderLinkId"] == stop.link_id)
    assert Decimal(order["triggerPrice"]) == Decimal("60300")
    # The link id still says "sl"; the order remembers it now stands where a trail put it.
    assert stop.link_id.split("-")[1] == "sl"
    assert om.book.by_intent["s1"].reason == Reason.TRAIL.value
    assert om.execute(CancelOrder("s1", "BTCUSDT", Reason.TRAIL)).outcome is Outcome.CANCELLED
    assert om.execute(CancelOrder("s1", "BTCUSDT", Reason.TRAIL)).outcome is Outcome.GONE


def test_cancel_own_leaves_the_other_bots_orders_alone(exchange, redis) -> None:
    mine = _manager(exchange, redis, code=BotCode("ss1"))
    theirs = _manager(exchange, redis, code=BotCode("lx1"))
    mine.execute(EnterLimit("a", "BTCUSDT", "Buy", Decimal("0.01"), Decimal("50000")))
    other = theirs.execute(EnterLimit("b", "BTCUSDT", "Buy", Decimal("0.01"), Decimal("50001")))
    assert mine.cancel_own(["BTCUSDT"]) == 1
    open_links = {o["orderLinkId"] for o in _orders(exchange) if o["orderStatus"] == "New"}
    assert open_links == {other.link_id}


def test_reconcile_forgets_orders_that_no_longer_rest(exchange, redis) -> None:
    om = _manager(exchange, redis)
    om.execute(EnterLimit("a", "BTCUSDT", "Buy", Decimal("0.01"), Decimal("50000")))
    om.execute(ExitMarket("x", "BTCUSDT", "Sell", Decimal("0.01")), price_hint=Decimal("60000"))
    restarted = _manager(exchange, redis)
    resting = restarted.reconcile(["BTCUSDT"])
    assert [t.intent_id for t in resting] == ["a"]


def test_every_placement_carries_the_bots_smp_type(exchange, redis) -> None:
    om = _manager(exchange, redis, smp_type="CancelMaker")
    om.execute(EnterLimit("a", "BTCUSDT", "Buy", Decimal("0.01"), Decimal("59000")))
    om.execute(
        PlaceStop("s", "BTCUSDT", "Sell", Decimal("0.01"), Decimal("58000"), TriggerDirection.FALL)
    )
    om.execute(EnterMarket("m", "BTCUSDT", "Buy", Decimal("0.01")), price_hint=Decimal("60000"))
    assert [o["smpType"] for o in _orders(exchange)] == ["CancelMaker"] * 3
    # Without one (a bare OrderManager), nothing is sent: Bybit's default, None.
    _manager(exchange, redis, code=BotCode("ot1")).execute(
        EnterLimit("b", "BTCUSDT", "Buy", Decimal("0.01"), Decimal("59000"))
    )
    assert _orders(exchange)[-1]["smpType"] == "None"


def test_an_answer_is_written_with_the_next_order_and_a_restart_before_it_loses_nothing(
    exchange, redis
) -> None:
    """The exchange's answer to a placement or cancel is noted, not written at once
    (one Redis round trip fewer before a decision's next order): it reaches Redis with
    the next order's write or the flush, and a restart in between re-derives it."""
    om = _manager(exchange, redis)

    def stored() -> dict[str, str]:
        book = OrderBook(redis, om.bot_id)
        book.load()
        return {k: t.status for k, t in book.by_intent.items()}

    om.execute(EnterLimit("a", "BTCUSDT", "Buy", Decimal("0.01"), Decimal("50000")))
    assert om.book.by_intent["a"].status == "open"  # what the bot acts on: at once
    assert stored() == {"a": "sending"}  # written before sending; the answer only noted
    om.execute(CancelOrder("a", "BTCUSDT", Reason.MANUAL))
    om.execute(EnterLimit("b", "BTCUSDT", "Buy", Decimal("0.01"), Decimal("49000")))
    assert stored() == {"a": "done", "b": "sending"}  # the cancel's answer went with b
    # A crash now: the restart takes b's state from the exchange, where it rests.
    restarted = _manager(exchange, redis)
    assert [t.intent_id for t in restarted.reconcile(["BTCUSDT"])] == ["b"]
    assert stored() == {"b": "open"}
    om.book.flush()
    assert stored()["b"] == "open"
