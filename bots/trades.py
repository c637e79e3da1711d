"""Trade bookkeeping shared by the bundled strategies (pure, no I/O).

On a shared account a bot's exits are its own tagged orders (docs/architecture.md): a conditional
stop and take profit placed after the entry fills, the sibling cancelled when one of them
fills, trailing stops amended only in the position's favour. :class:`TradeBook` does that
bookkeeping once so the four strategies only decide *when*.

A trade is keyed by the strategy (``symbol`` or ``symbol/rule``); its quantity and average
price come from its own fills, which the host reports with the intent id of the order
that caused them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from core.strategy import (
    ZERO,
    AmendStop,
    CancelOrder,
    ConfigT,
    EnterLimit,
    EnterMarket,
    ExitMarket,
    FillEvent,
    Intent,
    PlaceStop,
    PlaceTakeProfit,
    PositionView,
    Reason,
    Side,
    Strategy,
    StrategyContext,
    TriggerDirection,
    opposite,
)

Leg = Literal["entry", "stop", "tp", "exit"]


@dataclass(slots=True, eq=False)
class Trade:
    """One position the strategy opened, from its entry order to its last exit fill."""

    key: str
    symbol: str
    side: Side  # Buy = long, Sell = short
    entry_id: str
    requested_qty: Decimal
    created_at: datetime
    limit_price: Decimal | None = None
    qty: Decimal = ZERO  # open quantity, from fills (unsigned)
    entry_price: Decimal = ZERO  # average entry fill price
    opened_at: datetime | None = None  # first entry fill
    entry_open: bool = True  # the entry order may still fill
    stop_id: str | None = None
    stop_price: Decimal | None = None
    stop_reason: Reason = Reason.SL
    tp_id: str | None = None
    tp_price: Decimal | None = None
    exit_ids: list[str] = field(default_factory=list)
    closing: bool = False  # a market exit is in flight: no more trailing, no new exits
    close_reason: Reason = Reason.EXIT  # why the last market exit was sent
    extreme: Decimal | None = None  # best price since entry (high for long, low for short)
    trailing: bool = False
    data: dict[str, Any] = field(default_factory=dict)  # strategy-specific (rule, block …)

    @property
    def is_long(self) -> bool:
        return self.side == "Buy"

    @property
    def exit_side(self) -> Side:
        return opposite(self.side)

    def profit_pct(self, price: Decimal) -> Decimal:
        """Unrealised return at ``price`` in percent of the entry (positive = in profit)."""
        if not self.entry_price:
            return ZERO
        move = (price - self.entry_price) if self.is_long else (self.entry_price - price)
        return move / self.entry_price * 100


class TradeBook:
    """The strategy's trades and the intent ids of their orders."""

    __slots__ = ("_by_intent", "reduce_only", "trades")

    def __init__(self, reduce_only: bool = False) -> None:
        self.trades: dict[str, Trade] = {}
        self._by_intent: dict[str, tuple[Trade, Leg]] = {}
        #: ``exclusive`` bots may mark their exits reduceOnly; shared-account bots never.
        self.reduce_only = reduce_only

    def __len__(self) -> int:
        return len(self.trades)

    def __iter__(self) -> Iterator[Trade]:
        return iter(list(self.trades.values()))

    def get(self, key: str) -> Trade | None:
        return self.trades.get(key)

    def for_symbol(self, symbol: str) -> list[Trade]:
        return [t for t in self.trades.values() if t.symbol == symbol]

    # -- opening -----------------------------------------------------------------------

    def enter_market(
        self, ctx: StrategyContext, key: str, symbol: str, side: Side, qty: Decimal, **data: Any
    ) -> EnterMarket:
        trade = self._open(ctx, key, symbol, side, qty, None, data)
        return EnterMarket(trade.entry_id, symbol, side, qty)

    def enter_limit(
        self,
        ctx: StrategyContext,
        key: str,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        **data: Any,
    ) -> EnterLimit:
        trade = self._open(ctx, key, symbol, side, qty, price, data)
        return EnterLimit(trade.entry_id, symbol, side, qty, price)

    def _open(
        self,
        ctx: StrategyContext,
        key: str,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal | None,
        data: dict[str, Any],
    ) -> Trade:
        if key in self.trades:
            raise ValueError(f"trade {key!r} is already open")
        trade = Trade(key, symbol, side, ctx.new_id(), qty, ctx.now, price, data=data)
        self.trades[key] = trade
        self._by_intent[trade.entry_id] = (trade, "entry")
        return trade

    def protect(
        self, ctx: StrategyContext, trade: Trade, stop: Decimal | None, tp: Decimal | None
    ) -> list[Intent]:
        """Place the trade's tagged stop and take profit (prices rounded toward the entry)."""
        inst = ctx.instrument(trade.symbol)
        side = trade.exit_side
        out: list[Intent] = []
        # A leg placed next to one that already rests (adoption) still names it as sibling.
        stop_id = ctx.new_id() if stop is not None else trade.stop_id
        tp_id = ctx.new_id() if tp is not None else trade.tp_id
        # A long's stop fires on a fall and its take profit on a rise; a short's mirrored.
        stop_dir = TriggerDirection.FALL if trade.is_long else TriggerDirection.RISE
        tp_dir = TriggerDirection.RISE if trade.is_long else TriggerDirection.FALL
        if stop is not None and stop_id is not None:
            trade.stop_id, trade.stop_price = stop_id, inst.stop_price(side, stop)
            self._by_intent[stop_id] = (trade, "stop")
            out.append(
                PlaceStop(
                    stop_id, trade.symbol, side, trade.qty, trade.stop_price, stop_dir,
                    Reason.SL, tp_id, self.reduce_only,
                )
            )  # fmt: skip
        if tp is not None and tp_id is not None:
            trade.tp_id, trade.tp_price = tp_id, inst.take_profit_price(side, tp)
            self._by_intent[tp_id] = (trade, "tp")
            out.append(
                PlaceTakeProfit(
                    tp_id, trade.symbol, side, trade.qty, trade.tp_price, tp_dir,
                    Reason.TP, stop_id, self.reduce_only,
                )
            )  # fmt: skip
        return out

    def rejected(self, ctx: StrategyContext, intent: Intent) -> list[Intent]:
        """Forget an intent that never became an order (see ``Strategy.on_rejected``).

        An entry that did not go out frees its trade key (a later signal may enter); a
        market exit that did not go out may be asked for again; a stop the exchange
        refused leaves the position unprotected — the usual cause is a price already
        beyond the trigger — so the trade is closed at market instead. A refused take
        profit keeps its price for the software exit of the next bar.
        """
        hit = self._by_intent.get(intent.intent_id)
        if hit is None:
            return []
        trade = hit[0]
        if isinstance(intent, (EnterMarket, EnterLimit)):
            self._by_intent.pop(intent.intent_id, None)
            trade.entry_open = False
            if trade.qty == 0:
                self.trades.pop(trade.key, None)
        elif isinstance(intent, ExitMarket):
            trade.closing = False
        elif isinstance(intent, PlaceStop) and trade.stop_id == intent.intent_id:
            trade.stop_id = None
            if trade.qty > 0:
                return self.close(ctx, trade, Reason.SL)
        elif isinstance(intent, PlaceTakeProfit) and trade.tp_id == intent.intent_id:
            trade.tp_id = None
        return []

    # -- restart recovery ------------------------------------------------------------------

    def adopt(
        self,
        ctx: StrategyContext,
        position: PositionView,
        resting: Sequence[Any],
        key: str,
        stop: Decimal | None,
        tp: Decimal | None,
        **data: Any,
    ) -> tuple[Trade | None, list[Intent]]:
        """Take over the ledger's ``position`` after a restart (one trade per symbol).

        ``resting`` are the bot's own orders still resting on the exchange for this symbol
        (``core.orders.TrackedOrder``). The first closing-side stop and take profit are
        re-linked to the trade (their quantity amended to the position's); every other
        resting order is cancelled — an entry the strategy no longer tracks could open
        an unprotected position, and a stop on a flat position would open one. A stop
        (``stop``) and take profit (``tp``, strategy prices for the position's average)
        are placed only when none rests; when the last price is already beyond one of
        them the trade is closed at market instead, which is what the software exits
        would do on the next bar.

        The trade's open time is the ledger's (``position.opened_at``), so time-based
        exits keep their clock across a restart; when unknown it counts as opened now.
        """
        symbol = position.symbol
        if position.is_flat:
            return None, [CancelOrder(o.intent_id, symbol, Reason.EXIT) for o in resting]
        side: Side = "Buy" if position.qty > 0 else "Sell"
        qty = abs(position.qty)
        opened = position.opened_at or ctx.now
        trade = Trade(
            key, symbol, side, ctx.new_id(), qty, opened,
            qty=qty, entry_price=position.avg_price, opened_at=opened, entry_open=False,
            extreme=position.avg_price, data={"adopted": True, **data},
        )  # fmt: skip
        exit_side = trade.exit_side
        stops = [o for o in resting if o.kind == "stop" and o.side == exit_side]
        keep_stop = stops[0] if stops else None
        tps = [o for o in resting if o.kind == "take_profit" and o.side == exit_side]
        paired = [o for o in tps if keep_stop is not None and o.intent_id == keep_stop.sibling_id]
        keep_tp = (paired or tps or [None])[0]
        kept = {o.intent_id for o in (keep_stop, keep_tp) if o is not None}
        out: list[Intent] = [
            CancelOrder(o.intent_id, symbol, Reason.EXIT)
            for o in resting
            if o.intent_id not in kept
        ]
        self.trades[key] = trade
        exit_qty = ctx.instrument(symbol).exit_qty(qty)
        for order, leg in ((keep_stop, "stop"), (keep_tp, "tp")):
            if order is None:
                continue
            price = Decimal(order.trigger_price) if order.trigger_price else None
            if leg == "stop":
                trade.stop_id, trade.stop_price = order.intent_id, price
            else:
                trade.tp_id, trade.tp_price = order.intent_id, price
            self._by_intent[order.intent_id] = (trade, leg)  # type: ignore[assignment]
            if Decimal(order.qty) != exit_qty:
                out.append(AmendStop(order.intent_id, symbol, qty=qty, reason=Reason.ENTRY))
        last = ctx.price(symbol)

        def beyond(level: Decimal, is_stop: bool) -> bool:
            if last is None:
                return False
            losing = trade.is_long == is_stop  # a long's stop and a short's TP lie below
            return last <= level if losing else last >= level

        if keep_stop is None and stop is not None and beyond(stop, True):
            return trade, out + self.close(ctx, trade, Reason.SL)
        if keep_tp is None and tp is not None and beyond(tp, False):
            return trade, out + self.close(ctx, trade, Reason.TP)
        out += self.protect(
            ctx,
            trade,
            stop if keep_stop is None else None,
            tp if keep_tp is None else None,
        )
        return trade, out

    # -- fills ---------------------------------------------------------------------------

    def apply_fill(
        self, fill: FillEvent, ctx: StrategyContext
    ) -> tuple[Trade | None, Leg | None, list[Intent]]:
        """Fold one own execution into its trade.

        Returns the trade, which leg filled, and the bookkeeping intents that follow
        (protective-order quantity updates, sibling cancel). An entry fill of an
        unprotected trade returns no protection: the strategy calls :meth:`protect` with
        its own prices. Fills of unknown intents (a manual order, ADL) are ignored here;
        the host's ledger still counts them.
        """
        hit = self._by_intent.get(fill.intent_id) if fill.intent_id else None
        if hit is None:
            return None, None, []
        trade, leg = hit
        out: list[Intent] = []
        if fill.side == trade.side:
            new_qty = trade.qty + fill.qty
            trade.entry_price = (trade.entry_price * trade.qty + fill.price * fill.qty) / new_qty
            trade.qty = new_qty
            if trade.opened_at is None:
                trade.opened_at = fill.exec_time
            if trade.extreme is None:
                trade.extreme = fill.price
            if trade.qty >= trade.requested_qty:
                trade.entry_open = False
            self.trades.setdefault(trade.key, trade)  # a late fill after a cancel reopens it
            # A partial entry already protected: the protective orders follow its size.
            for oid in (trade.stop_id, trade.tp_id):
                if oid is not None:
                    out.append(AmendStop(oid, trade.symbol, qty=trade.qty, reason=Reason.ENTRY))
            return trade, leg, out
        trade.qty = max(ZERO, trade.qty - fill.qty)
        if leg == "stop":
            siblings = [("tp", trade.tp_id)]
        elif leg == "tp":
            siblings = [("stop", trade.stop_id)]
        else:
            siblings = [("stop", trade.stop_id), ("tp", trade.tp_id)]
        if trade.qty == 0:
            for name, oid in siblings:
                if oid is not None:
                    out.append(CancelOrder(oid, trade.symbol, Reason(fill.reason)))
                    self._clear(trade, name)
            if leg in ("stop", "tp"):
                self._clear(trade, leg)
            if not trade.entry_open:
                self.trades.pop(trade.key, None)
        else:
            for _name, oid in siblings:
                if oid is not None and not trade.closing:
                    out.append(AmendStop(oid, trade.symbol, qty=trade.qty, reason=fill.reason))
        return trade, leg, out

    def exit_ended(self, ctx: StrategyContext, intent_id: str) -> list[Intent]:
        """The trade's stop or take profit is finished on the exchange after filling part
        of what the trade holds (``Strategy.on_exit_ended``): its rest was cancelled (a
        market order walking a thin book is IOC), or it triggered before it grew with a
        later entry piece. The leftover has nothing protecting it, so it is closed at
        market now: the entry's unfilled rest and the sibling are cancelled, and the exit
        is the trade's own open quantity (every fill of the finished order is in it; the
        host cuts it to the ledger position too). A trade already closing, or whose
        current stop is another order, is left alone; a market exit of the trade that
        ended short has its rest sent again."""
        hit = self._by_intent.get(intent_id)
        if hit is None:
            return []
        trade, leg = hit
        if leg == "exit":
            # A market exit is IOC too: on a thin book it can end short. Send the rest,
            # as long as each round fills something (an exit that fills nothing is not
            # watched: the next candle reports it refused, and the strategy decides).
            if not trade.closing or not trade.exit_ids or trade.exit_ids[-1] != intent_id:
                return []
            trade.closing = False
            if trade.qty <= 0 or self.trades.get(trade.key) is not trade:
                return []
            return self.close(ctx, trade, trade.close_reason)
        if leg == "stop" and trade.stop_id == intent_id:
            trade.stop_id = None
            reason = trade.stop_reason  # sl, or the trailing rule that last moved it
        elif leg == "tp" and trade.tp_id == intent_id:
            trade.tp_id = None
            reason = Reason.TP
        else:
            return []
        if trade.qty <= 0 or trade.closing or self.trades.get(trade.key) is not trade:
            return []
        return self.close(ctx, trade, reason)

    @staticmethod
    def _clear(trade: Trade, leg: str) -> None:
        if leg == "stop":
            trade.stop_id = None
        elif leg == "tp":
            trade.tp_id = None

    # -- managing --------------------------------------------------------------------------

    def trail(
        self, ctx: StrategyContext, trade: Trade, new_stop: Decimal, reason: Reason, last: Decimal
    ) -> list[Intent]:
        """Move the stop to ``new_stop`` if that is in the trade's favour (up for a long,
        down for a short); if the last price is already beyond it, exit at market instead
        (the exchange would refuse a trigger on the wrong side of the price)."""
        if trade.closing or trade.stop_id is None or trade.qty == 0:
            return []
        inst = ctx.instrument(trade.symbol)
        price = inst.stop_price(trade.exit_side, new_stop)
        old = trade.stop_price
        if old is not None and (price <= old if trade.is_long else price >= old):
            return []
        if (last <= price) if trade.is_long else (last >= price):
            return self.close(ctx, trade, reason)
        trade.stop_price = price
        trade.stop_reason = reason
        return [AmendStop(trade.stop_id, trade.symbol, trigger_price=price, reason=reason)]

    def close(self, ctx: StrategyContext, trade: Trade, reason: Reason) -> list[Intent]:
        """Close the trade at market: cancel its resting orders (entry remainder, stop, take
        profit) first, then sell/buy back exactly its own open quantity."""
        if trade.closing:
            return []
        out: list[Intent] = []
        if trade.entry_open:
            out.append(CancelOrder(trade.entry_id, trade.symbol, reason))
            trade.entry_open = False
        for name, oid in (("stop", trade.stop_id), ("tp", trade.tp_id)):
            if oid is not None:
                out.append(CancelOrder(oid, trade.symbol, reason))
                self._clear(trade, name)
        if trade.qty > 0:
            trade.closing = True
            trade.close_reason = reason
            exit_id = ctx.new_id()
            trade.exit_ids.append(exit_id)
            self._by_intent[exit_id] = (trade, "exit")
            qty = ctx.instrument(trade.symbol).exit_qty(trade.qty)
            out.append(
                ExitMarket(exit_id, trade.symbol, trade.exit_side, qty, reason, self.reduce_only)
            )
        else:
            self.trades.pop(trade.key, None)
        return out

    def cancel_entry(self, ctx: StrategyContext, trade: Trade, reason: Reason) -> list[Intent]:
        """Withdraw a resting entry that has not filled (an invalidated order block)."""
        if not trade.entry_open:
            return []
        trade.entry_open = False
        if trade.qty == 0:
            self.trades.pop(trade.key, None)
        return [CancelOrder(trade.entry_id, trade.symbol, reason)]

    def close_all(self, ctx: StrategyContext, reason: Reason) -> list[Intent]:
        out: list[Intent] = []
        for trade in self:
            out += self.close(ctx, trade, reason)
        return out


class TradeBookStrategy(Strategy[ConfigT]):
    """A strategy whose trades live in a :class:`TradeBook` (``self.book``): flattening
    and the host's refusals are the book's business, the same for every such strategy."""

    book: TradeBook

    def flatten(self, ctx: StrategyContext, reason: Reason = Reason.KILL) -> list[Intent]:
        return self.book.close_all(ctx, reason)

    def flatten_symbol(
        self, ctx: StrategyContext, symbol: str, reason: Reason = Reason.KILL
    ) -> list[Intent]:
        out: list[Intent] = []
        for trade in self.book.for_symbol(symbol):
            out += self.book.close(ctx, trade, reason)
        return out

    def on_rejected(self, intent: Intent, reason: str, ctx: StrategyContext) -> list[Intent]:
        return self.book.rejected(ctx, intent)

    def on_exit_ended(self, intent_id: str, symbol: str, ctx: StrategyContext) -> list[Intent]:
        return self.book.exit_ended(ctx, intent_id)
