"""Momentum — 4 h volatility-squeeze breakout, long only (docs/strategies.md#momentum)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from bots.momentum.config import MomentumConfig
from bots.trades import Trade, TradeBook, TradeBookStrategy
from core.candles import Candle
from core.indicators import SMA, RollingStdev
from core.risk_rules import MomentumRisk
from core.strategy import FillEvent, Intent, PositionView, Reason, StrategyContext

HUNDRED = Decimal(100)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Signal:
    symbol: str
    at: datetime  # close time of the bar
    close: Decimal
    bbw_pct: Decimal
    volume_ratio: Decimal
    distance: Decimal  # (close − SMA20) / SMA20
    strength: Decimal


class _Series:
    """Bollinger state kept as variance: the band width's square root is only taken for a
    signal. Ranking by var/mid² ranks exactly like BBW = 2k·σ/mid (monotonic), and
    ``close > upper`` is ``close − mid > 0 and (close − mid)² > k²·var``; this halves the
    per-candle cost (a Decimal sqrt is ~1 µs, measured)."""

    __slots__ = ("bbw", "k2", "mid", "std", "var", "volume")

    def __init__(self, cfg: MomentumConfig) -> None:
        self.std = RollingStdev(cfg.bb_period, ddof=1)
        self.k2 = cfg.bb_std * cfg.bb_std
        self.volume = SMA(cfg.volume_period)
        self.bbw: deque[Decimal] = deque(maxlen=cfg.bbw_lookback)  # var / mid², see above
        self.mid: Decimal | None = None
        self.var: Decimal | None = None

    def update(self, c: Candle) -> Decimal | None:
        std = self.std
        std.update(c.close)
        self.volume.update(c.volume)
        if not std.ready:
            return None
        self.mid = mid = std.mean
        self.var = var = std.variance
        assert mid is not None and var is not None
        if not mid:
            return None
        w2 = var / (mid * mid)
        self.bbw.append(w2)
        return w2

    def above_upper(self, close: Decimal) -> bool:
        mid, var = self.mid, self.var
        if mid is None or var is None:
            return False
        d = close - mid
        return d > 0 and d * d > self.k2 * var


class Momentum(TradeBookStrategy[MomentumConfig]):
    """Buys a close above the upper Bollinger band out of a volatility squeeze."""

    Config: ClassVar[type[MomentumConfig]] = MomentumConfig
    #: 20 bars for the first band width, then 90 band widths for the percentile.
    warmup_bars: ClassVar[int] = 120

    def __init__(self, config: MomentumConfig | dict[str, object] | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.series = {s: _Series(cfg) for s in cfg.symbols}
        self.book = TradeBook(reduce_only=cfg.exclusive)
        self.risk = MomentumRisk(
            cfg.daily_limit_pct, cfg.weekly_limit_pct, cfg.monthly_limit_pct, cfg.reduced_size
        )
        self.pending: dict[str, Signal] = {}

    def reset_risk(self, now: datetime, equity: Decimal) -> None:
        self.risk.reset(now, equity)

    def observe(self, candle: Candle) -> None:
        s = self.series.get(candle.symbol)
        if s is not None:
            s.update(candle)

    def signal(self, s: _Series, c: Candle, w2: Decimal) -> Signal | None:
        cfg = self.config
        middle, vol_avg = s.mid, s.volume.value
        # Cheap tests first; the 90-value percentile only when everything else holds.
        if middle is None or not vol_avg or c.close <= middle or not s.above_upper(c.close):
            return None
        ratio = c.volume / vol_avg
        if ratio <= cfg.volume_ratio_min or len(s.bbw) < cfg.bbw_lookback:
            return None
        below = sum(1 for w in s.bbw if w < w2)
        pct = Decimal(below) / (cfg.bbw_lookback - 1)
        if pct >= cfg.bbw_pct_max:
            return None
        distance = (c.close - middle) / middle
        strength = (
            (ONE - pct)
            + min(ratio / cfg.strength_volume_cap, ONE)
            + min(distance / cfg.strength_distance_cap, ONE)
        ) / 3
        return Signal(c.symbol, c.end, c.close, pct, ratio, distance, strength)

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        s = self.series.get(candle.symbol)
        if s is None:
            return []
        bbw = s.update(candle)
        out: list[Intent] = []
        for trade in self.book.for_symbol(candle.symbol):
            if trade.qty > 0:
                out += self._manage(trade, s, candle, ctx)
        if bbw is not None and self.book.get(candle.symbol) is None:
            sig = self.signal(s, candle, bbw)
            if sig is not None:
                self.pending[candle.symbol] = sig
        return out

    def _manage(self, t: Trade, s: _Series, c: Candle, ctx: StrategyContext) -> list[Intent]:
        if t.closing:
            return []
        middle = s.mid
        if middle is not None and c.close < middle:
            return self.book.close(ctx, t, Reason.EXIT)
        if t.extreme is None or c.high > t.extreme:
            t.extreme = c.high
        stop = t.extreme * (1 - self.config.trailing_pct / HUNDRED)
        return self.book.trail(ctx, t, stop, Reason.TRAIL, c.close)

    def on_timer(self, ctx: StrategyContext) -> list[Intent]:
        """Rank the signals of the bars that closed at ``ctx.now`` and fill free slots."""
        # Every tick, signal or not: the period's anchor is its first equity (00:00 UTC,
        # Monday, the 1st), and a loss taken before the first signal must count.
        risk = self.risk.update(ctx.now, ctx.equity)
        if not self.pending:
            return []
        latest = max(sig.at for sig in self.pending.values())
        signals = [sig for sig in self.pending.values() if sig.at == latest]
        self.pending.clear()
        if not risk.allow_entries:
            return []
        cfg = self.config
        free = cfg.max_positions - len(self.book)
        # Risk 5 % with a 10 % stop would be 50 % of equity: the 20 % cap decides.
        fraction = min(cfg.risk_pct / cfg.stop_pct, cfg.max_position_pct / HUNDRED)
        notional = ctx.equity * fraction * risk.size_multiplier
        out: list[Intent] = []
        for sig in sorted(signals, key=lambda x: (-x.strength, x.symbol)):
            if free <= 0:
                break
            if self.book.get(sig.symbol) is not None or not ctx.position(sig.symbol).is_flat:
                continue
            qty = ctx.instrument(sig.symbol).qty_for_notional(notional, sig.close)
            if qty is None:
                continue
            out.append(self.book.enter_market(ctx, sig.symbol, sig.symbol, "Buy", qty))
            free -= 1
        return out

    def on_fill(self, fill: FillEvent, ctx: StrategyContext) -> list[Intent]:
        self.risk.update(ctx.now, ctx.equity)  # a loss between candles counts as well
        trade, leg, out = self.book.apply_fill(fill, ctx)
        if trade is not None and leg == "entry" and trade.stop_id is None and trade.qty > 0:
            stop = trade.entry_price * (1 - self.config.trailing_pct / HUNDRED)
            out += self.book.protect(ctx, trade, stop, None)
        return out

    def adopt(
        self, position: PositionView, resting: list[Any], ctx: StrategyContext
    ) -> list[Intent]:
        """Recover the ledger's position after a restart. A resting (possibly trailed) stop
        is kept; without one, the trailing stop restarts 10 % from the better of the
        average entry and the last close (the highest price since entry is not in the
        ledger view)."""
        if position.is_flat:
            return self.book.adopt(ctx, position, resting, position.symbol, None, None)[1]
        frac = self.config.trailing_pct / HUNDRED
        last = ctx.price(position.symbol) or position.avg_price
        if position.qty > 0:
            stop = max(position.avg_price, last) * (1 - frac)
        else:
            stop = min(position.avg_price, last) * (1 + frac)
        trade, out = self.book.adopt(ctx, position, resting, position.symbol, stop, None)
        if trade is not None and not trade.closing:
            trade.extreme = max(position.avg_price, last) if trade.is_long else None
        return out
