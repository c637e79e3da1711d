"""Executions, fills, funding and order updates: parsing the exchange's words exactly.

Every number arrives as a JSON *string* and becomes a ``Decimal`` built from that
string — never a float — so the NUMERIC column stores exactly what the exchange sent
(docs/ledger.md invariant 3). Millisecond timestamps become timezone-aware UTC datetimes.

Parsing is strict: a missing or malformed field raises :class:`MalformedMessage` with
a reason the listener stores in ``trading.fill_rejects``. It never guesses a value.

The REST ``/v5/execution/list`` items and the WebSocket ``execution`` items have the
same fields, so one parser serves both (``source`` says which path it came by).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from operator import attrgetter
from typing import Any, Literal

from core.ids import EXCHANGE, AccountName, BotId, Symbol
from core.link_ids import LinkId
from core.link_ids import decode as decode_link_id

Source = Literal["ws", "rest"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNDECODED = object()  # Fill.of's "decode it yourself"

#: Order states after which nothing changes any more (an update never moves back from these).
TERMINAL_ORDER_STATUSES = frozenset(
    {"Filled", "Cancelled", "Rejected", "Deactivated", "PartiallyFilledCanceled"}
)


class Side(StrEnum):
    BUY = "Buy"
    SELL = "Sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


_SIDES = {side.value: side for side in Side}


class MalformedMessage(ValueError):
    """An exchange message the ledger cannot accept; ``str()`` is the reason."""


# --- field readers -------------------------------------------------------------------


def _text(item: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = item.get(name)
    if value is None:
        if required:
            raise MalformedMessage(f"missing field {name}")
        return ""
    if not isinstance(value, str):
        raise MalformedMessage(f"field {name} is {type(value).__name__}, expected string")
    return value


def _decimal(item: Mapping[str, Any], name: str, *, default: Decimal | None = None) -> Decimal:
    value = item.get(name)
    if value in (None, "") and default is not None:
        return default
    if not isinstance(value, str):
        # A JSON number here would already have passed through a float: refuse it.
        raise MalformedMessage(f"field {name} must be a decimal string, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise MalformedMessage(f"field {name} is not a decimal: {value!r}") from None
    if not number.is_finite():
        raise MalformedMessage(f"field {name} is not finite: {value!r}")
    return number


def _optional_decimal(item: Mapping[str, Any], name: str) -> Decimal | None:
    if item.get(name) in (None, ""):
        return None
    return _decimal(item, name)


def ms_to_utc(value: object, name: str = "time") -> datetime:
    """Bybit's millisecond epoch (string or int) → aware UTC datetime, exactly."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedMessage(f"field {name} must be epoch milliseconds, got {value!r}")
    try:
        ms = int(value)
    except ValueError:
        raise MalformedMessage(f"field {name} is not epoch milliseconds: {value!r}") from None
    if not 0 < ms < 32503680000000:  # year 3000: anything beyond is corruption
        raise MalformedMessage(f"field {name} is out of range: {value!r}")
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=millis * 1000)


