"""LXAlgo (STRATEGIES.md). Work in progress: decisions land in the next commit."""

from __future__ import annotations

from typing import ClassVar

from bots.lxalgo.config import LXAlgoConfig
from core.candles import Candle
from core.strategy import Intent, Strategy, StrategyContext


class LXAlgo(Strategy[LXAlgoConfig]):
    Config: ClassVar[type[LXAlgoConfig]] = LXAlgoConfig

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        return []
