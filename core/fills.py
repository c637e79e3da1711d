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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
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
    """An exchange message the ledger cannot accept; ``str()`` is the reason.

    ``code`` is one of :data:`REJECT_CODES`: the label of the rejects metric and the
    first word of the reason stored in ``trading.fill_rejects``."""

    def __init__(self, message: str, code: str = "malformed") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


#: Why an execution or order item was refused (see README, "Rejects").
REJECT_CODES = frozenset(
    {
        "not_an_object",  # the item is not a JSON object
        "missing_field",  # a field Bybit always sends is absent
        "empty_field",  # … or present but empty where Bybit never sends ""
        "not_a_string",  # a number field that is not a JSON string (a float on the way)
        "bad_number",  # not Bybit's decimal format: spaces, separators, exponents, NaN, …
        "negative",  # a sign where Bybit never sends one
        "too_many_digits",  # beyond MAX_INTEGER_DIGITS / MAX_FRACTION_DIGITS
        "zero_price",  # a trade at price 0 (Bybit's funding may say 0; a trade never)
        "unknown_exec_type",  # not one of Bybit's execType values, exactly as spelled
        "unsupported_exec_type",  # Bybit's, but no trade the position fold can take
        "bad_value",  # side, symbol, category, time, seq, isMaker, ids, fee currency
        "malformed",  # anything else
    }
)

#: Bybit's numbers are plain ASCII decimals: an optional "-" where a value can be
#: negative, no leading zeros, no exponent, no spaces or digit separators. Their scales
#: are far below these bounds (prices and fees have at most a dozen decimals); anything
#: beyond is refused rather than stored, so every fold of the ledger stays exact and
#: small enough to agree digit for digit with PostgreSQL's NUMERIC.
MAX_INTEGER_DIGITS = 30
MAX_FRACTION_DIGITS = 30
_NUMBER = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")
_TIME_MS = re.compile(r"[1-9][0-9]{0,15}")
_SEQ = re.compile(r"0|[1-9][0-9]{0,18}")
_COIN = re.compile(r"[A-Z0-9]{1,20}")

#: Bybit's execType values (enum page). Funding is a cash flow (``trading.funding``);
#: the others below move a position at a price and are folded like a trade.
TRADE_EXEC_TYPES = frozenset(
    {"Trade", "AdlTrade", "BustTrade", "Delivery", "Settle", "BlockTrade", "MovePosition",
     "FutureSpread"}
)  # fmt: skip
FUNDING = "Funding"
#: Bybit's too, but not a trade at a price: a stock split changes the quantity with no
#: cash, and ``UNKNOWN`` (classic accounts) says nothing. Refused, kept, counted.
UNSUPPORTED_EXEC_TYPES = frozenset({"CorporateAction", "UNKNOWN"})
CATEGORIES = frozenset({"linear", "inverse", "spot", "option"})


# --- field readers -------------------------------------------------------------------


