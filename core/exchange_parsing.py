"""Bybit's execution and order items → :mod:`core.fills` types, refusing what Bybit never sends.

Parsing is strict: a missing or malformed field raises ``MalformedMessage`` with a reason
the listener stores in ``trading.fill_rejects``. It never guesses a value. The REST
``/v5/execution/list`` items and the WebSocket ``execution`` items have the same fields,
so one parser serves both (``source`` says which path it came by).

Separate from the types because only the listener, trade sync and tests parse; the rest
of the code reads the types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core.exchange_fields import (
    MalformedMessage,
    decimal_field,
    identifier_field,
    ms_to_utc,
    optional_decimal,
    price_or_none,
    seq_field,
    symbol_field,
    text_field,
)
from core.fills import FUNDING, Execution, OrderUpdate, Side, Source, settle_coin
from core.ids import AccountName

_COIN = re.compile(r"[A-Z0-9]{1,20}")
_SIDES = {side.value: side for side in Side}

#: Bybit's execType values (enum page). Funding is a cash flow (``trading.funding``);
#: the others below move a position at a price and are folded like a trade.
TRADE_EXEC_TYPES = frozenset(
    {"Trade", "AdlTrade", "BustTrade", "Delivery", "Settle", "BlockTrade", "MovePosition",
     "FutureSpread"}
)  # fmt: skip
#: Bybit's too, but not a trade at a price: a stock split changes the quantity with no
#: cash, and ``UNKNOWN`` (classic accounts) says nothing. Refused, kept, counted.
UNSUPPORTED_EXEC_TYPES = frozenset({"CorporateAction", "UNKNOWN"})
CATEGORIES = frozenset({"linear", "inverse", "spot", "option"})


def _side(item: Mapping[str, Any]) -> Side:
    value = item.get("side")
    side = _SIDES.get(value) if isinstance(value, str) else None
    if side is None:
        raise MalformedMessage(f"field side must be Buy or Sell, got {value!r}", "bad_value")
    return side


def parse_execution(item: Mapping[str, Any], account: AccountName, source: Source) -> Execution:
    """One item of a WS ``execution`` message's ``data`` or of ``execution/list``.

    Strict to Bybit's formats: every number is a plain decimal string (signed only for
    the fee and the funding rate), ``execType`` is one of Bybit's values exactly as
    spelled, a trade has a price above zero and every execution a fee. Fields Bybit
    legitimately leaves empty are accepted: ``feeCurrency`` (an empty one is the settle
    coin), ``execValue`` (then price × qty) and, for funding, ``execPrice``.
    """
    if not isinstance(item, Mapping):
        raise MalformedMessage(
            f"execution item is {type(item).__name__}, expected object", "not_an_object"
        )
    exec_id = identifier_field(item, "execId")
    exec_type = _exec_type(item)
    is_maker = item.get("isMaker", False)
    if not isinstance(is_maker, bool):
        raise MalformedMessage(f"field isMaker must be a boolean, got {is_maker!r}", "bad_value")
    category = text_field(item, "category", required=False) or "linear"  # REST items omit it
    if category not in CATEGORIES:
        raise MalformedMessage(f"unknown category {category[:40]!r}", "bad_value")
    symbol = symbol_field(item)
    qty = decimal_field(item, "execQty")
    fee = decimal_field(item, "execFee", signed=True)
    price = _exec_price(item, exec_type)
    value = optional_decimal(item, "execValue")
    fee_currency = _fee_currency(item, category, symbol)
    return Execution(
        account=account,
        category=category,
        exec_id=exec_id,
        symbol=symbol,
        order_id=identifier_field(item, "orderId", required=False),
        order_link_id=identifier_field(item, "orderLinkId", required=False),
        side=_side(item),
        exec_price=price,
        exec_qty=qty,
        exec_value=value if value is not None else price * qty,
        exec_fee=fee,
        fee_currency=fee_currency,
        is_maker=is_maker,
        exec_type=exec_type,
        exec_time=ms_to_utc(item.get("execTime"), "execTime"),
        seq=seq_field(item),
        source=source,
        raw=dict(item),
    )


def _exec_type(item: Mapping[str, Any]) -> str:
    """One of Bybit's execType values that the ledger takes, exactly as spelled."""
    exec_type = text_field(item, "execType")
    if exec_type in UNSUPPORTED_EXEC_TYPES:
        raise MalformedMessage(
            f"execType {exec_type} is not a trade the ledger can fold", "unsupported_exec_type"
        )
    if exec_type not in TRADE_EXEC_TYPES and exec_type != FUNDING:
        raise MalformedMessage(f"unknown execType {exec_type[:40]!r}", "unknown_exec_type")
    return exec_type


