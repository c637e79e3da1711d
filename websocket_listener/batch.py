"""The records a group commit takes (:class:`Batch`) and what it reports back (:class:`Committed`).

Kept apart from the writer because the socket's thread builds batches
(``websocket_listener/records.py``) and the pipeline and service read the results,
without needing the SQL that writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from core.fills import Fill, FundingPayment, OrderUpdate
from core.ids import BotId
from websocket_listener.holder_rule import Moved


@dataclass(slots=True)
class OrderRow:
    account: str
    category: str
    order_id: str
    order_link_id: str
    bot_id: str
    reason: str | None
    symbol: str
    side: str
    order_type: str
    time_in_force: str | None
    status: str
    price: Any
    qty: Any
    cum_exec_qty: Any
    cum_exec_value: Any
    avg_price: Any
    trigger_price: Any
    reduce_only: bool
    cancel_type: str | None
    reject_reason: str | None
    created_time: Any
    updated_time: Any
    raw: str

    @classmethod
    def of(cls, order: OrderUpdate, bot_id: str, reason: str | None) -> OrderRow:
        values = {name: getattr(order, name) for name in ORDER_FIELDS}
        return cls(**values, bot_id=bot_id, reason=reason, raw=raw_json(order.raw))


@dataclass(slots=True)
class RejectRow:
    account: str | None
    topic: str | None
    reason: str
    message: str
    #: The rejects metric's label (not stored: ``reason`` starts with it).
    code: str = "malformed"


@dataclass(slots=True)
class Batch:
    fills: list[Fill] = field(default_factory=list)
    funding: list[FundingPayment] = field(default_factory=list)
    orders: list[OrderRow] = field(default_factory=list)
    rejects: list[RejectRow] = field(default_factory=list)
    #: Per account of the batch: who takes what neither a link id nor a holder claims
    #: (``Attributor.fallback``; external where missing), for the holder rule.
    fallback: dict[str, BotId] = field(default_factory=dict)

    def extend(self, other: Batch) -> None:
        self.fills += other.fills
        self.funding += other.funding
        self.orders += other.orders
        self.rejects += other.rejects
        self.fallback.update(other.fallback)

    def __bool__(self) -> bool:
        return bool(self.fills or self.funding or self.orders or self.rejects)


@dataclass(frozen=True, slots=True)
class Conflict:
    """An ``execId`` seen again with facts that differ from the ledger's."""

    account: str
    exec_id: str
    symbol: str
    #: What differs, e.g. ``exec_qty 0.5 → 0.6``.
    difference: str


@dataclass(slots=True)
class Committed:
    """What the transaction actually changed."""

    new_fills: list[Fill]
    duplicate_fills: int
    new_funding: int
    duplicate_funding: int
    orders: int
    rejects: int
    #: When the batch's live socket ``execution`` messages were received (set by the
    #: pipeline: the latency metric is observed once their Redis writes are done).
    received_at: list[float] = field(default_factory=list)
    #: Conflicting duplicates (each also one of ``rejects``).
    conflicts: list[Conflict] = field(default_factory=list)
    #: The code of every committed reject: counted once they are kept, never before
    #: (a batch the database refused is built again, row by row).
    reject_codes: list[str] = field(default_factory=list)
    #: Fills committed earlier that the holder rule gave another bot (a late fill
    #: before them changed who held the symbol): positions refold both bots.
    moved: list[Moved] = field(default_factory=list)
    #: Funding executions whose shares between bots were rewritten.
    funding_reshared: int = 0

    def add(self, other: Committed) -> None:
        self.new_fills += other.new_fills
        self.duplicate_fills += other.duplicate_fills
        self.new_funding += other.new_funding
        self.duplicate_funding += other.duplicate_funding
        self.orders += other.orders
        self.rejects += other.rejects
        self.conflicts += other.conflicts
        self.reject_codes += other.reject_codes
        self.moved += other.moved
        self.funding_reshared += other.funding_reshared


ORDER_FIELDS = (
    "account", "category", "order_id", "order_link_id", "symbol", "side", "order_type",
    "time_in_force", "status", "price", "qty", "cum_exec_qty", "cum_exec_value", "avg_price",
    "trigger_price", "reduce_only", "cancel_type", "reject_reason", "created_time",
    "updated_time",
)  # fmt: skip


def raw_json(item: Any) -> str:
    """The item as it will sit in a ``raw`` column (Decimals as their strings)."""
    return json.dumps(item, separators=(",", ":"), sort_keys=True, default=str)