def _text(item: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = item.get(name)
    if value is None:
        if required:
            raise MalformedMessage(f"missing field {name}", "missing_field")
        return ""
    if not isinstance(value, str):
        raise MalformedMessage(
            f"field {name} is {type(value).__name__}, expected string", "not_a_string"
        )
    return value


def _identifier(item: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    """An id (execId, orderId, orderLinkId): any printable text, never control characters."""
    value = _text(item, name, required=required)
    if required and not value:
        raise MalformedMessage(f"field {name} is empty", "empty_field")
    if not value.isprintable():
        raise MalformedMessage(f"field {name} has control characters: {value[:80]!r}", "bad_value")
    return value


def decimal_text(value: object, name: str, *, signed: bool = False) -> Decimal:
    """One of Bybit's numeric strings → the exact ``Decimal``; anything else is refused."""
    if not isinstance(value, str):
        # A JSON number here would already have passed through a float: refuse it.
        raise MalformedMessage(
            f"field {name} must be a decimal string, got {value!r}", "not_a_string"
        )
    match = _NUMBER.fullmatch(value)
    if match is None:
        raise MalformedMessage(f"field {name} is not a decimal: {value[:80]!r}", "bad_number")
    sign, whole, fraction = match.groups()
    if len(whole) > 1 and whole[0] == "0":
        raise MalformedMessage(f"field {name} has leading zeros: {value!r}", "bad_number")
    if sign and not signed:
        raise MalformedMessage(f"field {name} must not be negative: {value!r}", "negative")
    if len(whole) > MAX_INTEGER_DIGITS or len(fraction or "") > MAX_FRACTION_DIGITS:
        raise MalformedMessage(
            f"field {name} has more digits than Bybit sends: {value[:80]!r}", "too_many_digits"
        )
    return Decimal(value)


def _decimal(
    item: Mapping[str, Any],
    name: str,
    *,
    default: Decimal | None = None,
    signed: bool = False,
) -> Decimal:
    """A required number; ``default`` only when the field is absent or empty."""
    value = item.get(name)
    if value in (None, ""):
        if default is not None:
            return default
        if value is None:
            raise MalformedMessage(f"missing field {name}", "missing_field")
        raise MalformedMessage(f"field {name} is empty", "empty_field")
    return decimal_text(value, name, signed=signed)


def _optional_decimal(
    item: Mapping[str, Any], name: str, *, signed: bool = False
) -> Decimal | None:
    value = item.get(name)
    if value in (None, ""):
        return None
    return decimal_text(value, name, signed=signed)


def _price_or_none(item: Mapping[str, Any], name: str) -> Decimal | None:
    """A price Bybit may leave unset as ``""``, ``"0"`` or ``"0.00"`` (an unfilled order's
    ``avgPrice``, an order without a trigger): no price is ``None``, never a price of 0."""
    value = _optional_decimal(item, name)
    return value if value else None


def ms_to_utc(value: object, name: str = "time") -> datetime:
    """Bybit's millisecond epoch (string or int) → aware UTC datetime, exactly."""
    if value is None:
        raise MalformedMessage(f"missing field {name}", "missing_field")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedMessage(
            f"field {name} must be epoch milliseconds, got {value!r}", "bad_value"
        )
    # int() alone would take " 17", "+17", "1_700" and non-ASCII digits: Bybit sends none.
    if isinstance(value, str) and _TIME_MS.fullmatch(value) is None:
        raise MalformedMessage(
            f"field {name} is not epoch milliseconds: {value[:80]!r}", "bad_value"
        )
    ms = int(value)
    if not 0 < ms < 32503680000000:  # year 3000: anything beyond is corruption
        raise MalformedMessage(f"field {name} is out of range: {value!r}", "bad_value")
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=millis * 1000)


def utc_to_ms(moment: datetime) -> int:
    """Aware datetime → epoch milliseconds (exact: no float on the way)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _side(item: Mapping[str, Any]) -> Side:
    value = item.get("side")
    side = _SIDES.get(value) if isinstance(value, str) else None
    if side is None:
        raise MalformedMessage(f"field side must be Buy or Sell, got {value!r}", "bad_value")
    return side


_SYMBOLS: dict[str, Symbol] = {}  # the few symbols an account trades, validated once


def _symbol(item: Mapping[str, Any]) -> Symbol:
    value = _text(item, "symbol")
    symbol = _SYMBOLS.get(value)
    if symbol is None:
        try:
            symbol = Symbol(value)
        except ValueError:
            raise MalformedMessage(
                f"field symbol is not a symbol: {value!r}", "bad_value"
            ) from None
        if len(_SYMBOLS) < 10_000:
            _SYMBOLS[value] = symbol
    return symbol


def _seq(item: Mapping[str, Any]) -> int:
    value = item.get("seq", 0)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedMessage(f"field seq must be an integer, got {value!r}", "bad_value")
    if isinstance(value, str) and _SEQ.fullmatch(value) is None:
        raise MalformedMessage(f"field seq is not an integer: {value[:80]!r}", "bad_value")
    if not 0 <= int(value) < 2**63:  # the ledger's bigint
        raise MalformedMessage(f"field seq is out of range: {value!r}", "bad_value")
    return int(value)


_settle_coin_cache: dict[tuple[str, str], str | None] = {}
_ZERO_FEE = Decimal(0)


def _settle_coin(category: str, symbol: str) -> str | None:
    key = (category, symbol)
    if key not in _settle_coin_cache:
        if len(_settle_coin_cache) >= 10_000:
            return settle_coin(category, symbol)
        _settle_coin_cache[key] = settle_coin(category, symbol)
    return _settle_coin_cache[key]


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
        return self.exec_type == FUNDING

    @property
    def counted_fee(self) -> Decimal:
        """The fee as positions and P&L count it: ``exec_fee`` when it is charged in the
        contract's settle coin, else 0 (a fee in another coin, e.g. BTC on a spot-like
        fill, is kept in the ledger with its ``fee_currency`` and reported on its own in
        ``analytics.other_coin_fees``, never added to USDT)."""
        if self.fee_currency == _settle_coin(self.category, self.symbol):
            return self.exec_fee
        return _ZERO_FEE

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
    #: The attribution rule that gave it its bot (``core.attribution.Rule``; None: not
    #: recorded, as in rows written before migration 0007).
    attribution: str | None = None

    @classmethod
    def of(
        cls,
        execution: Execution,
        bot_id: BotId,
        link: LinkId | object | None = _UNDECODED,
        attribution: str | None = None,
    ) -> Fill:
        """``link``: the execution's decoded link id, when the caller has decoded it."""
        if link is _UNDECODED:
            link = decode_link_id(execution.order_link_id)
        reason = None
        if isinstance(link, LinkId):
            reason = link.reason.label if link.reason else link.reason_code
        if cls is not Fill:
            values = dict(zip(_EXECUTION_FIELDS, _execution_values(execution), strict=True))
            return cls(**values, bot_id=bot_id, reason=reason, attribution=attribution)
        # Once per execution on the listener's writer thread: the generated __init__ (20
        # keyword arguments, one object.__setattr__ each) was two thirds of this method.
        # The same values go straight into the slots, as that __init__ would put them.
        fill = _new(Fill)
        for put, value in zip(
            _FILL_SLOTS,
            (*_execution_values(execution), bot_id, reason, attribution),
            strict=True,
        ):
            put(fill, value)
        return fill


