"""OrderBlock (STRATEGIES.md). Work in progress: decisions land in the next commit."""

from __future__ import annotations

from typing import ClassVar

from bots.orderblock.config import OrderBlockConfig
from core.candles import Candle
from core.strategy import Intent, Strategy, StrategyContext


class OrderBlock(Strategy[OrderBlockConfig]):
    Config: ClassVar[type[OrderBlockConfig]] = OrderBlockConfig

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        return []
