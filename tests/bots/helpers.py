"""Builders shared by the strategy tests: candles, contexts, fills."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.candles import INTERVAL_SECONDS, Candle
from core.instruments import Instrument
from core.strategy import FillEvent, Intent, Reason, Side, StrategyContext

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FINE = Instrument("X", Decimal("0.0001"), Decimal("0.0001"), Decimal("0.0001"), Decimal("0"))


def D(x: object) -> Decimal:  # noqa: N802 - reads like the Decimal constructor it wraps
    return Decimal(str(x))


def candle(
    i: int,
    o: object,
    h: object,
    lo: object,
    c: object,
    v: object = 10,
    symbol: str = "X",
    interval: str = "5",
    t0: datetime = T0,
) -> Candle:
    start = t0 + timedelta(seconds=INTERVAL_SECONDS[interval] * i)
    return Candle(symbol, interval, start, D(o), D(h), D(lo), D(c), D(v), D(v) * D(c))


def flat(i: int, price: object, symbol: str = "X", interval: str = "5", v: object = 10) -> Candle:
    return candle(i, price, price, price, price, v, symbol, interval)


def ctx(
    now: datetime = T0, equity: object = 10_000, symbols: Sequence[str] = ("X",)
) -> StrategyContext:
    insts = {s: Instrument(s, FINE.tick_size, FINE.qty_step, FINE.min_order_qty) for s in symbols}
    return StrategyContext(now, D(equity), insts, {})


def fill_for(intent: Intent, price: object, when: datetime, qty: object | None = None) -> FillEvent:
    side: Side = intent.side  # type: ignore[union-attr]
    q = intent.qty if qty is None else D(qty)  # type: ignore[union-attr]
    return FillEvent(
        intent.symbol,
        side,
        D(price),
        q,
        Decimal(0),
        Reason(intent.reason),
        "x",
        when,
        intent.intent_id,
    )
