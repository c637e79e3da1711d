"""A bot type only the optimisation tests install (through an ``alpha.bots`` entry point
in ``planted_bot-0.dist-info``): it buys one unit at the start of every 24-bar cycle and
sells what it holds ``hold_bars`` bars later. The synthetic market of ``test_optimize.py``
peaks exactly 8 bars in, so ``hold_bars = 8`` is the one best value."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from core.candles import Candle
from core.strategy import EnterMarket, ExitMarket, Intent, Strategy, StrategyConfig, StrategyContext

CYCLE = 24


class PlantedConfig(StrategyConfig):
    symbols: list[str] = Field(default_factory=lambda: ["BTCUSDT"], min_length=1)
    interval: str = "60"
    hold_bars: int = Field(3, ge=1, le=20)
    qty: Decimal = Field(Decimal(1), gt=0)
    #: Raise on the first candle when ``hold_bars`` is 13: a strategy bug in one trial.
    fragile: bool = False


class Planted(Strategy[PlantedConfig]):
    Config = PlantedConfig

    def __init__(self, config: object = None) -> None:
        super().__init__(config)  # type: ignore[arg-type]
        self._bars: dict[str, int] = {}

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        if self.config.fragile and self.config.hold_bars == 13:
            raise RuntimeError("unlucky 13")
        bar = self._bars.get(candle.symbol, 0)
        self._bars[candle.symbol] = bar + 1
        phase, qty = bar % CYCLE, self.config.qty
        if phase == 0:
            return [EnterMarket(ctx.new_id(), candle.symbol, "Buy", qty)]
        held = ctx.positions.get(candle.symbol)
        if phase == self.config.hold_bars and held is not None and held.qty > 0:
            # Only what it holds: an entry the host refused leaves nothing to sell.
            return [ExitMarket(ctx.new_id(), candle.symbol, "Sell", held.qty)]
        return []
