"""Parsing the exchange's execution and order items: exact decimals, UTC times, strict."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.exchange_fields import (
    MAX_FRACTION_DIGITS,
    MAX_INTEGER_DIGITS,
    MalformedMessage,
    ms_to_utc,
    utc_to_ms,
)
from core.exchange_parsing import parse_execution, parse_order
from core.fills import Execution, Fill, FundingPayment, Side, settle_coin
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
        ({"execId": None}, "missing_field: missing field execId"),
        ({"execId": ""}, "empty_field: field execId"),
        ({"execId": "abc\n"}, "bad_value: field execId has control characters"),
        ({"execPrice": 95900.1}, "not_a_string: field execPrice must be a decimal string"),
        ({"execQty": "abc"}, "bad_number: field execQty"),
        ({"execQty": "NaN"}, "bad_number"),
        ({"execQty": "-1"}, "negative: field execQty"),
        ({"side": "Long"}, "Buy or Sell"),
        ({"execTime": "soon"}, "not epoch milliseconds"),
        ({"execTime": None}, "missing_field: missing field execTime"),
        ({"isMaker": "false"}, "boolean"),
        ({"symbol": "btc/usdt"}, "not a symbol"),
        ({"seq": "x"}, "not an integer"),
        # What the adversarial check found parsed into money:
        ({"execPrice": None}, "missing_field: missing field execPrice"),
        ({"execPrice": ""}, "empty_field: field execPrice"),
        ({"execPrice": "0"}, "zero_price"),
        ({"execPrice": "0.000"}, "zero_price"),
        ({"execFee": None}, "missing_field: missing field execFee"),
        ({"execFee": ""}, "empty_field: field execFee"),
        ({"execType": None}, "missing_field: missing field execType"),
        ({"execType": ""}, "unknown_exec_type"),
        ({"execType": "trade"}, "unknown_exec_type"),
        ({"execType": "TRADE"}, "unknown_exec_type"),
        ({"execType": "funding"}, "unknown_exec_type"),
        ({"execType": "Liquidation"}, "unknown_exec_type"),
        ({"execType": "CorporateAction"}, "unsupported_exec_type"),
        ({"execType": "UNKNOWN"}, "unsupported_exec_type"),
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


#: Numeric strings Bybit never sends, each of which ``Decimal()`` or ``int()`` would take.
NOT_BYBIT_NUMBERS = [
    " 0.5", "0.5 ", "\t0.5", "0.5\n", "\u00a00.5",  # whitespace, a no-break space
    "1_000", "1,000", "1 000", "1'000",  # digit separators
    "\u0661\u0662", "\uff11\uff12", "\u0967",  # Arabic-Indic, full-width, Devanagari digits
    "1e3", "1E-8", "5e0",  # exponents
    "NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf",  # not numbers
    "+0.5",  # a sign Bybit never writes
    ".5", "5.", "00.5", "007", "0x10", "1/2", "--1", "",
]  # fmt: skip


@pytest.mark.parametrize("field", ["execPrice", "execQty", "execFee", "execValue"])
@pytest.mark.parametrize("text", NOT_BYBIT_NUMBERS)
def test_numbers_bybit_never_sends_are_refused(field: str, text: str) -> None:
    item = dict(EXECUTION, **{field: text})
    if text == "" and field == "execValue":
        assert parse_execution(item, MAIN, "ws").exec_value == Decimal("47950.05")  # derived
        return
    with pytest.raises(MalformedMessage) as refused:
        parse_execution(item, MAIN, "ws")
    assert refused.value.code in {"bad_number", "empty_field", "too_many_digits"}, refused.value


@pytest.mark.parametrize("field", ["execTime", "seq"])
@pytest.mark.parametrize("text", [" 17", "+17", "1_700", "\u0661\u0667", "17 ", "1e3", "-1"])
def test_integers_bybit_never_sends_are_refused(field: str, text: str) -> None:
    with pytest.raises(MalformedMessage, match=field):
        parse_execution(dict(EXECUTION, **{field: text}), MAIN, "ws")


@pytest.mark.parametrize("field", ["execPrice", "execQty", "execValue"])
def test_a_sign_is_refused_where_bybit_never_sends_one(field: str) -> None:
    with pytest.raises(MalformedMessage, match=f"negative: field {field}"):
        parse_execution(dict(EXECUTION, **{field: "-1"}), MAIN, "ws")


def test_beyond_bybit_scales_is_refused_and_at_the_bound_is_exact() -> None:
    at_bound = "1" * MAX_INTEGER_DIGITS + "." + "7" * MAX_FRACTION_DIGITS
    assert parse_execution(dict(EXECUTION, execFee=at_bound), MAIN, "ws").exec_fee == Decimal(
        at_bound
    )
    for text in ("1" * (MAX_INTEGER_DIGITS + 1), "0." + "1" * (MAX_FRACTION_DIGITS + 1)):
        with pytest.raises(MalformedMessage, match="too_many_digits"):
            parse_execution(dict(EXECUTION, execFee=text), MAIN, "ws")


def test_what_bybit_legitimately_sends_empty_or_zero_is_accepted() -> None:
    # A maker rebate is a negative fee; a fee of 0 happens; every execType of Bybit's enum
    # that moves a position at a price is a trade.
    assert parse_execution(dict(EXECUTION, execFee="-0.0012"), MAIN, "ws").exec_fee < 0
    assert parse_execution(dict(EXECUTION, execFee="0"), MAIN, "ws").exec_fee == 0
    for exec_type in ("Trade", "AdlTrade", "BustTrade", "Delivery", "Settle", "BlockTrade",
                      "MovePosition", "FutureSpread"):  # fmt: skip
        assert parse_execution(dict(EXECUTION, execType=exec_type), MAIN, "ws").exec_type
    # Funding: the price may be empty or 0, the fee and the rate signed.
    for price in ("", "0", "95901.48"):
        item = dict(EXECUTION, execType="Funding", execPrice=price, execFee="-0.25",
                    feeRate="-0.0001", execValue="")  # fmt: skip
        funding = FundingPayment.of(parse_execution(item, MAIN, "rest"), BotId("external"))
        assert funding.funding_fee == Decimal("-0.25") and funding.fee_rate == Decimal("-0.0001")
    # REST items have no category; older ones an empty feeCurrency: the settle coin.
    item = {k: v for k, v in EXECUTION.items() if k != "category"}
    execution = parse_execution(dict(item, feeCurrency=""), MAIN, "rest")
    assert (execution.category, execution.fee_currency) == ("linear", "USDT")
    assert execution.counted_fee == Decimal("26.3725275")


def test_a_fee_in_another_coin_is_kept_but_not_counted() -> None:
    execution = parse_execution(dict(EXECUTION, feeCurrency="BTC", execFee="0.0000012"), MAIN, "ws")
    assert execution.fee_currency == "BTC" and execution.exec_fee == Decimal("0.0000012")
    assert execution.counted_fee == 0
    usdc = parse_execution(dict(EXECUTION, symbol="ETHPERP", feeCurrency=""), MAIN, "ws")
    assert usdc.fee_currency == "USDC" and usdc.counted_fee == Decimal("26.3725275")
    for bad in ("usdt", "US DT", "₮"):
        with pytest.raises(MalformedMessage, match="feeCurrency"):
            parse_execution(dict(EXECUTION, feeCurrency=bad), MAIN, "ws")


@pytest.mark.parametrize(
    ("category", "symbol", "coin"),
    [("linear", "BTCUSDT", "USDT"), ("linear", "ETHPERP", "USDC"), ("linear", "SOLUSDC", "USDC"),
     ("inverse", "BTCUSD", "BTC"), ("linear", "BTCUSD", None), ("spot", "BTCUSDT", None)],
)  # fmt: skip
def test_settle_coin(category: str, symbol: str, coin: str | None) -> None:
    assert settle_coin(category, symbol) == coin


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


# Bybit writes an unfilled order's "no value" several ways (docs/bybit.md#empty-and-zero):
# avgPrice "" (the order topic and the field tables) or "0" (the REST examples), an
# unset trigger "0.00" (REST examples), "0" or "" (topic); quantities "0.00" at the
# step's decimals. Each form means the same, and "none" is None, never a price of 0.
UNFILLED = {
    "symbol": "ETHUSDT",
    "orderId": "o-2",
    "side": "Buy",
    "orderType": "Limit",
    "price": "1600.00",
    "qty": "0.10",
    "orderStatus": "New",
    "reduceOnly": False,
    "cumExecValue": "0",
    "createdTime": "1684738540559",
    "updatedTime": "1684738540561",
}


@pytest.mark.parametrize(
    ("avg_price", "trigger_price", "cum_qty"),
    [
        ("", "", "0"),
        ("0", "0.00", "0.00"),  # Bybit's open-order example
        ("0", "0", "0.000"),
        ("0.00", "0", "0"),
        ("", "0", "0.00"),  # the order topic's forms on the paper exchange
    ],
)
def test_an_unfilled_orders_empty_and_zero_forms_mean_none(
    avg_price: str, trigger_price: str, cum_qty: str
) -> None:
    item = dict(UNFILLED, avgPrice=avg_price, triggerPrice=trigger_price, cumExecQty=cum_qty)
    order = parse_order(item, MAIN)
    assert order.avg_price is None and order.trigger_price is None
    assert order.cum_exec_qty == 0 and order.price == Decimal("1600.00")


def test_a_filled_orders_prices_are_kept() -> None:
    item = dict(UNFILLED, avgPrice="1599.5", triggerPrice="1590.00", cumExecQty="0.10",
                orderStatus="Filled")  # fmt: skip
    order = parse_order(item, MAIN)
    assert (order.avg_price, order.trigger_price) == (Decimal("1599.5"), Decimal("1590.00"))
