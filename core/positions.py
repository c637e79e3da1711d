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
* Every fill's fee (Bybit's ``execFee``: positive paid, negative rebate) charged in the
  contract's settle coin is added to ``fees`` and subtracted from ``realized_pnl``, so
  realized P&L is net of fees. A fee in another coin (``feeCurrency`` BTC on a USDT
  contract) is not a USDT amount: the fold counts it as 0 (``Fill.counted_fee``) and
  ``analytics.other_coin_fees`` reports it per bot, day and coin.

Exactness: every sum and product of the fold is exact (``_EXACT`` traps any rounding),
as NUMERIC is in PostgreSQL, and the one rounded step is done by integer division, so
this fold, the analytics views and the Redis position agree to the last digit however
many digits the exchange's numbers carry. (The default decimal context keeps 28
significant digits: sums of many-digit fees drifted from the ledger's in the last ones.)

Funding is not part of the fold: it is a separate cash flow (``trading.funding``) that
the analytics add to daily P&L.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
)

from core.fills import Fill, Side

#: Scale of the one rounded quantity: the cost share removed by a partial close.
COST_SCALE = Decimal("1e-12")
_COST_DIGITS = 12
_ZERO = Decimal(0)
#: Additions, subtractions and multiplications are exact in this context: it is as wide
#: as the decimal module allows and traps ``Inexact``/``Rounded``, so a result that had
#: to be rounded raises instead of drifting from the ledger.
_EXACT = Context(
    prec=MAX_PREC,
    Emax=MAX_EMAX,
    Emin=MIN_EMIN,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact, Rounded],
)
_TWICE_SCALE = Decimal(2 * 10**_COST_DIGITS)


def round_half_up_quotient(numerator: Decimal, denominator: Decimal) -> Decimal:
    """``round_half_up(numerator / denominator, 12)`` for ``numerator ≥ 0``,
    ``denominator > 0``, exactly: ``⌊(2·n·10¹² + d) / 2d⌋ · 10⁻¹²`` in integers, so no
    intermediate rounding can tip a half. ``analytics`` (migration 0005) computes the
    same expression with ``div()`` on NUMERIC."""
    whole = _EXACT.divide_int(
        _EXACT.add(_EXACT.multiply(numerator, _TWICE_SCALE), denominator),
        _EXACT.multiply(denominator, 2),
    )
    return whole.scaleb(-_COST_DIGITS, _EXACT)


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
        return round_half_up_quotient(self.cost, _EXACT.abs(self.qty))

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
        gain = _EXACT.subtract(_EXACT.multiply(mark, _EXACT.abs(self.qty)), self.cost)
        return gain if self.qty > 0 else _EXACT.minus(gain)

    def apply(self, fill: Fill) -> Position:
        """Fold one fill in. Fills must arrive in ledger order (see :meth:`is_late`)."""
        # Through _EXACT only: even abs() and unary minus round to the thread's context.
        add, subtract, multiply, absolute = _EXACT.add, _EXACT.subtract, _EXACT.multiply, _EXACT.abs
        trade = fill.exec_qty if fill.side is Side.BUY else _EXACT.minus(fill.exec_qty)
        price = fill.exec_price
        fee = fill.counted_fee
        qty, cost, pnl = self.qty, self.cost, subtract(self.realized_pnl, fee)

        if not qty or (qty > 0) == (trade > 0):
            qty, cost = add(qty, trade), add(cost, multiply(absolute(trade), price))
        else:
            held = absolute(qty)
            closed = min(absolute(trade), held)
            if closed == held:
                removed = cost
            else:
                removed = round_half_up_quotient(multiply(cost, closed), held)
            gain = subtract(multiply(closed, price), removed)
            long = qty > 0
            pnl = add(pnl, gain) if long else subtract(pnl, gain)
            qty, cost = add(qty, trade), subtract(cost, removed)
            if qty and (qty > 0) != long:
                cost = multiply(absolute(qty), price)  # flipped through zero: the rest opens here
        if not qty:
            cost = _ZERO
        # Every field is new: the constructor, not dataclasses.replace, which spends as
        # long again looking the fields up (the listener folds every fill it writes).
        return Position(
            qty=qty,
            cost=cost,
            realized_pnl=pnl,
            fees=add(self.fees, fee),
            fills=self.fills + 1,
            last_key=fill.ledger_key,
        )


def fold(fills: Iterable[Fill], start: Position | None = None) -> Position:
    """The position after ``fills``, which are sorted into ledger order first."""
    position = start or Position()
    for fill in sorted(fills, key=lambda f: f.ledger_key):
        position = position.apply(fill)
    return position
