"""Parsing the exchange's execution and order items: exact decimals, UTC times, strict."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.fills import (
    Execution,
    Fill,
    FundingPayment,
    MalformedMessage,
    Side,
    ms_to_utc,
    parse_execution,
    parse_order,
    utc_to_ms,
)
from core.ids import AccountName, BotId

MAIN = AccountName("main")

# Bybit's documented execution example (docs/bybit.md#executions), with our link id.
EXECUTION = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "closedSize": "0.5",
    "execFee": "26.3725275",
    "execId": "0ab1bdf7-4219-438b-b30a-32ec863018f7",
    "execPrice": "95900.1",
    "execQty": "0.5",
    "execType": "Trade",
    "execValue": "47950.05",
    "feeRate": "0.00055",
    "markPrice": "95901.48",
    "leavesQty": "0",
    "orderId": "9aac161b-8ed6-450d-9cab-c5cc67c21784",
    "orderLinkId": "ss1-sl-mi3k9q2a-1f",
    "orderPrice": "94942.5",
    "orderQty": "0.5",
    "orderType": "Market",
    "stopOrderType": "UNKNOWN",
    "side": "Sell",
    "execTime": "1746270400353",
    "isLeverage": "0",
    "isMaker": False,
    "seq": 140612148849382,
    "execPnl": "0.05",
    "feeCurrency": "USDT",
}


def test_execution_numbers_are_exact_decimals_from_the_strings() -> None:
    execution = parse_execution(EXECUTION, MAIN, "ws")
    assert execution.exec_price == Decimal("95900.1")
    assert execution.exec_fee == Decimal("26.3725275")
    assert execution.exec_value == Decimal("47950.05")
    assert execution.side is Side.SELL and execution.signed_qty == Decimal("-0.5")
    assert execution.exec_time == datetime(2025, 5, 3, 11, 6, 40, 353000, tzinfo=UTC)
    assert execution.seq == 140612148849382
    assert execution.source == "ws" and not execution.is_funding


def test_fill_carries_the_reason_decoded_from_the_link_id() -> None:
    fill = Fill.of(parse_execution(EXECUTION, MAIN, "rest"), BotId("shortseller_001"))
    assert fill.reason == "sl" and fill.bot_id == "shortseller_001"
    assert fill.exec_id == EXECUTION["execId"] and fill.source == "rest"


def test_funding_keeps_bybit_sign() -> None:
    item = dict(EXECUTION, execType="Funding", execFee="-0.25", orderLinkId="", orderType="UNKNOWN")
    funding = FundingPayment.of(parse_execution(item, MAIN, "ws"), BotId("external"))
    assert funding.funding_fee == Decimal("-0.25")
    assert funding.position_qty == Decimal("0.5")


def test_milliseconds_round_trip_exactly() -> None:
    for ms in (1, 1746270400353, 1700000000999):
        assert utc_to_ms(ms_to_utc(str(ms))) == ms


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"execId": None}, "missing field execId"),
        ({"execId": ""}, "execId is empty"),
        ({"execPrice": 95900.1}, "must be a decimal string"),
        ({"execQty": "abc"}, "not a decimal"),
        ({"execQty": "NaN"}, "not finite"),
        ({"execQty": "-1"}, "must not be negative"),
        ({"side": "Long"}, "Buy or Sell"),
        ({"execTime": "soon"}, "not epoch milliseconds"),
        ({"execTime": None}, "epoch milliseconds"),
        ({"isMaker": "false"}, "boolean"),
        ({"symbol": "btc/usdt"}, "not a symbol"),
        ({"seq": "x"}, "not an integer"),
    ],
)
def test_malformed_executions_are_refused_with_a_reason(change: dict, reason: str) -> None:
    item = copy.deepcopy(EXECUTION)
    for key, value in change.items():
        if value is None:
            item.pop(key)
        else:
            item[key] = value
    with pytest.raises(MalformedMessage, match=reason):
        parse_execution(item, MAIN, "ws")


def test_non_object_items_are_refused() -> None:
    with pytest.raises(MalformedMessage):
        parse_execution(["not", "an", "object"], MAIN, "ws")  # type: ignore[arg-type]


def test_order_update_parses_terminal_state() -> None:
    item = {
        "symbol": "BTCUSDT",
        "orderId": "o-1",
        "side": "Buy",
        "orderType": "Limit",
        "cancelType": "UNKNOWN",
        "price": "100.5",
        "qty": "2",
        "timeInForce": "GTC",
        "orderStatus": "Filled",
        "orderLinkId": "ss1-en-mi3k9q2a-1f",
        "reduceOnly": False,
        "cumExecQty": "2",
        "cumExecValue": "201",
        "avgPrice": "100.5",
        "triggerPrice": "",
        "createdTime": "1672364262444",
        "updatedTime": "1672364262457",
        "rejectReason": "EC_NoError",
        "category": "linear",
    }
    order = parse_order(item, MAIN)
    assert order.is_terminal and order.price == Decimal("100.5") and order.trigger_price is None
    assert order.updated_time == datetime(2022, 12, 30, 1, 37, 42, 457000, tzinfo=UTC)
    with pytest.raises(MalformedMessage, match="orderStatus"):
        parse_order({**item, "orderStatus": ""}, MAIN)


def test_fill_of_builds_the_same_frozen_fill_as_the_constructor():
    execution = parse_execution(EXECUTION, MAIN, "ws")
    fast = Fill.of(execution, BotId("shortseller_001"), None)
    fields = {name: getattr(execution, name) for name in Execution.__dataclass_fields__}
    plain = Fill(**fields, bot_id=BotId("shortseller_001"), reason=None)
    assert fast == plain and hash(fast) == hash(plain) and repr(fast) == repr(plain)
    assert fast.raw is execution.raw
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.bot_id = BotId("other")  # type: ignore[misc]
