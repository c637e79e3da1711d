"""LXAlgo parameters ; docs/strategies.md#lxalgo lists every default."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from core.strategy import StrategyConfig


class LXAlgoConfig(StrategyConfig):
    #: The registered symbols: the universe until the host's first refresh, and for good
    #: with ``universe = "registered"`` (backtests replay the symbols they are given).
    symbols: list[str] = Field(default_factory=lambda: ["BTCUSDT"], min_length=1)
    interval: str = "5"
    #: "turnover": live, the host re-selects the universe every ``universe_refresh_hours``
    #: from the exchange's tickers: every USDT perpetual with 24 h turnover above
    #: ``min_turnover_24h``, highest first (:func:`bots.lxalgo.select_universe`).
    universe: Literal["turnover", "registered"] = "turnover"
    min_turnover_24h: Decimal = Decimal(10_000_000)
    universe_refresh_hours: int = Field(4, ge=1)
    keep_bars: int = Field(200, ge=150)
    min_bars: int = Field(150, ge=2)
    pump_lookback: int = Field(12, ge=1)
    pump_pct: Decimal = Decimal(8)
    rsi_period: int = Field(84, ge=2)
    volatility_period: int = Field(144, ge=2)
    change_period: int = Field(144, ge=1)
    score_rsi: Decimal = Decimal(60)
    score_volume_change: Decimal = Decimal(50)
    score_spread: Decimal = Decimal(3)
    score_volatility: Decimal = Decimal("0.005")
    score_price_change: Decimal = Decimal(5)
    rule8_min_score: int = 2
    rule8_max_spread: Decimal = Decimal(4)
    rule6_rsi: Decimal = Decimal(55)
    rule6_volatility: Decimal = Decimal("0.008")
    max_open_trades: int = Field(20, ge=1)
    entry_bucket_hours: int = Field(4, ge=1, le=24)
    notional_usdt: Decimal = Field(Decimal(200), gt=0)
    take_profit_pct: Decimal = Field(Decimal(30), gt=0)
    stop_loss_pct: Decimal = Field(Decimal(8), gt=0, lt=100)
    trailing_pct: Decimal = Field(Decimal(10), gt=0, lt=100)
    trailing_activation_pct: Decimal = Field(Decimal(20), gt=0)
    break_even_pct: Decimal = Field(Decimal(8), gt=0)
    negative_exit_hours: Decimal = Field(Decimal(8), gt=0)
    max_hold_hours: Decimal = Field(Decimal(72), gt=0)
    daily_drawdown_pct: Decimal = Field(Decimal(2), gt=0)
    weekly_reduce_pct: Decimal = Field(Decimal(4), gt=0)
    weekly_halt_pct: Decimal = Field(Decimal(6), gt=0)
    reduced_size: Decimal = Field(Decimal("0.5"), gt=0, le=1)
