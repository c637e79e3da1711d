"""Momentum parameters ; docs/strategies.md#momentum lists every default."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from core.strategy import StrategyConfig

DEFAULT_SYMBOLS = [
    f"{coin}USDT"
    for coin in ("BTC", "ETH", "SOL", "XRP", "DOGE", "LINK", "AVAX", "BNB", "ADA", "LTC")
]


class MomentumConfig(StrategyConfig):
    symbols: list[str] = Field(default_factory=lambda: list(DEFAULT_SYMBOLS), min_length=1)
    interval: str = "240"
    bb_period: int = Field(20, ge=2)
    bb_std: Decimal = Field(Decimal(2), gt=0)
    bbw_lookback: int = Field(90, ge=2)
    bbw_pct_max: Decimal = Decimal("0.35")
    volume_period: int = Field(20, ge=1)
    volume_ratio_min: Decimal = Decimal("2.0")
    strength_volume_cap: Decimal = Field(Decimal(5), gt=0)
    strength_distance_cap: Decimal = Field(Decimal("0.10"), gt=0)
    max_positions: int = Field(3, ge=1)
    risk_pct: Decimal = Field(Decimal(5), gt=0)
    stop_pct: Decimal = Field(Decimal(10), gt=0, lt=100)
    max_position_pct: Decimal = Field(Decimal(20), gt=0)
    trailing_pct: Decimal = Field(Decimal(10), gt=0, lt=100)
    daily_limit_pct: Decimal = Field(Decimal(3), gt=0)
    weekly_limit_pct: Decimal = Field(Decimal(8), gt=0)
    monthly_limit_pct: Decimal = Field(Decimal(15), gt=0)
    reduced_size: Decimal = Field(Decimal("0.5"), gt=0, le=1)
