"""Order-block (OB-v1) parameters ; docs/strategies.md#order-block lists every default."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from core.strategy import StrategyConfig


class OrderBlockConfig(StrategyConfig):
    symbols: list[str] = Field(default_factory=lambda: ["BTCUSDT"], min_length=1)
    interval: str = "15"
    pivot_len: int = Field(5, ge=1)
    mitigation: Literal["wick", "close"] = "wick"
    max_age_bars: int = Field(100, ge=1)
    max_active_per_side: int = Field(3, ge=1)
    risk_pct: Decimal = Field(Decimal(1), gt=0, le=100)
    rr: Decimal = Field(Decimal(2), gt=0)
    atr_period: int = Field(14, ge=1)
    atr_stop_mult: Decimal = Field(Decimal("0.1"), ge=0)
