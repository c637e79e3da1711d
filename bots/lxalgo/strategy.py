"""LXAlgo — pump continuation, long only (docs/strategies.md#lxalgo)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from bots.lxalgo.config import LXAlgoConfig
from bots.trades import Trade, TradeBook, TradeBookStrategy
from core.candles import Candle
from core.indicators import RSI, RollingStdev
from core.risk_rules import LXAlgoRisk
from core.strategy import FillEvent, Intent, PositionView, Reason, StrategyContext

log = logging.getLogger(__name__)

HUNDRED = Decimal(100)
ONE = Decimal(1)
#: Trade-key suffix of a position recovered after a restart (its rule is not in the ledger).
ADOPTED = "adopted"


def select_universe(turnover_24h: Mapping[str, Decimal], minimum: Decimal) -> list[str]:
    """USDT linear perpetuals with 24 h turnover above ``minimum``, highest first (from
    ``/v5/market/tickers``; the host refreshes it every ``universe_refresh_hours``)."""
    eligible = [(t, s) for s, t in turnover_24h.items() if s.endswith("USDT") and t > minimum]
    return [s for _t, s in sorted(eligible, key=lambda p: (-p[0], p[1]))]


@dataclass(frozen=True, slots=True)
class Signal:
    rule: int  # 8 or 6
    score: int
    rsi: Decimal
    volatility: Decimal
    spread: Decimal
    price_change: Decimal
    volume_change: Decimal


class _Series:
    """The last ``keep`` bars of one symbol and its incremental indicators."""

    __slots__ = (
        "bars", "closes", "gate", "lookback", "min_bars", "opens", "prev_close", "returns",
        "rsi", "volumes",
    )  # fmt: skip

    def __init__(self, cfg: LXAlgoConfig) -> None:
        keep = cfg.keep_bars
        self.opens: deque[Decimal] = deque(maxlen=keep)
        self.closes: deque[Decimal] = deque(maxlen=keep)
        self.volumes: deque[Decimal] = deque(maxlen=keep)
        self.rsi = RSI(cfg.rsi_period)
        self.returns = RollingStdev(cfg.volatility_period, ddof=1)
        self.prev_close: Decimal | None = None
        self.bars = 0
        # The pump gate (close − open[t−n]) / open[t−n] × 100 ≥ p, multiplied out:
        # close ≥ open[t−n] × (1 + p/100) (exact in Decimal, no division per bar).
        self.gate = ONE + cfg.pump_pct / HUNDRED
        self.lookback = -1 - cfg.pump_lookback
        self.min_bars = cfg.min_bars

    def update(self, c: Candle) -> bool:
        """Fold one closed bar in; True when it passes the pump gate (enough bars)."""
        close = c.close
        opens = self.opens
        opens.append(c.open)
        self.closes.append(close)
        self.volumes.append(c.volume)
        self.rsi.add(close)  # the index itself is derived only past the pump gate
        pc = self.prev_close
        if pc:
            self.returns.update(close / pc - ONE)
        self.prev_close = close
        self.bars = bars = self.bars + 1
        if bars < self.min_bars:
            return False
        base = opens[self.lookback]
        return base > 0 and close >= base * self.gate


class LXAlgo(TradeBookStrategy[LXAlgoConfig]):
    """Buys continuation after a ≥ 8 % pump when momentum and volume confirm it."""

    Config: ClassVar[type[LXAlgoConfig]] = LXAlgoConfig
    warmup_bars: ClassVar[int] = 200

    def __init__(self, config: LXAlgoConfig | dict[str, object] | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.series: dict[str, _Series] = {}
        self.book = TradeBook(reduce_only=cfg.exclusive)
        self.risk = LXAlgoRisk(
            cfg.daily_drawdown_pct, cfg.weekly_reduce_pct, cfg.weekly_halt_pct, cfg.reduced_size
        )
        self.last_bucket: dict[str, tuple[object, int]] = {}
        self._neg_after = timedelta(hours=float(cfg.negative_exit_hours))
        self._max_hold = timedelta(hours=float(cfg.max_hold_hours))
        self._trail_keep = ONE - cfg.trailing_pct / HUNDRED

    def _series(self, symbol: str) -> _Series:
        s = self.series.get(symbol)
        if s is None:
            # The universe changes every few hours: a new symbol gets its series on first use.
            s = self.series[symbol] = _Series(self.config)
        return s

    def observe(self, candle: Candle) -> None:
        self._series(candle.symbol).update(candle)

    def universe_refresh(self) -> timedelta | None:
        if self.config.universe == "registered":
            return None
        return timedelta(hours=self.config.universe_refresh_hours)

    def select_universe(self, turnover_24h: Mapping[str, Decimal]) -> list[str]:
        return select_universe(turnover_24h, self.config.min_turnover_24h)

    # -- restarts ---------------------------------------------------------------------------

    def remember_strategy(self) -> Mapping[str, str] | None:
        """The daily and weekly drawdown anchors (and a pause, halt or reduced size): a
        restart mid-day must still measure from 00:00 UTC's equity, not from its own."""
        return self.risk.state()

    def reset_risk(self, now: datetime, equity: Decimal) -> None:
        self.risk.reset(now, equity)

    def recall_strategy(self, memo: Mapping[str, str]) -> None:
        try:
            self.risk.restore(memo)
        except (KeyError, ValueError, ArithmeticError) as exc:
            # A memo of another version: the anchors start again, as they did before.
            log.warning("lxalgo: loss-limit anchors not recalled (%s)", exc)

    # -- signal ---------------------------------------------------------------------------

    def signal(self, s: _Series, c: Candle) -> Signal | None:
        """The rule that fires on the last closed bar of ``s`` (``c``), or ``None``. Call it
        only when :meth:`_Series.update` reported the pump gate passed (it is required;
        nothing else is computed without it)."""
        cfg = self.config
        closes, volumes = s.closes, s.volumes
        rsi = s.rsi.value
        std = s.returns.value
        n = cfg.change_period
        if rsi is None or std is None or len(closes) <= n:
            return None
        volatility = std * HUNDRED
        spread = (c.high - c.low) / c.close * HUNDRED
        old_close, old_volume = closes[-1 - n], volumes[-1 - n]
        price_change = (c.close - old_close) / old_close * HUNDRED if old_close else Decimal(0)
        volume_change = (c.volume - old_volume) / old_volume * HUNDRED if old_volume else Decimal(0)
        score = (
            (rsi > cfg.score_rsi)
            + (volume_change > cfg.score_volume_change)
            + (spread < cfg.score_spread)
            + (volatility > cfg.score_volatility)
            + (price_change > cfg.score_price_change)
        )
        if score >= cfg.rule8_min_score and spread < cfg.rule8_max_spread:
            rule = 8
        elif rsi > cfg.rule6_rsi and volatility > cfg.rule6_volatility:
            rule = 6
        else:
            return None
        return Signal(rule, score, rsi, volatility, spread, price_change, volume_change)

    # -- decisions --------------------------------------------------------------------------

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        symbol = candle.symbol
        s = self.series.get(symbol) or self._series(symbol)
        pumped = s.update(candle)
        book = self.book
        out: list[Intent] = []
        if book.trades:
            # Equity only moves while something is open, so the drawdown rules need not
            # look at a flat book (its anchors stay right: flat equity is constant).
            risk = self.risk.update(ctx.now, ctx.equity)
            if risk.close_all:
                return book.close_all(ctx, Reason.EXIT)
            for trade in book.for_symbol(symbol):
                if trade.qty > 0:
                    out += self._manage(trade, candle, ctx)
        if not pumped:
            return out
        sig = self.signal(s, candle)
        if sig is None:
            return out
        risk = self.risk.update(ctx.now, ctx.equity)
        if risk.close_all:
            return book.close_all(ctx, Reason.EXIT)
        if not risk.allow_entries:
            return out
        cfg = self.config
        key = f"{candle.symbol}/{sig.rule}"
        bucket = (ctx.now.date(), ctx.now.hour // cfg.entry_bucket_hours)
        if (
            key in self.book.trades
            or len(self.book) >= cfg.max_open_trades
            or self.last_bucket.get(candle.symbol) == bucket
            # A position recovered after a restart has lost its rule: no second entry on it.
            or f"{candle.symbol}/{ADOPTED}" in self.book.trades
        ):
            return out
        notional = cfg.notional_usdt * risk.size_multiplier
        qty = ctx.instrument(candle.symbol).qty_for_notional(notional, candle.close)
        if qty is None:
            return out
        self.last_bucket[candle.symbol] = bucket
        out.append(self.book.enter_market(ctx, key, candle.symbol, "Buy", qty, rule=sig.rule))
        return out

    def _manage(self, t: Trade, c: Candle, ctx: StrategyContext) -> list[Intent]:
        if t.closing:
            return []
        cfg = self.config
        close = c.close
        if t.tp_price is not None and close >= t.tp_price:
            return self.book.close(ctx, t, Reason.TP)
        stop_price = t.stop_price
        if stop_price is not None and close <= stop_price:
            return self.book.close(ctx, t, t.stop_reason)
        held = ctx.now - (t.opened_at or t.created_at)
        if held > self._max_hold:
            return self.book.close(ctx, t, Reason.TIME)  # really close, not just forget
        entry = t.entry_price
        if held > self._neg_after and close < entry:
            return self.book.close(ctx, t, Reason.TIME)  # still negative after 8 h
        if t.extreme is None or c.high > t.extreme:
            t.extreme = c.high
        # Unrealised profit ≥ p % of the entry, multiplied out: (close − entry)·100 ≥ p·entry.
        gain = (close - entry) * HUNDRED
        out: list[Intent] = []
        # A stop already at or above the target cannot move (trail only ever raises it;
        # both sides are on the tick grid): skip the call.
        if gain >= cfg.break_even_pct * entry and (stop_price is None or stop_price < entry):
            out += self.book.trail(ctx, t, entry, Reason.BREAK_EVEN, close)
        if not t.trailing and gain >= cfg.trailing_activation_pct * entry:
            t.trailing = True
        if t.trailing and not t.closing:
            stop = t.extreme * self._trail_keep
            if t.stop_price is None or stop > t.stop_price:
                out += self.book.trail(ctx, t, stop, Reason.TRAIL, close)
        return out

    def on_fill(self, fill: FillEvent, ctx: StrategyContext) -> list[Intent]:
        trade, leg, out = self.book.apply_fill(fill, ctx)
        if trade is not None and leg == "entry" and trade.stop_id is None and trade.qty > 0:
            cfg = self.config
            entry = trade.entry_price
            stop = entry * (1 - cfg.stop_loss_pct / HUNDRED)
            tp = entry * (1 + cfg.take_profit_pct / HUNDRED)
            out += self.book.protect(ctx, trade, stop, tp)
        return out

    def adopt(
        self, position: PositionView, resting: list[Any], ctx: StrategyContext
    ) -> list[Intent]:
        """Recover the ledger's position after a restart as one trade per symbol (rule 8
        and rule 6 trades on one symbol merge into it), with the spec's stop and take
        profit from its average price when none rests."""
        cfg = self.config
        key = f"{position.symbol}/{ADOPTED}"
        if position.is_flat:
            return self.book.adopt(ctx, position, resting, key, None, None)[1]
        entry = position.avg_price
        sign = 1 if position.qty > 0 else -1
        stop = entry * (1 - sign * cfg.stop_loss_pct / HUNDRED)
        tp = entry * (1 + sign * cfg.take_profit_pct / HUNDRED)
        return self.book.adopt(ctx, position, resting, key, stop, tp)[1]

    def open_since(self, now: datetime) -> dict[str, timedelta]:
        """How long each open trade has been held (for status displays)."""
        return {t.key: now - (t.opened_at or t.created_at) for t in self.book}
