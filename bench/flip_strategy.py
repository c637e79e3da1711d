"""A test strategy for ``bench/reaction.py``: it acts on every closed candle.

Flat → a market buy; on the entry's fill → a protective stop 10 % below; long on the
next candle → cancel the stop and sell at market. So every candle makes one order the
bench can time (candle close → order accepted), and every other candle an entry fill
the bench can time to its stop resting. No indicators, no warm-up: what is measured is
the host's path, not a strategy's arithmetic.

Not a bundled bot type: the bench publishes it as a plugin (an ``alpha.bots`` entry
point in a throw-away ``.dist-info`` on the bot process's path), exactly as a
third-party package would.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from core.candles import Candle
from core.link_ids import Reason
from core.strategy import (
    CancelOrder,
    EnterMarket,
    ExitMarket,
    FillEvent,
    Intent,
    PlaceStop,
    Strategy,
    StrategyConfig,
    StrategyContext,
    TriggerDirection,
)


class FlipConfig(StrategyConfig):
    qty: Decimal = Field(Decimal("0.001"), gt=0)
    stop_fraction: Decimal = Field(Decimal("0.9"), gt=0, lt=1)


class Flip(Strategy[FlipConfig]):
    Config = FlipConfig

    def __init__(self, config: object = None) -> None:
        super().__init__(config)  # type: ignore[arg-type]
        self.entry: dict[str, str] = {}  # symbol → the entry intent waiting for its fill
        self.stop: dict[str, str] = {}  # symbol → the resting stop's intent id

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        symbol = candle.symbol
        held = ctx.position(symbol).qty
        if held == 0 and symbol not in self.entry:
            self.entry[symbol] = ctx.new_id()
            return [EnterMarket(self.entry[symbol], symbol, "Buy", self.config.qty)]
        if held > 0:
            out: list[Intent] = []
            stop = self.stop.pop(symbol, None)
            if stop is not None:
                out.append(CancelOrder(stop, symbol, Reason.EXIT))
            out.append(ExitMarket(ctx.new_id(), symbol, "Sell", held, Reason.EXIT, True))
            return out
        return []

    def on_fill(self, fill: FillEvent, ctx: StrategyContext) -> list[Intent]:
        symbol = fill.symbol
        if fill.intent_id is None or fill.intent_id != self.entry.get(symbol):
            return []
        del self.entry[symbol]
        trigger = ctx.instrument(symbol).price_down(fill.price * self.config.stop_fraction)
        self.stop[symbol] = ctx.new_id()
        return [
            PlaceStop(
                self.stop[symbol], symbol, "Sell", fill.qty, trigger, TriggerDirection.FALL,
                reduce_only=True,
            )
        ]  # fmt: skip

    def on_rejected(self, intent: Intent, reason: str, ctx: StrategyContext) -> list[Intent]:
        self.entry = {s: i for s, i in self.entry.items() if i != intent.intent_id}
        self.stop = {s: i for s, i in self.stop.items() if i != intent.intent_id}
        return []
