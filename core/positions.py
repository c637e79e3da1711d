"""Positions are a fold of fills (docs/ledger.md invariant 4).

Per (bot, symbol), in ledger order ``(exec_time, seq, exec_id)``:

* ``qty`` is signed (long > 0, short < 0).
* ``cost`` is the entry notional of the open quantity (always ≥ 0); the average entry
  price is ``cost / |qty|``. Adding to a position adds ``qty × price`` to the cost, so
  the average is the quantity-weighted mean.
* A reducing fill closes ``closed = min(|fill|, |qty|)`` and takes its share of the cost
  with it: all of it when the position closes, otherwise
  ``round_half_up(cost × closed / |qty|, 12)``. That one rounding (at 1e-12 quote
  units, far below any tick) is the only inexact step; it is spelled out here because
  the SQL views must reproduce it to the last decimal.
* Realized P&L of the close is ``closed × price − removed cost`` for a long and the
  negative of that for a short. A fill larger than the position flips it: the old
  position closes completely and the remainder opens at the fill price.
* Every fill's fee (Bybit's ``execFee``: positive paid, negative rebate) is added to
  ``fees`` and subtracted from ``realized_pnl``, so realized P&L is net of fees.

Funding is not part of the fold: it is a separate cash flow (``trading.funding``) that
the analytics add to daily P&L.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal

from core.fills import Fill, Side

#: Scale of the one rounded quantity: the cost share removed by a partial close.
COST_SCALE = Decimal("1e-12")
_ZERO = Decimal(0)
# Enough digits that the quotient is exact to far beyond COST_SCALE before rounding.
_WIDE = Context(prec=60)

LedgerKey = tuple[datetime, int, str]


@dataclass(frozen=True, slots=True)
class Position:
    """The fold state of one (bot, symbol). Immutable: ``apply`` returns a new one."""

    qty: Decimal = _ZERO
    cost: Decimal = _ZERO
    realized_pnl: Decimal = _ZERO
    fees: Decimal = _ZERO
    fills: int = 0
    last_key: LedgerKey | None = None

    @property
    def avg_price(self) -> Decimal:
        """Average entry price of the open quantity (0 when flat), rounded to COST_SCALE."""
        if not self.qty:
            return _ZERO
        return _WIDE.divide(self.cost, abs(self.qty)).quantize(COST_SCALE, ROUND_HALF_UP)

    @property
    def side(self) -> Side | None:
        if self.qty > 0:
            return Side.BUY
        return Side.SELL if self.qty < 0 else None

    @property
    def last_fill(self) -> str | None:
        return self.last_key[2] if self.last_key else None

    def is_late(self, fill: Fill) -> bool:
        """True when ``fill`` belongs before fills already folded: the caller must re-fold."""
        return self.last_key is not None and fill.ledger_key < self.last_key

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        if not self.qty:
            return _ZERO
        return (mark * abs(self.qty) - self.cost) * (1 if self.qty > 0 else -1)

    def apply(self, fill: Fill) -> Position:
        """Fold one fill in. Fills must arrive in ledger order (see :meth:`is_late`)."""
        trade = fill.exec_qty * fill.side.sign
        price = fill.exec_price
        qty, cost, pnl = self.qty, self.cost, self.realized_pnl - fill.exec_fee

        if not qty or (qty > 0) == (trade > 0):
            qty, cost = qty + trade, cost + abs(trade) * price
        else:
            closed = min(abs(trade), abs(qty))
            if closed == abs(qty):
                removed = cost
            else:
                removed = _WIDE.divide(_WIDE.multiply(cost, closed), abs(qty))
                removed = removed.quantize(COST_SCALE, ROUND_HALF_UP)
            direction = 1 if qty > 0 else -1
            pnl += (closed * price - removed) * direction
            qty, cost = qty + trade, cost - removed
            if qty and (qty > 0) != (direction > 0):
                cost = abs(qty) * price  # flipped through zero: the rest opens at this price
        if not qty:
            cost = _ZERO
        # Every field is new: the constructor, not dataclasses.replace, which spends as
        # long again looking the fields up (the listener folds every fill it writes).
        return Position(
            qty=qty,
            cost=cost,
            realized_pnl=pnl,
            fees=self.fees + fill.exec_fee,
            fills=self.fills + 1,
            last_key=fill.ledger_key,
        )


def fold(fills: Iterable[Fill], start: Position | None = None) -> Position:
    """The position after ``fills``, which are sorted into ledger order first."""
    position = start or Position()
    for fill in sorted(fills, key=lambda f: f.ledger_key):
        position = position.apply(fill)
    return position
