"""ShortSeller (STRATEGIES.md). Work in progress: decisions land in the next commit."""

from __future__ import annotations

from typing import ClassVar

from bots.shortseller.config import ShortSellerConfig
from core.candles import Candle
from core.strategy import Intent, Strategy, StrategyContext


class ShortSeller(Strategy[ShortSellerConfig]):
    Config: ClassVar[type[ShortSellerConfig]] = ShortSellerConfig

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        return []
