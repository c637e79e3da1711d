"""Accounts, orders and positions: the exchange's mutable state."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from paper_exchange.engine.numbers import ZERO

if TYPE_CHECKING:
    from paper_exchange.engine.books import Books

OPEN_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered"})


@dataclass(slots=True, eq=False)
class Order:
    order_id: str
    link_id: str
    account: Account
    symbol: str
    side: str
    order_type: str
    price: Decimal
    qty: Decimal
    tif: str
    reduce_only: bool
    close_on_trigger: bool
    trigger_price: Decimal
    trigger_direction: int
    trigger_by: str
    status: str
    created: int
    updated: int
    last_price_on_created: Decimal
    #: The order's own TP/SL (``Full`` mode): set as the position's when it fills, each
    #: triggering on its own price type ("" for LastPrice).
    take_profit: Decimal = ZERO
    stop_loss: Decimal = ZERO
    tp_trigger_by: str = ""
    sl_trigger_by: str = ""
    cum_qty: Decimal = ZERO
    cum_value: Decimal = ZERO
    cum_fee: Decimal = ZERO
    closed_pnl: Decimal = ZERO
    reject_reason: str = "EC_NoError"
    cancel_type: str = "UNKNOWN"
    stop_order_type: str = "UNKNOWN"
    create_type: str = "CreateByUser"
    #: Self-match prevention (``engine/selfmatch.py``): the order's ``smpType`` and, once
    #: a self match cancelled it, the other order's id.
    smp_type: str = "None"
    smp_order_id: str = ""
    #: A trailing stop (``engine/tpsl.py``): its distance from the best price seen since
    #: it became active, the activation price (zero: active at once), and that best price.
    trail_distance: Decimal = ZERO
    trail_active_price: Decimal = ZERO
    trail_peak: Decimal = ZERO

    @property
    def trail_waiting(self) -> bool:
        """A trailing stop whose activation price has not traded yet cannot trigger."""
        return bool(self.trail_distance) and not self.trail_peak

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def leaves(self) -> Decimal:
        return self.qty - self.cum_qty if self.is_open else ZERO

    @property
    def sign(self) -> int:
        return 1 if self.side == "Buy" else -1

    @property
    def avg_price(self) -> Decimal:
        return self.cum_value / self.cum_qty if self.cum_qty else ZERO


@dataclass(slots=True, eq=False)
class Position:
    symbol: str
    size: Decimal = ZERO  # signed: long > 0, short < 0 (one-way mode)
    avg: Decimal = ZERO
    leverage: Decimal = Decimal(10)
    cur_realised: Decimal = ZERO
    cum_realised: Decimal = ZERO
    created: int = 0
    updated: int = 0
    seq: int = 0
    #: The position's own TP/SL/trailing stop orders (``position/trading-stop``, Full
    #: mode), by ``stopOrderType``; the position view reads its prices from them.
    stops: dict[str, Order] = field(default_factory=dict)


class EncodedRows(list[dict[str, object]]):
    """Execution rows plus, in ``json``, each row's compact JSON.

    ``json[i]`` is byte-identical to ``json.JSONEncoder(separators=(",", ":"),
    ensure_ascii=False).encode(self[i])`` for the rows as they stand in the ledger, which
    never mutates a row after appending it; a socket can then frame thousands of rows per
    second without re-encoding each. The rows themselves stay plain dicts (the garbage
    collector does not track them), and the strings live only as long as this list.
    """

    __slots__ = ("json",)

    def __init__(self) -> None:
        super().__init__()
        self.json: list[str] = []


@dataclass(slots=True, eq=False)
class Ledger:
    """An account's executions in ledger order; exec times never decrease."""

    rows: list[dict[str, object]] = field(default_factory=list)
    times: list[int] = field(default_factory=list)

    def append(self, row: dict[str, object], exec_time: int) -> None:
        if self.times and exec_time < self.times[-1]:
            exec_time = self.times[-1]  # the simulated clock never runs backwards in the ledger
            row["execTime"] = str(exec_time)
        self.rows.append(row)
        self.times.append(exec_time)

    def index_range(self, start: int, end: int) -> tuple[int, int]:
        """Indices of rows with ``start <= execTime <= end``."""
        return bisect_left(self.times, start), bisect_right(self.times, end)


@dataclass(slots=True, eq=False)
class Account:
    name: str
    api_key: str
    api_secret: str
    wallet: Decimal
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)  # every order, creation order
    open_orders: dict[str, Order] = field(default_factory=dict)
    link_ids: dict[str, Order] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)
    cum_realised: Decimal = ZERO
    #: The wallet before the first execution: where the transaction log's cashBalance starts.
    opening_balance: Decimal = ZERO
    #: Transaction log and closed P&L, derived from ``ledger`` on demand (``ledger_log``).
    books: Books | None = None
    #: ``REGULAR_MARGIN`` (cross) or ``ISOLATED_MARGIN`` (``account/set-margin-mode``).
    margin_mode: str = "REGULAR_MARGIN"

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol)
        return pos