def utc_to_ms(moment: datetime) -> int:
    """Aware datetime → epoch milliseconds (exact: no float on the way)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _side(item: Mapping[str, Any]) -> Side:
    value = item.get("side")
    side = _SIDES.get(value) if isinstance(value, str) else None
    if side is None:
        raise MalformedMessage(f"field side must be Buy or Sell, got {value!r}")
    return side


_SYMBOLS: dict[str, Symbol] = {}  # the few symbols an account trades, validated once


def _symbol(item: Mapping[str, Any]) -> Symbol:
    value = _text(item, "symbol")
    symbol = _SYMBOLS.get(value)
    if symbol is None:
        try:
            symbol = Symbol(value)
        except ValueError:
            raise MalformedMessage(f"field symbol is not a symbol: {value!r}") from None
        if len(_SYMBOLS) < 10_000:
            _SYMBOLS[value] = symbol
    return symbol


def _seq(item: Mapping[str, Any]) -> int:
    value = item.get("seq", 0)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedMessage(f"field seq must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise MalformedMessage(f"field seq is not an integer: {value!r}") from None


# --- domain types ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Execution:
    """One execution as the exchange reported it, before attribution."""

    exchange: str = EXCHANGE
    account: AccountName
    category: str
    exec_id: str
    symbol: Symbol
    order_id: str
    order_link_id: str
    side: Side
    exec_price: Decimal
    exec_qty: Decimal
    exec_value: Decimal
    exec_fee: Decimal
    fee_currency: str
    is_maker: bool
    exec_type: str
    exec_time: datetime
    seq: int
    source: Source
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def is_funding(self) -> bool:
        return self.exec_type == "Funding"

    @property
    def exchange_generated(self) -> bool:
        """ADL, liquidation, delivery, settlement: executions no order of ours caused."""
        return self.exec_type not in ("Trade", "Funding")

    @property
    def ledger_key(self) -> tuple[datetime, int, str]:
        """The ledger order of fills: ``(exec_time, seq, exec_id)`` (docs/ledger.md invariant 4)."""
        return (self.exec_time, self.seq, self.exec_id)

    @property
    def signed_qty(self) -> Decimal:
        return self.exec_qty * self.side.sign

    def raw_json(self) -> str:
        return json.dumps(self.raw, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill(Execution):
    """An execution attributed to a bot: one row of ``trading.fills``."""

    bot_id: BotId
    reason: str | None = None

    @classmethod
    def of(
        cls, execution: Execution, bot_id: BotId, link: LinkId | object | None = _UNDECODED
    ) -> Fill:
        """``link``: the execution's decoded link id, when the caller has decoded it."""
        if link is _UNDECODED:
            link = decode_link_id(execution.order_link_id)
        reason = None
        if isinstance(link, LinkId):
            reason = link.reason.label if link.reason else link.reason_code
        if cls is not Fill:
            values = dict(zip(_EXECUTION_FIELDS, _execution_values(execution), strict=True))
            return cls(**values, bot_id=bot_id, reason=reason)
        # Once per execution on the listener's writer thread: the generated __init__ (20
        # keyword arguments, one object.__setattr__ each) was two thirds of this method.
        # The same values go straight into the slots, as that __init__ would put them.
        fill = _new(Fill)
        for put, value in zip(
            _FILL_SLOTS, (*_execution_values(execution), bot_id, reason), strict=True
        ):
            put(fill, value)
        return fill


