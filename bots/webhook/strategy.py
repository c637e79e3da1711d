"""The ``webhook`` bot: no indicators, its decisions arrive as signals.

Each accepted alert (``POST /webhook/{bot_id}``, docs/api.md#webhooks) reaches
:meth:`Webhook.on_signal` and becomes the same intents the bundled bots send, so the
risk gate, the bot's state, link ids, the ledger and the notifications apply unchanged:

* ``enter_long`` / ``enter_short``: a market entry of ``qty``, or sized so that a move
  to ``stop`` loses ``risk_pct`` of the bot's equity. An opposite position is closed
  first (a reversal); an entry in the direction already held is ignored unless
  ``pyramiding`` is on. With ``stop``, a tagged stop follows the entry's fills.
* ``exit``: close the bot's own position in the symbol at market, cancel its stop.
* ``stop``: place the position's stop at ``stop``, or move the one resting there.

Candles only keep the host's last price current (sizing by risk without a ``price``
in the alert uses it); they never cause an order.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import Field

from core.candles import Candle
from core.signals import Signal
from core.strategy import (
    AmendStop,
    CancelOrder,
    EnterMarket,
    ExitMarket,
    FillEvent,
    Intent,
    PlaceStop,
    PositionView,
    Reason,
    Side,
    Strategy,
    StrategyConfig,
    StrategyContext,
    TriggerDirection,
)

ZERO = Decimal(0)


class WebhookConfig(StrategyConfig):
    #: Only the price feed: a 1-minute candle keeps the last price fresh for sizing.
    interval: str = "1"
    #: Refuse any entry larger than this (base coin); ``None``: no cap but the risk gate's.
    max_qty: Decimal | None = Field(None, gt=0)
    #: Add to a position held in the same direction on a second entry alert.
    pyramiding: bool = False


class Webhook(Strategy[WebhookConfig]):
    Config = WebhookConfig

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        #: symbol → intent id of the bot's resting stop there.
        self._stops: dict[str, str] = {}
        #: entry intent id → the stop price its fills must be protected at.
        self._stop_for_entry: dict[str, Decimal] = {}
        #: symbol → the stop price the last alert asked for while a position is held;
        #: kept across restarts (remember/recall) so an entry that filled while the bot
        #: was down still gets its stop.
        self._wanted: dict[str, Decimal] = {}

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        return []

    # --- signals ------------------------------------------------------------------------

    def on_signal(self, signal: Signal, ctx: StrategyContext) -> list[Intent]:
        if signal.is_entry:
            return self._enter(signal, ctx)
        if signal.action == "exit":
            return self._exit(signal.symbol, ctx)
        return self._move_stop(signal, ctx)

    def _enter(self, signal: Signal, ctx: StrategyContext) -> list[Intent]:
        side: Side = "Buy" if signal.action == "enter_long" else "Sell"
        held = ctx.position(signal.symbol)
        intents: list[Intent] = []
        if not held.is_flat:
            if (held.qty > 0) == (side == "Buy"):
                if not self.config.pyramiding:
                    return []
            else:
                intents += self._exit(signal.symbol, ctx)
        qty = self._size(signal, ctx)
        if qty is None or qty <= 0:
            return intents
        entry = EnterMarket(ctx.new_id(), signal.symbol, side, qty)
        if signal.stop is not None:
            self._stop_for_entry[entry.intent_id] = signal.stop
            self._wanted[signal.symbol] = signal.stop
        return [*intents, entry]

    def _size(self, signal: Signal, ctx: StrategyContext) -> Decimal | None:
        qty = signal.qty
        if qty is None and signal.risk_pct is not None and signal.stop is not None:
            price = signal.price or ctx.price(signal.symbol)
            if price is None or price == signal.stop:
                return None  # no price to measure the stop distance from
            qty = ctx.equity * signal.risk_pct / 100 / abs(price - signal.stop)
        if qty is not None and self.config.max_qty is not None:
            qty = min(qty, self.config.max_qty)
        return qty

    def _exit(self, symbol: str, ctx: StrategyContext) -> list[Intent]:
        intents: list[Intent] = []
        self._wanted.pop(symbol, None)
        stop_id = self._stops.pop(symbol, None)
        if stop_id is not None:
            intents.append(CancelOrder(stop_id, symbol, Reason.EXIT))
        held = ctx.position(symbol)
        if not held.is_flat:
            side: Side = "Sell" if held.qty > 0 else "Buy"
            intents.append(ExitMarket(ctx.new_id(), symbol, side, abs(held.qty), Reason.EXIT))
        return intents

    def _move_stop(self, signal: Signal, ctx: StrategyContext) -> list[Intent]:
        held = ctx.position(signal.symbol)
        if held.is_flat or signal.stop is None:
            return []
        self._wanted[signal.symbol] = signal.stop
        return [self._protect(signal.symbol, held, signal.stop, ctx)]

    def _protect(
        self, symbol: str, held: PositionView, trigger: Decimal | None, ctx: StrategyContext
    ) -> Intent:
        """The stop for the whole of ``held``: the resting one amended, or a new one."""
        resting = self._stops.get(symbol)
        if resting is not None:
            return AmendStop(resting, symbol, trigger_price=trigger, qty=abs(held.qty),
                             reason=Reason.SL)  # fmt: skip
        assert trigger is not None  # a new stop always has its price (callers check)
        long = held.qty > 0
        closing: Side = "Sell" if long else "Buy"
        stop = PlaceStop(
            ctx.new_id(), symbol, closing, abs(held.qty), trigger,
            TriggerDirection.FALL if long else TriggerDirection.RISE,
            reduce_only=self.config.exclusive,
        )  # fmt: skip
        self._stops[symbol] = stop.intent_id
        return stop

    # --- fills and refusals -------------------------------------------------------------

    def on_fill(self, fill: FillEvent, ctx: StrategyContext) -> list[Intent]:
        held = ctx.position(fill.symbol)
        if fill.intent_id is not None and fill.intent_id == self._stops.get(fill.symbol):
            # The stop fired. It may fill in pieces: while it works on the rest it stays
            # the symbol's stop; if it ends short of the position, on_exit_ended closes
            # what is left.
            if held.is_flat:
                del self._stops[fill.symbol]
                self._wanted.pop(fill.symbol, None)
            return []
        if held.is_flat:
            self._wanted.pop(fill.symbol, None)
            stop_id = self._stops.pop(fill.symbol, None)
            return [CancelOrder(stop_id, fill.symbol, Reason.EXIT)] if stop_id else []
        trigger = self._stop_for_entry.get(fill.intent_id or "")
        if trigger is not None and (held.qty > 0) == (fill.side == "Buy"):
            # Each entry fill grows the position: the stop always covers all of it.
            return [self._protect(fill.symbol, held, trigger, ctx)]
        return []

    def on_rejected(self, intent: Intent, reason: str, ctx: StrategyContext) -> list[Intent]:
        self._stop_for_entry.pop(intent.intent_id, None)
        if isinstance(intent, PlaceStop) and self._stops.get(intent.symbol) == intent.intent_id:
            del self._stops[intent.symbol]
        return []

    def on_exit_ended(self, intent_id: str, symbol: str, ctx: StrategyContext) -> list[Intent]:
        """The stop finished short of the position (its rest cancelled on a thin book,
        or it fired before it grew with a later entry piece): close what is left now,
        exactly the ledger's position, rather than leave it without a stop."""
        if self._stops.get(symbol) != intent_id:
            return []
        del self._stops[symbol]
        self._wanted.pop(symbol, None)
        held = ctx.position(symbol)
        if held.is_flat:
            return []
        side: Side = "Sell" if held.qty > 0 else "Buy"
        return [ExitMarket(ctx.new_id(), symbol, side, abs(held.qty), Reason.SL,
                           self.config.exclusive)]  # fmt: skip

    def flatten(self, ctx: StrategyContext, reason: Reason = Reason.KILL) -> list[Intent]:
        # The host closes the ledger's positions and cancels every resting order itself.
        self._stops.clear()
        self._stop_for_entry.clear()
        self._wanted.clear()
        return []

    def flatten_symbol(
        self, ctx: StrategyContext, symbol: str, reason: Reason = Reason.KILL
    ) -> list[Intent]:
        self._stops.pop(symbol, None)
        self._wanted.pop(symbol, None)
        return []

    def remember(self, symbol: str) -> dict[str, str] | None:
        wanted = self._wanted.get(symbol)
        return {"stop": format(wanted, "f")} if wanted is not None else None

    def recall(self, symbol: str, memo: Mapping[str, str]) -> None:
        if "stop" in memo:
            self._wanted[symbol] = Decimal(memo["stop"])

    def adopt(
        self, position: PositionView, resting: list[Any], ctx: StrategyContext
    ) -> list[Intent]:
        """After a restart: re-link the resting stop; cancel one left on a flat position
        and anything else resting (an entry cannot be waiting: entries are market). A
        position without its stop — its entry filled while the bot was down — gets the
        one its alert asked for, sized to the whole position."""
        intents: list[Intent] = []
        symbol = position.symbol
        covered: Decimal | None = None
        for order in resting:
            if order.kind == "stop" and not position.is_flat and symbol not in self._stops:
                self._stops[symbol] = order.intent_id
                covered = Decimal(order.qty)
            else:
                intents.append(CancelOrder(order.intent_id, symbol, Reason.EXIT))
        if position.is_flat:
            self._wanted.pop(symbol, None)
        elif covered is not None:
            if covered != abs(position.qty):  # entry fills while down: cover them too
                intents.append(self._protect(symbol, position, None, ctx))
        elif symbol in self._wanted:
            intents.append(self._protect(symbol, position, self._wanted[symbol], ctx))
        return intents
