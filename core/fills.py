"""Executions, fills, funding and order updates: the ledger's rows as domain types.

Every amount is a ``Decimal`` built from the exchange's string and every time an aware
UTC datetime; the parsers that build these from Bybit's messages are in
``core/exchange_parsing.py``, the strict field rules in ``core/exchange_fields.py``.
The types live apart from the parsing because most of the code (positions, the writer,
trade sync, bots) only reads them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from operator import attrgetter
from typing import Any, Literal

from core.exchange_fields import optional_decimal
from core.ids import EXCHANGE, AccountName, BotId, Symbol
from core.link_ids import LinkId
from core.link_ids import decode as decode_link_id

Source = Literal["ws", "rest"]
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


#: Bybit's execType of a funding settlement: a cash flow (``trading.funding``), no trade.
FUNDING = "Funding"


_settle_coin_cache: dict[tuple[str, str], str | None] = {}
_ZERO_FEE = Decimal(0)


def _cached_settle_coin(category: str, symbol: str) -> str | None:
    key = (category, symbol)
    if key not in _settle_coin_cache:
        if len(_settle_coin_cache) >= 10_000:
            return settle_coin(category, symbol)
        _settle_coin_cache[key] = settle_coin(category, symbol)
    return _settle_coin_cache[key]


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
        if self.fee_currency == _cached_settle_coin(self.category, self.symbol):
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
            fee_rate=optional_decimal(raw, "feeRate", signed=True),
            mark_price=optional_decimal(raw, "execPrice") or optional_decimal(raw, "markPrice"),
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
