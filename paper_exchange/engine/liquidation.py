"""Liquidation price of a USDT perpetual position, as Bybit documents it.

Isolated margin (Bybit's help centre, "Liquidation Price (USDT Contract)"): the position
is liquidated when the mark price has eaten its initial margin down to the maintenance
margin::

    long:  entry - (IM - MM) / size - extra margin / size
    short: entry + (IM - MM) / size + extra margin / size
    IM = entry value / leverage,  MM = entry value * MMR - MM deduction

Cross margin on a unified account ("Trading Rules: Liquidation Process (Unified Trading
Account)"): the account is liquidated when its maintenance margin rate reaches 100%,
that is when its margin balance (wallet + unrealised P&L at mark) falls to its
maintenance margin, which a unified account computes at the mark price
(``positionMM`` "the same value as positionMMByMp"). Bybit shows an *estimated*
liquidation price for each cross position: the mark price P of that position at which
this happens, everything else held where it is::

    wallet + others' P&L + size * (P - entry) = others' MM + |size| * P * MMR
    P = (size * entry - (wallet + others' P&L - others' MM)) / (size - |size| * MMR)

with ``size`` signed (long > 0).

Either way the position view gives ``""`` when the price is at or below the
instrument's minimum price or at or above its maximum (``/v5/position/list``: "keeps
"" when liqPrice <= minPrice or liqPrice >= maxPrice"), and for a flat position. A
price is rounded to the tick toward the mark (up for a long, down for a short), so
the shown price is never beyond the one the formula gives.

The paper exchange uses one maintenance margin rate and no deduction (the first risk
tier, as its ``positionMM`` does), and no margin is ever added to a position. Its
account is cross margin unless ``account/set-margin-mode`` made it isolated.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from paper_exchange.engine.instruments import Instrument
from paper_exchange.engine.models import Account, Position
from paper_exchange.engine.numbers import ZERO

#: Maintenance margin rate of the first risk tier, the only one the paper exchange has.
MAINTENANCE_MARGIN_RATE = Decimal("0.005")


def maintenance_margin(value: Decimal, rate: Decimal = MAINTENANCE_MARGIN_RATE) -> Decimal:
    return value * rate


def isolated_liq_price(
    size: Decimal,
    entry: Decimal,
    leverage: Decimal,
    *,
    mmr: Decimal = MAINTENANCE_MARGIN_RATE,
    mm_deduction: Decimal = ZERO,
    extra_margin: Decimal = ZERO,
) -> Decimal:
    """The raw isolated-margin liquidation price; ``size`` is signed (long > 0)."""
    qty = abs(size)
    value = qty * entry
    im = value / leverage
    mm = value * mmr - mm_deduction
    cushion = (im - mm) / qty + extra_margin / qty
    return entry - cushion if size > 0 else entry + cushion


def cross_liq_price(
    size: Decimal,
    entry: Decimal,
    *,
    wallet: Decimal,
    others_upl: Decimal,
    others_mm: Decimal,
    mmr: Decimal = MAINTENANCE_MARGIN_RATE,
) -> Decimal:
    """The raw estimated cross-margin liquidation price; ``size`` is signed."""
    return (size * entry - (wallet + others_upl - others_mm)) / (size - abs(size) * mmr)


def shown(price: Decimal, size: Decimal, inst: Instrument) -> str:
    """``liqPrice`` as the position view gives it: at the tick, or ``""``."""
    if size == 0:
        return ""
    rounding = ROUND_CEILING if size > 0 else ROUND_FLOOR
    at_tick = (price / inst.tick_size).quantize(Decimal(1), rounding) * inst.tick_size
    if at_tick <= inst.lowest_price or at_tick >= inst.highest_price:
        return ""
    return inst.price_str(at_tick)


def account_liq_price(
    acct: Account,
    pos: Position,
    marks: Mapping[str, Decimal],
    instruments: Mapping[str, Instrument],
) -> str:
    """A position's ``liqPrice`` on the paper exchange's unified account, by its margin
    mode (``Account.margin_mode``)."""
    if pos.size == 0:
        return ""
    inst = instruments[pos.symbol]
    if acct.margin_mode == "ISOLATED_MARGIN":
        return shown(isolated_liq_price(pos.size, pos.avg, pos.leverage), pos.size, inst)
    others_upl = ZERO
    others_mm = ZERO
    for other in acct.positions.values():
        if not other.size or other is pos:
            continue
        mark = marks[other.symbol]
        others_mm += maintenance_margin(abs(other.size) * mark)
        others_upl += other.size * (mark - other.avg)
    raw = cross_liq_price(
        pos.size, pos.avg, wallet=acct.wallet, others_upl=others_upl, others_mm=others_mm
    )
    return shown(raw, pos.size, inst)
