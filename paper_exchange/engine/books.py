"""The state of an account's derived books (transaction log, closed P&L): what
``ledger_log`` folds the execution ledger into, kept on ``Account.books``.

Its own module so that ``models`` can name the type without importing ``ledger_log``,
which works on accounts and would otherwise import ``models`` back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from paper_exchange.engine.numbers import ZERO, fmt

#: Average prices in closed P&L are printed like Bybit's: 8 decimals.
_AVG_PLACES = Decimal("1e-8")


@dataclass(slots=True)
class Holding:
    """One symbol's netted position as the books see it."""

    size: Decimal = ZERO  # signed
    open_fees: Decimal = ZERO  # fees paid opening the open size, not yet closed


@dataclass(slots=True)
class Closing:
    """The closed P&L record of one order, growing with its closing fills."""

    view: dict[str, object]
    created: int
    closed: Decimal = ZERO
    entry_value: Decimal = ZERO
    exit_value: Decimal = ZERO
    pnl: Decimal = ZERO
    open_fee: Decimal = ZERO
    close_fee: Decimal = ZERO
    fills: int = 0

    def refresh(self, updated: int) -> None:
        self.view.update(
            closedSize=fmt(self.closed),
            cumEntryValue=fmt(self.entry_value),
            avgEntryPrice=avg_str(self.entry_value, self.closed),
            cumExitValue=fmt(self.exit_value),
            avgExitPrice=avg_str(self.exit_value, self.closed),
            closedPnl=fmt(self.pnl),
            openFee=fmt(self.open_fee),
            closeFee=fmt(self.close_fee),
            fillCount=str(self.fills),
            updatedTime=str(updated),
        )


def avg_str(value: Decimal, qty: Decimal) -> str:
    return fmt((value / qty).quantize(_AVG_PLACES, ROUND_HALF_UP))


@dataclass(slots=True, eq=False)
class Books:
    """The transaction log and closed P&L of one account, oldest first."""

    balance: Decimal
    consumed: int = 0  # ledger rows folded in so far
    entries: list[dict[str, object]] = field(default_factory=list)
    entry_times: list[int] = field(default_factory=list)
    closings: list[Closing] = field(default_factory=list)
    closing_times: list[int] = field(default_factory=list)
    _by_order: dict[str, Closing] = field(default_factory=dict)
    _holdings: dict[str, Holding] = field(default_factory=dict)
