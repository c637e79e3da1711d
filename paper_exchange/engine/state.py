"""What every concern of the matching engine shares: its state, the private-WebSocket
publishing, and the instrument lookup.

The engine is one object (``exchange.Engine``) assembled from one class per concern:
order entry (``entry``), a position's TP/SL (``tpsl``), queries (``queries``), matching
against the order book (``matching``, ``orderbook``), settlement of fills and funding
(``settlement``) and the trades the control API injects (``injected``). Each inherits
:class:`EngineState`, which declares the state and, as stubs, the few steps one concern
hands to another, so every module type-checks on its own; the real steps come first in
``Engine``'s method order.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from paper_exchange.engine.errors import ApiError, params_error
from paper_exchange.engine.instruments import Instrument
from paper_exchange.engine.liquidation import account_liq_price
from paper_exchange.engine.marks import MarkIndex, MarkPrices
from paper_exchange.engine.models import Account, Order, Position
from paper_exchange.engine.orderbook import Liquidity, OrderBook
from paper_exchange.engine.views import order_view, position_view, wallet_view

#: Bybit's product types (``category``).
CATEGORIES = ("spot", "linear", "option", "inverse")
_ID_PREFIX = str(uuid.uuid4())[:24]  # per process; ids stay UUID-shaped and unique
_id_counter = itertools.count(1)


def new_id() -> str:
    """A UUID-shaped id, unique per exchange process, much cheaper than uuid4()."""
    return f"{_ID_PREFIX}{next(_id_counter):012x}"


class EventSink(Protocol):
    def wants(self, account: Account, topic: str) -> bool: ...

    def push(self, account: Account, topic: str, items: list[dict[str, object]]) -> None: ...


class NullSink:
    def wants(self, account: Account, topic: str) -> bool:
        return False

    def push(self, account: Account, topic: str, items: list[dict[str, object]]) -> None:
        return None


class EngineState:
    """The engine's state; each concern's class adds its steps (see the module doc)."""

    instruments: dict[str, Instrument]
    now: Callable[[], int]
    maker_fee: Decimal
    taker_fee: Decimal
    funding_rate: Decimal
    funding_log: list[tuple[int, Decimal]]
    default_leverage: Decimal
    prices: dict[str, Decimal]  # last traded price
    marks: dict[str, MarkIndex]  # index and mark, derived from the last price (``marks``)
    mark_prices: MarkPrices
    liquidity: dict[str, Liquidity]
    depth: dict[str, OrderBook]  # resting liquidity around the price (``orderbook``)
    accounts_by_key: dict[str, Account]
    accounts_by_name: dict[str, Account]
    book: dict[str, dict[str, Order]]
    sink: EventSink
    _seq: itertools.count[int]

    def instrument(self, symbol: object) -> Instrument:
        if not isinstance(symbol, str) or not symbol:
            raise params_error("symbol is required")
        inst = self.instruments.get(symbol)
        if inst is None:
            raise params_error(f"symbol invalid: {symbol}")
        return inst

    def mark_price(self, symbol: str) -> Decimal:
        return self.marks[symbol].mark(self.now())

    def index_price(self, symbol: str) -> Decimal:
        return self.marks[symbol].index

    def trigger_ref(self, symbol: str, trigger_by: str) -> Decimal:
        """The price a conditional order with this ``triggerBy`` compares with."""
        if trigger_by == "MarkPrice":
            return self.mark_price(symbol)
        if trigger_by == "IndexPrice":
            return self.index_price(symbol)
        return self.prices[symbol]

    def view_position(self, acct: Account, pos: Position, *, ws: bool) -> dict[str, object]:
        """``pos`` as ``position/list`` (or, ``ws``, the ``position`` topic) shows it."""
        inst = self.instruments[pos.symbol]
        liq = account_liq_price(acct, pos, self.mark_prices, self.instruments)
        return position_view(pos, inst, self.mark_price(pos.symbol), ws=ws, liq_price=liq)

    def _publish_order(self, order: Order) -> None:
        if self.sink.wants(order.account, "order"):
            view = order_view(order, self.instruments[order.symbol], ws=True)
            view["category"] = "linear"
            self.sink.push(order.account, "order", [view])

    def _publish_position(self, acct: Account, symbol: str, force: bool = False) -> None:
        # Every change of a position passes here, so its own TP/SL orders follow it.
        self._sync_stops(acct, symbol)
        if self.sink.wants(acct, "position"):
            view = self.view_position(acct, acct.position(symbol), ws=True)
            self.sink.push(acct, "position", [view])

    def _publish_wallet(self, acct: Account) -> None:
        if self.sink.wants(acct, "wallet"):
            self.sink.push(acct, "wallet", [wallet_view(acct, self.mark_prices, self.instruments)])

    def publish_wallet(self, acct: Account) -> None:
        self._publish_wallet(acct)

    def publish_position(self, acct: Account, symbol: str) -> None:
        self._publish_position(acct, symbol, force=True)

    # -- steps one concern hands to another (implemented in matching and settlement) --

    def _activate(self, order: Order, ref: Decimal) -> None:
        raise NotImplementedError

    def _take(self, order: Order, ref: Decimal) -> None:
        raise NotImplementedError

    def _crosses(self, order: Order) -> bool:
        raise NotImplementedError

    def _fill(
        self, order: Order, qty: Decimal, price: Decimal, *, maker: bool, seq: int
    ) -> dict[str, object]:
        raise NotImplementedError

    def _finish(
        self, order: Order, status: str, *, reject: str = "EC_NoError", cancel: str = "UNKNOWN"
    ) -> None:
        raise NotImplementedError

    def _cancel(self, order: Order, cancel_type: str) -> None:
        raise NotImplementedError

    def _fillable(self, order: Order) -> Decimal:
        raise NotImplementedError

    def _sync_stops(self, acct: Account, symbol: str) -> None:
        raise NotImplementedError

    def _attach_stops(self, order: Order) -> None:
        raise NotImplementedError

    def _trail(self, symbol: str, price: Decimal) -> None:
        raise NotImplementedError

    @staticmethod
    def _fold(
        acct: Account, pos: Position, sign: int, qty: Decimal, price: Decimal, fee: Decimal,
        now: int,
    ) -> tuple[Decimal, Decimal]:  # fmt: skip
        raise NotImplementedError

    def _exec_template(
        self, inst: Instrument, price_s: str, qty_s: str, value: Decimal, fee: Decimal,
        now: int, seq: int,
    ) -> dict[str, object]:  # fmt: skip
        raise NotImplementedError


def require_linear(p: dict[str, object]) -> None:
    category = p.get("category")
    if category != "linear":
        if not category:
            raise params_error("category is required")
        if category not in CATEGORIES:
            raise ApiError(10001, "Illegal category")  # Bybit's text for an unknown one
        raise params_error(f"category only support linear, got {category}")


def other_category(p: dict[str, object], documented: tuple[str, ...] = CATEGORIES) -> str | None:
    """For a query: ``None`` for ``linear`` (answer it), else another product type the
    endpoint documents. The paper account holds nothing there, and Bybit answers such a
    query with retCode 0 and an empty list, not an error; clients that ask every
    category (ccxt does) must see the same here. Anything else is refused as usual."""
    category = p.get("category")
    if isinstance(category, str) and category != "linear" and category in CATEGORIES:
        if category not in documented:
            raise ApiError(10001, "Illegal category")
        return category
    require_linear(p)
    return None


def empty_page(category: str) -> dict[str, object]:
    return {"category": category, "list": [], "nextPageCursor": ""}
