"""Orders of this bot that the exchange ended without the bot asking: a self-match
prevention cancel (``cancelType`` ``CancelBySmp``, docs/strategies.md), a reduce-only
order cancelled for nothing to reduce, an admin cancel.

The bot hears of its fills (``fills:{bot}``) but not of its orders' other ends, so such
an order would stay "open" in its memory (``bot:{id}:orders``) and in its strategy: a
limit entry the strategy waits on forever. The listener records every order update in
``trading.orders`` (with the bot it belongs to); on each candle the host asks the ledger
about the orders it still believes open, one query, and hands each one the exchange
ended to the strategy as a refusal (``Strategy.on_rejected``), as if it had never gone
out. Its fills so far stay the bot's: a partly filled entry keeps its position.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

import psycopg

from core.db import KeptConnection
from core.ids import BotId
from core.orders import TrackedOrder
from core.strategy import (
    EnterLimit,
    ExitMarket,
    Intent,
    PlaceStop,
    PlaceTakeProfit,
    Reason,
    Side,
    TriggerDirection,
)

log = logging.getLogger(__name__)

#: Order states in which an order ends without (further) fills.
ENDED_UNFILLED = ("Cancelled", "Deactivated", "Rejected", "PartiallyFilledCanceled")


@dataclass(frozen=True, slots=True)
class ExchangeCancel:
    tracked: TrackedOrder
    status: str
    cancel_type: str | None
    reject_reason: str | None
    price: Decimal | None

    @property
    def why(self) -> str:
        return f"ended by the exchange: {self.status} ({self.cancel_type}, {self.reject_reason})"

    def as_intent(self) -> Intent:
        """The intent the order was sent for, as far as :meth:`Strategy.on_rejected`
        needs it (the intent id and its kind)."""
        t = self.tracked
        side: Side = "Buy" if t.side == "Buy" else "Sell"
        qty = Decimal(t.qty)
        reason = _reason(t.reason)
        trigger = Decimal(t.trigger_price) if t.trigger_price else Decimal(0)
        # A buy stop or take profit fires on a rise (a short's stop), a sell one on a fall.
        direction = TriggerDirection.RISE if side == "Buy" else TriggerDirection.FALL
        if t.kind == "stop":
            return PlaceStop(t.intent_id, t.symbol, side, qty, trigger, direction, reason,
                             t.sibling_id)  # fmt: skip
        if t.kind == "take_profit":
            return PlaceTakeProfit(t.intent_id, t.symbol, side, qty, trigger, direction, reason,
                                   t.sibling_id)  # fmt: skip
        if t.kind == "exit":
            return ExitMarket(t.intent_id, t.symbol, side, qty, reason)
        return EnterLimit(t.intent_id, t.symbol, side, qty, self.price or Decimal(0))


def _reason(value: str) -> Reason:
    try:
        return Reason(value)
    except ValueError:
        return Reason.MANUAL


def ended_by_exchange(
    reads: KeptConnection, bot_id: BotId, open_orders: list[TrackedOrder]
) -> list[ExchangeCancel]:
    """Which of ``open_orders`` the ledger shows ended unfilled (or partly filled). An
    unreadable ledger answers nothing: the next candle asks again."""
    if not open_orders:
        return []
    by_link = {t.link_id: t for t in open_orders}
    try:
        with reads.use() as conn:
            rows = conn.execute(
                "SELECT order_link_id, status, cancel_type, reject_reason, price"
                " FROM trading.orders WHERE bot_id = %s AND order_link_id = ANY(%s)"
                " AND status = ANY(%s)",
                (bot_id, list(by_link), list(ENDED_UNFILLED)),
            ).fetchall()
    except psycopg.Error as exc:  # the next candle asks again
        log.warning("could not read this bot's order states from the ledger: %s", exc)
        return []
    return [
        ExchangeCancel(by_link[link], status, cancel_type, reject, price)
        for link, status, cancel_type, reject, price in rows
    ]