_EXECUTION_FIELDS = tuple(Execution.__dataclass_fields__)
_execution_values = attrgetter(*_EXECUTION_FIELDS)
_FILL_SLOTS = tuple(
    getattr(Fill, name).__set__ for name in (*_EXECUTION_FIELDS, "bot_id", "reason", "attribution")
)
assert set(Fill.__dataclass_fields__) == {*_EXECUTION_FIELDS, "bot_id", "reason", "attribution"}
_new = object.__new__


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingPayment:
    """A funding settlement (``execType=Funding``), or one bot's share of it: a row of
    ``trading.funding`` (docs/attribution.md, funding).

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
    #: Bybit's ``seq``: funding and fills share the ledger order (exec_time, seq, exec_id).
    seq: int = 0
    #: The attribution rule (see :attr:`Fill.attribution`).
    attribution: str | None = None

    @classmethod
    def of(
        cls, execution: Execution, bot_id: BotId, attribution: str | None = None
    ) -> FundingPayment:
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
            fee_rate=_optional_decimal(raw, "feeRate", signed=True),
            mark_price=_optional_decimal(raw, "execPrice") or _optional_decimal(raw, "markPrice"),
            position_qty=execution.exec_qty,
            position_value=execution.exec_value,
            exec_time=execution.exec_time,
            source=execution.source,
            raw=raw,
            seq=execution.seq,
            attribution=attribution,
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


def settle_coin(category: str, symbol: str) -> str | None:
    """The coin a contract settles in (its P&L and trading fees), None when unknown.

    Linear: ``…USDT`` in USDT; ``…USDC`` and ``…PERP`` in USDC. Inverse: ``BTCUSD`` in BTC.
    ``analytics.settle_coin`` (migration 0005) is the same rule in SQL."""
    if category == "linear":
        if symbol.endswith("USDT"):
            return "USDT"
        if symbol.endswith(("USDC", "PERP")):
            return "USDC"
    elif category == "inverse" and symbol.endswith("USD") and len(symbol) > 3:
        return symbol[:-3]
    return None


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
    exec_id = _identifier(item, "execId")
    exec_type = _text(item, "execType")
    if exec_type in UNSUPPORTED_EXEC_TYPES:
        raise MalformedMessage(
            f"execType {exec_type} is not a trade the ledger can fold", "unsupported_exec_type"
        )
    if exec_type not in TRADE_EXEC_TYPES and exec_type != FUNDING:
        raise MalformedMessage(f"unknown execType {exec_type[:40]!r}", "unknown_exec_type")
    is_maker = item.get("isMaker", False)
    if not isinstance(is_maker, bool):
        raise MalformedMessage(f"field isMaker must be a boolean, got {is_maker!r}", "bad_value")
    category = _text(item, "category", required=False) or "linear"  # REST items omit it
    if category not in CATEGORIES:
        raise MalformedMessage(f"unknown category {category[:40]!r}", "bad_value")
    symbol = _symbol(item)
    qty = _decimal(item, "execQty")
    fee = _decimal(item, "execFee", signed=True)
    if exec_type == FUNDING:
        # Funding is no trade: its "price" is the mark price, which Bybit may leave empty.
        price = _optional_decimal(item, "execPrice") or Decimal(0)
        _optional_decimal(item, "feeRate", signed=True)  # FundingPayment.of reads these
        _optional_decimal(item, "markPrice")
    else:
        price = _decimal(item, "execPrice")
        if not price:
            raise MalformedMessage(f"a {exec_type} at price {price}", "zero_price")
    value = _optional_decimal(item, "execValue")
    fee_currency = _text(item, "feeCurrency", required=False)
    if fee_currency and _COIN.fullmatch(fee_currency) is None:
        raise MalformedMessage(
            f"field feeCurrency is not a coin: {fee_currency[:40]!r}", "bad_value"
        )
    if not fee_currency:
        # Bybit leaves it empty on derivatives (the fee is in the settle coin).
        settle = settle_coin(category, symbol)
        if settle is None:
            raise MalformedMessage(
                f"no feeCurrency, and {category} {symbol} has no known settle coin", "bad_value"
            )
        fee_currency = settle
    return Execution(
        account=account,
        category=category,
        exec_id=exec_id,
        symbol=symbol,
        order_id=_identifier(item, "orderId", required=False),
        order_link_id=_identifier(item, "orderLinkId", required=False),
        side=_side(item),
        exec_price=price,
        exec_qty=qty,
        exec_value=value if value is not None else price * qty,
        exec_fee=fee,
        fee_currency=fee_currency,
        is_maker=is_maker,
        exec_type=exec_type,
        exec_time=ms_to_utc(item.get("execTime"), "execTime"),
        seq=_seq(item),
        source=source,
        raw=dict(item),
    )


def parse_order(item: Mapping[str, Any], account: AccountName) -> OrderUpdate:
    """One item of a WS ``order`` message's ``data`` or of ``order/realtime|history``."""
    if not isinstance(item, Mapping):
        raise MalformedMessage(
            f"order item is {type(item).__name__}, expected object", "not_an_object"
        )
    order_id = _identifier(item, "orderId")
    status = _text(item, "orderStatus")
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
        category=_text(item, "category", required=False) or "linear",
        order_id=order_id,
        order_link_id=_identifier(item, "orderLinkId", required=False),
        symbol=_symbol(item),
        side=_side(item),
        order_type=_text(item, "orderType", required=False) or "UNKNOWN",
        time_in_force=_text(item, "timeInForce", required=False) or None,
        status=status,
        price=_optional_decimal(item, "price"),
        qty=_decimal(item, "qty", default=Decimal(0)),
        cum_exec_qty=_decimal(item, "cumExecQty", default=Decimal(0)),
        cum_exec_value=_decimal(item, "cumExecValue", default=Decimal(0)),
        avg_price=_price_or_none(item, "avgPrice"),
        trigger_price=_price_or_none(item, "triggerPrice"),
        reduce_only=reduce_only,
        cancel_type=_text(item, "cancelType", required=False) or None,
        reject_reason=_text(item, "rejectReason", required=False) or None,
        created_time=ms_to_utc(created, "createdTime") if created not in (None, "") else None,
        updated_time=ms_to_utc(updated, "updatedTime") if updated not in (None, "") else None,
        raw=dict(item),
    )