_EXECUTION_FIELDS = tuple(Execution.__dataclass_fields__)
_execution_values = attrgetter(*_EXECUTION_FIELDS)
_FILL_SLOTS = tuple(
    getattr(Fill, name).__set__ for name in (*_EXECUTION_FIELDS, "bot_id", "reason")
)
assert set(Fill.__dataclass_fields__) == {*_EXECUTION_FIELDS, "bot_id", "reason"}
_new = object.__new__


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingPayment:
    """A funding settlement (``execType=Funding``): one row of ``trading.funding``.

    ``funding_fee`` keeps Bybit's sign: positive was paid by the account, negative received.
    """

    exchange: str = EXCHANGE
    account: AccountName
    category: str
    exec_id: str
    bot_id: BotId
    symbol: Symbol
    side: Side
    funding_fee: Decimal
    fee_rate: Decimal | None
    mark_price: Decimal | None
    position_qty: Decimal | None
    position_value: Decimal | None
    exec_time: datetime
    source: Source
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, execution: Execution, bot_id: BotId) -> FundingPayment:
        raw = execution.raw
        return cls(
            exchange=execution.exchange,
            account=execution.account,
            category=execution.category,
            exec_id=execution.exec_id,
            bot_id=bot_id,
            symbol=execution.symbol,
            side=execution.side,
            funding_fee=execution.exec_fee,
            fee_rate=_optional_decimal(raw, "feeRate"),
            mark_price=_optional_decimal(raw, "execPrice") or _optional_decimal(raw, "markPrice"),
            position_qty=execution.exec_qty,
            position_value=execution.exec_value,
            exec_time=execution.exec_time,
            source=execution.source,
            raw=raw,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdate:
    """An order's state (WS ``order`` topic or REST order lists): one row of ``trading.orders``."""

    exchange: str = EXCHANGE
    account: AccountName
    category: str
    order_id: str
    order_link_id: str
    symbol: Symbol
    side: Side
    order_type: str
    time_in_force: str | None
    status: str
    price: Decimal | None
    qty: Decimal
    cum_exec_qty: Decimal
    cum_exec_value: Decimal
    avg_price: Decimal | None
    trigger_price: Decimal | None
    reduce_only: bool
    cancel_type: str | None
    reject_reason: str | None
    created_time: datetime | None
    updated_time: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_ORDER_STATUSES


# --- parsers --------------------------------------------------------------------------


def parse_execution(item: Mapping[str, Any], account: AccountName, source: Source) -> Execution:
    """One item of a WS ``execution`` message's ``data`` or of ``execution/list``."""
    if not isinstance(item, Mapping):
        raise MalformedMessage(f"execution item is {type(item).__name__}, expected object")
    exec_id = _text(item, "execId")
    if not exec_id:
        raise MalformedMessage("field execId is empty")
    is_maker = item.get("isMaker", False)
    if not isinstance(is_maker, bool):
        raise MalformedMessage(f"field isMaker must be a boolean, got {is_maker!r}")
    qty = _decimal(item, "execQty")
    price = _decimal(item, "execPrice", default=Decimal(0))
    if qty < 0 or price < 0:
        raise MalformedMessage("execQty and execPrice must not be negative")
    return Execution(
        account=account,
        category=_text(item, "category", required=False) or "linear",
        exec_id=exec_id,
        symbol=_symbol(item),
        order_id=_text(item, "orderId", required=False),
        order_link_id=_text(item, "orderLinkId", required=False),
        side=_side(item),
        exec_price=price,
        exec_qty=qty,
        exec_value=_decimal(item, "execValue", default=price * qty),
        exec_fee=_decimal(item, "execFee", default=Decimal(0)),
        fee_currency=_text(item, "feeCurrency", required=False) or "USDT",
        is_maker=is_maker,
        exec_type=_text(item, "execType", required=False) or "Trade",
        exec_time=ms_to_utc(item.get("execTime"), "execTime"),
        seq=_seq(item),
        source=source,
        raw=dict(item),
    )


def parse_order(item: Mapping[str, Any], account: AccountName) -> OrderUpdate:
    """One item of a WS ``order`` message's ``data`` or of ``order/realtime|history``."""
    if not isinstance(item, Mapping):
        raise MalformedMessage(f"order item is {type(item).__name__}, expected object")
    order_id = _text(item, "orderId")
    if not order_id:
        raise MalformedMessage("field orderId is empty")
    status = _text(item, "orderStatus")
    if not status:
        raise MalformedMessage("field orderStatus is empty")
    reduce_only = item.get("reduceOnly", False)
    if not isinstance(reduce_only, bool):
        raise MalformedMessage(f"field reduceOnly must be a boolean, got {reduce_only!r}")
    created = item.get("createdTime")
    updated = item.get("updatedTime")
    return OrderUpdate(
        account=account,
        category=_text(item, "category", required=False) or "linear",
        order_id=order_id,
        order_link_id=_text(item, "orderLinkId", required=False),
        symbol=_symbol(item),
        side=_side(item),
        order_type=_text(item, "orderType", required=False) or "UNKNOWN",
        time_in_force=_text(item, "timeInForce", required=False) or None,
        status=status,
        price=_optional_decimal(item, "price"),
        qty=_decimal(item, "qty", default=Decimal(0)),
        cum_exec_qty=_decimal(item, "cumExecQty", default=Decimal(0)),
        cum_exec_value=_decimal(item, "cumExecValue", default=Decimal(0)),
        avg_price=_optional_decimal(item, "avgPrice"),
        trigger_price=_optional_decimal(item, "triggerPrice"),
        reduce_only=reduce_only,
        cancel_type=_text(item, "cancelType", required=False) or None,
        reject_reason=_text(item, "rejectReason", required=False) or None,
        created_time=ms_to_utc(created, "createdTime") if created not in (None, "") else None,
        updated_time=ms_to_utc(updated, "updatedTime") if updated not in (None, "") else None,
        raw=dict(item),
    )
