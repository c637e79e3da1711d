"""Instrument trading rules and the rounding every order goes through.

The exchange rejects a price that is not a multiple of ``tickSize`` and a quantity that
is not a multiple of ``qtyStep``. Rounding must never make an order bigger or riskier
than the strategy asked for, so:

* quantities are floored to ``qtyStep``; an order that ends up below ``minOrderQty`` or
  ``minNotionalValue`` is skipped (``None``), never rounded up;
* prices are rounded to ``tickSize`` toward the safer side: an entry limit buys lower and
  sells higher; a protective trigger (stop or take profit) moves toward the position's
  entry (a tighter stop, a nearer target), so the loss is never larger than planned.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Literal

Side = Literal["Buy", "Sell"]


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` that is ≤ ``value`` (``step`` > 0)."""
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The smallest multiple of ``step`` that is ≥ ``value`` (``step`` > 0)."""
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


@dataclass(frozen=True, slots=True)
class Instrument:
    """The rules of one linear perpetual (``/v5/market/instruments-info``)."""

    symbol: str
    tick_size: Decimal
    qty_step: Decimal
    min_order_qty: Decimal
    min_notional: Decimal = Decimal(0)
    max_order_qty: Decimal | None = None

    def __post_init__(self) -> None:
        if self.tick_size <= 0 or self.qty_step <= 0:
            raise ValueError(f"{self.symbol}: tickSize and qtyStep must be positive")

    @classmethod
    def from_bybit(cls, info: dict[str, Any]) -> Instrument:
        """From one ``result.list[]`` entry of ``/v5/market/instruments-info`` (strings)."""
        lot, price = info["lotSizeFilter"], info["priceFilter"]
        max_qty = lot.get("maxMktOrderQty") or lot.get("maxOrderQty")
        return cls(
            symbol=info["symbol"],
            tick_size=Decimal(price["tickSize"]),
            qty_step=Decimal(lot["qtyStep"]),
            min_order_qty=Decimal(lot["minOrderQty"]),
            min_notional=Decimal(lot.get("minNotionalValue") or "0"),
            max_order_qty=Decimal(max_qty) if max_qty else None,
        )

    # -- quantities ---------------------------------------------------------------------

    def order_qty(self, qty: Decimal, price: Decimal) -> Decimal | None:
        """``qty`` floored to ``qtyStep`` (and capped at the maximum), or ``None`` when the
        result is below ``minOrderQty`` or its notional at ``price`` is below
        ``minNotionalValue``: the order is then skipped, never rounded up."""
        if qty <= 0:
            return None
        q = floor_to_step(qty, self.qty_step)
        if self.max_order_qty is not None and q > self.max_order_qty:
            q = floor_to_step(self.max_order_qty, self.qty_step)
        if q < self.min_order_qty or q * price < self.min_notional:
            return None
        return q

    def qty_for_notional(self, notional: Decimal, price: Decimal) -> Decimal | None:
        """The order quantity buying ``notional`` quote currency at ``price`` (see
        :meth:`order_qty`)."""
        if price <= 0:
            return None
        return self.order_qty(notional / price, price)

    def exit_qty(self, qty: Decimal) -> Decimal:
        """A closing quantity: floored to ``qtyStep`` but never skipped, because a position
        the ledger holds was itself made of valid orders."""
        return floor_to_step(abs(qty), self.qty_step)

    # -- prices ---------------------------------------------------------------------------

    def price_down(self, price: Decimal) -> Decimal:
        return floor_to_step(price, self.tick_size)

    def price_up(self, price: Decimal) -> Decimal:
        return ceil_to_step(price, self.tick_size)

    def limit_price(self, side: Side, price: Decimal) -> Decimal:
        """An entry limit: a buy rounds down, a sell rounds up (never pay more)."""
        return self.price_down(price) if side == "Buy" else self.price_up(price)

    def stop_price(self, exit_side: Side, price: Decimal) -> Decimal:
        """A protective stop's trigger, rounded toward the entry (a tighter stop): the stop
        of a long (a Sell) rounds up, that of a short (a Buy) rounds down."""
        return self.price_up(price) if exit_side == "Sell" else self.price_down(price)

    def take_profit_price(self, exit_side: Side, price: Decimal) -> Decimal:
        """A take-profit trigger, rounded toward the entry (a nearer target): a long's (a
        Sell) rounds down, a short's (a Buy) rounds up."""
        return self.price_down(price) if exit_side == "Sell" else self.price_up(price)


def default_instrument(symbol: str) -> Instrument:
    """Permissive rules for backtests of a symbol whose real rules are not at hand."""
    return Instrument(
        symbol=symbol,
        tick_size=Decimal("0.0001"),
        qty_step=Decimal("0.001"),
        min_order_qty=Decimal("0.001"),
        min_notional=Decimal("5"),
    )