def _exec_price(item: Mapping[str, Any], exec_type: str) -> Decimal:
    """A trade's price, above zero; funding's mark price, 0 when Bybit leaves it empty."""
    if exec_type == FUNDING:
        # Funding is no trade: its "price" is the mark price, which Bybit may leave empty.
        price = optional_decimal(item, "execPrice") or Decimal(0)
        optional_decimal(item, "feeRate", signed=True)  # FundingPayment.of reads these
        optional_decimal(item, "markPrice")
        return price
    price = decimal_field(item, "execPrice")
    if not price:
        raise MalformedMessage(f"a {exec_type} at price {price}", "zero_price")
    return price


def _fee_currency(item: Mapping[str, Any], category: str, symbol: str) -> str:
    """The fee's coin; an empty ``feeCurrency`` is the contract's settle coin."""
    fee_currency = text_field(item, "feeCurrency", required=False)
    if fee_currency and _COIN.fullmatch(fee_currency) is None:
        raise MalformedMessage(
            f"field feeCurrency is not a coin: {fee_currency[:40]!r}", "bad_value"
        )
    if fee_currency:
        return fee_currency
    # Bybit leaves it empty on derivatives (the fee is in the settle coin).
    settle = settle_coin(category, symbol)
    if settle is None:
        raise MalformedMessage(
            f"no feeCurrency, and {category} {symbol} has no known settle coin", "bad_value"
        )
    return settle


def parse_order(item: Mapping[str, Any], account: AccountName) -> OrderUpdate:
    """One item of a WS ``order`` message's ``data`` or of ``order/realtime|history``."""
    if not isinstance(item, Mapping):
        raise MalformedMessage(
            f"order item is {type(item).__name__}, expected object", "not_an_object"
        )
    order_id = identifier_field(item, "orderId")
    status = text_field(item, "orderStatus")
    if not status:
        raise MalformedMessage("field orderStatus is empty", "empty_field")
    reduce_only = item.get("reduceOnly", False)
    if not isinstance(reduce_only, bool):
        raise MalformedMessage(
            f"field reduceOnly must be a boolean, got {reduce_only!r}", "bad_value"
        )
    created = item.get("createdTime")
    updated = item.get("updatedTime")
    return OrderUpdate(
        account=account,
        category=text_field(item, "category", required=False) or "linear",
        order_id=order_id,
        order_link_id=identifier_field(item, "orderLinkId", required=False),
        symbol=symbol_field(item),
        side=_side(item),
        order_type=text_field(item, "orderType", required=False) or "UNKNOWN",
        time_in_force=text_field(item, "timeInForce", required=False) or None,
        status=status,
        price=optional_decimal(item, "price"),
        qty=decimal_field(item, "qty", default=Decimal(0)),
        cum_exec_qty=decimal_field(item, "cumExecQty", default=Decimal(0)),
        cum_exec_value=decimal_field(item, "cumExecValue", default=Decimal(0)),
        avg_price=price_or_none(item, "avgPrice"),
        trigger_price=price_or_none(item, "triggerPrice"),
        reduce_only=reduce_only,
        cancel_type=text_field(item, "cancelType", required=False) or None,
        reject_reason=text_field(item, "rejectReason", required=False) or None,
        created_time=ms_to_utc(created, "createdTime") if created not in (None, "") else None,
        updated_time=ms_to_utc(updated, "updatedTime") if updated not in (None, "") else None,
        raw=dict(item),
    )
