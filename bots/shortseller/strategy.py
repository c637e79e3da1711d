"""ShortSeller — "Multi-Asset EMA 240/600", short only (docs/strategies.md#shortseller)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from bots.shortseller.config import ShortSellerConfig
from bots.trades import Trade, TradeBook, TradeBookStrategy
from core.candles import Candle
from core.indicators import EMA
from core.strategy import FillEvent, Intent, PositionView, Reason, StrategyContext

HUNDRED = Decimal(100)


@dataclass(slots=True)
class _Asset:
    fast: EMA
    slow: EMA
    prev_close: Decimal | None = None
    prev_fast: Decimal | None = None
    prev_slow: Decimal | None = None
    crosses: int = 0
    cross_day: date | None = None
    last_entry: datetime | None = None
    active: bool = False  # regime of the last closed bar


class ShortSeller(TradeBookStrategy[ShortSellerConfig]):
    """Sells into a bearish regime when price crosses below EMA240 or EMA600."""

    Config: ClassVar[type[ShortSellerConfig]] = ShortSellerConfig
    #: EMA600 needs ~3 periods to forget its seed; 1,000 bars leaves it visibly biased.
    warmup_bars: ClassVar[int] = 1800

    def __init__(self, config: ShortSellerConfig | dict[str, object] | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.assets = {s: _Asset(EMA(cfg.ema_fast), EMA(cfg.ema_slow)) for s in cfg.symbols}
        self.book = TradeBook(reduce_only=cfg.exclusive)
        self._reset = timedelta(minutes=cfg.daily_reset_minute)
        self._cooldown = timedelta(minutes=cfg.cooldown_minutes)
        self._max_hold = timedelta(hours=float(cfg.max_hold_hours))

    #: Read at each decision (or refreshed by :meth:`reconfigure`); the EMA periods,
    #: interval and leverage need a restart (the indicators would have to start over).
    live_fields: ClassVar[frozenset[str]] = frozenset({
        "symbols", "margin_pct", "exits", "max_hold_hours", "cooldown_minutes",
        "max_daily_crosses", "daily_reset_minute",
    })  # fmt: skip

    def reconfigure(self, config: ShortSellerConfig) -> None:
        """New sizing, exits, timings or symbols. A new symbol gets fresh EMAs (the host
        warms them up before it may enter); a removed one keeps its EMAs and trade, so a
        position there is still managed (its exits row is kept for that). An open trade
        keeps the exit levels it has."""
        kept = {s: e for s, e in self.config.exits.items() if s not in config.exits}
        if kept:
            config = config.model_copy(update={"exits": {**config.exits, **kept}})
        super().reconfigure(config)
        for symbol in config.symbols:
            if symbol not in self.assets:
                self.assets[symbol] = _Asset(EMA(config.ema_fast), EMA(config.ema_slow))
        self._reset = timedelta(minutes=config.daily_reset_minute)
        self._cooldown = timedelta(minutes=config.cooldown_minutes)
        self._max_hold = timedelta(hours=float(config.max_hold_hours))

    # -- indicators -------------------------------------------------------------------------

    def _update(self, a: _Asset, candle: Candle) -> int:
        """Fold one closed bar in; returns the number of cross events on it and counts
        them toward the per-asset daily counter (reset at 00:01 UTC)."""
        close = candle.close
        fast = a.fast.update(close)
        slow = a.slow.update(close)
        events = 0
        pc = a.prev_close
        if pc is not None:
            pf, ps = a.prev_fast, a.prev_slow
            if pf is not None and fast is not None and pc >= pf and close < fast:
                events += 1
            if ps is not None and slow is not None and pc >= ps and close < slow:
                events += 1
        a.prev_close, a.prev_fast, a.prev_slow = close, fast, slow
        a.active = fast is not None and slow is not None and close < fast and close < slow
        # The counter's day starts at 00:01 UTC: a bar closing at 00:00 still belongs to
        # the previous day.
        day = (candle.end - self._reset).date()
        if day != a.cross_day:
            a.cross_day, a.crosses = day, 0
        return events

    def observe(self, candle: Candle) -> None:
        a = self.assets.get(candle.symbol)
        if a is not None:
            a.crosses += self._update(a, candle)

    # -- decisions ----------------------------------------------------------------------------

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        a = self.assets.get(candle.symbol)
        if a is None:
            return []
        events = self._update(a, candle)
        crosses_before = a.crosses
        a.crosses += events
        trade = self.book.get(candle.symbol)
        if trade is not None:
            return self._manage(trade, a, candle, ctx) if trade.qty > 0 else []
        if (
            events
            and a.active
            and crosses_before < self.config.max_daily_crosses
            and not self._in_cooldown(a, ctx.now)
            and ctx.position(candle.symbol).is_flat
        ):
            return self._enter(a, candle, ctx)
        return []

    def _in_cooldown(self, a: _Asset, now: datetime) -> bool:
        return a.last_entry is not None and now < a.last_entry + self._cooldown

    def _enter(self, a: _Asset, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        cfg = self.config
        notional = ctx.equity * cfg.margin_pct / HUNDRED * cfg.leverage
        qty = ctx.instrument(candle.symbol).qty_for_notional(notional, candle.close)
        if qty is None:
            return []  # below the instrument's minimums: skipped, never rounded up
        a.last_entry = ctx.now
        return [self.book.enter_market(ctx, candle.symbol, candle.symbol, "Sell", qty)]

    def _manage(self, t: Trade, a: _Asset, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        if t.closing:
            return []
        close = candle.close
        # Software exits, in the spec's order; they back up the exchange-side orders.
        if t.tp_price is not None and close <= t.tp_price:
            return self.book.close(ctx, t, Reason.TP)
        if t.stop_price is not None and close >= t.stop_price:
            return self.book.close(ctx, t, t.stop_reason)
        if t.opened_at is not None and ctx.now - t.opened_at > self._max_hold:
            return self.book.close(ctx, t, Reason.TIME)
        if not a.active and not self._in_cooldown(a, ctx.now):
            return self.book.close(ctx, t, Reason.REGIME)
        ex = self.config.exits[t.symbol]
        # Activation is judged on the closed price (the unrealised profit); from then on
        # the stop follows the lowest traded price, bar lows included.
        if not t.trailing and t.profit_pct(close) >= ex.trailing_activation_pct:
            t.trailing, t.extreme = True, close
        elif t.trailing and (t.extreme is None or candle.low < t.extreme):
            t.extreme = candle.low
        if t.trailing:
            assert t.extreme is not None
            stop = t.extreme * (1 + ex.trailing_distance_pct / HUNDRED)
            return self.book.trail(ctx, t, stop, Reason.TRAIL, close)
        return []

    def on_fill(self, fill: FillEvent, ctx: StrategyContext) -> list[Intent]:
        trade, leg, out = self.book.apply_fill(fill, ctx)
        if trade is not None and leg == "entry" and trade.stop_id is None and trade.qty > 0:
            ex = self.config.exits[trade.symbol]
            entry = trade.entry_price
            stop = entry * (1 + ex.stop_loss_pct / HUNDRED)
            tp = entry * (1 - ex.take_profit_pct / HUNDRED)
            out += self.book.protect(ctx, trade, stop, tp)
        return out

    def adopt(
        self, position: PositionView, resting: list[Any], ctx: StrategyContext
    ) -> list[Intent]:
        """Recover the ledger's position after a restart: the same stop and take profit an
        entry at its average price would have had (placed only if none rests)."""
        ex = self.config.exits.get(position.symbol)
        if ex is None or position.is_flat:
            return self.book.adopt(ctx, position, resting, position.symbol, None, None)[1]
        a = self.assets.get(position.symbol)
        if a is not None:
            # The cooldown (which also holds off the regime exit) runs from the entry; if
            # the ledger cannot say when that was, it runs from now (the cautious side).
            a.last_entry = position.opened_at or ctx.now
        entry = position.avg_price
        sign = 1 if position.qty < 0 else -1  # a short's stop lies above its entry
        stop = entry * (1 + sign * ex.stop_loss_pct / HUNDRED)
        tp = entry * (1 - sign * ex.take_profit_pct / HUNDRED)
        return self.book.adopt(ctx, position, resting, position.symbol, stop, tp)[1]
