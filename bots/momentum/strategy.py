"""Momentum (STRATEGIES.md). Work in progress: decisions land in the next commit."""

from __future__ import annotations

from typing import ClassVar

from bots.momentum.config import MomentumConfig
from core.candles import Candle
from core.strategy import Intent, Strategy, StrategyContext


class Momentum(Strategy[MomentumConfig]):
    Config: ClassVar[type[MomentumConfig]] = MomentumConfig

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        return []
