"""A candle-by-candle backtest that runs strategy code unchanged.

Fill model (deliberately simple, and pessimistic where it has to guess):

* a market order fills at the next bar's open (taker fee);
* a limit order fills when a later bar touches its price, at the price or at the open if
  the bar opened through it (maker fee);
* a conditional (stop / take profit) fills when a later bar touches its trigger, at the
  trigger or at the open if the bar gapped through it (taker fee); when a stop and a take
  profit are both touched in one bar, the stop fills first;
* an order placed while a bar is processed (say, the stop placed on an entry fill) can fill
  from the next bar on;
* limit and trigger prices are rounded to the instrument's tick as the live order
  manager rounds them (pass the real instruments to fill on the exchange's price grid).

Positions are per symbol and netted exactly like the fill ledger folds them (signed qty,
average price, realized P&L net of fees). All money is ``Decimal``.

Funding (when settlements are given, e.g. from ``market.funding_rates``): a position open
at a settlement's time pays ``qty × price × rate`` when long and receives it when short
(Bybit's convention: a positive rate means longs pay shorts), the price being the open
of the symbol's first bar at or after the settlement. The settlement is applied before
that bar's orders fill, so an order filled at that bar's open neither pays nor escapes
it: the position held through the funding time is the one from before the bar.

The host's rules (given ``rules``, :class:`bots.backtest.rules.HostRules`): every intent
passes the live host's risk gate and universe check, refusals go back to the strategy's
``on_rejected`` once, the loss limits see the equity on every bar and fill, and a
universe rule re-selects the symbols on its schedule, as live.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from core.candles import Candle
from core.instruments import Instrument, default_instrument
from core.strategy import (
    ZERO,
    AmendStop,
    CancelOrder,
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
)

if TYPE_CHECKING:
    from bots.backtest.rules import HostRules

TAKER_FEE = Decimal("0.00055")
MAKER_FEE = Decimal("0.0002")

# Order kinds, in the order they are tried within one bar (stop before take profit).
_MARKET, _STOP, _LIMIT, _TP = 0, 1, 2, 3


@dataclass(slots=True)
class _Order:
    intent_id: str
    symbol: str
    kind: int
    side: Side
    qty: Decimal
    price: Decimal  # limit price or trigger price; unused for market orders
    direction: TriggerDirection | None
    reason: Reason
    armed: bool = False  # may fill in the bar being processed


@dataclass(slots=True)
class _Position:
    qty: Decimal = ZERO
    avg: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One position from flat back to flat (per symbol, as the ledger nets it)."""

    symbol: str
    side: Side
    opened: datetime
    closed: datetime
    entry_price: Decimal
    exit_price: Decimal
    qty: Decimal
    pnl: Decimal  # realized, net of fees (funding apart)
    fees: Decimal
    exit_reason: Reason
    funding: Decimal = ZERO  # received (positive) or paid (negative) while open

    @property
    def net_pnl(self) -> Decimal:
        """Net of fees and funding."""
        return self.pnl + self.funding


@dataclass(slots=True)
class _Open:
    side: Side
    opened: datetime
    entry_value: Decimal = ZERO
    entry_qty: Decimal = ZERO
    exit_value: Decimal = ZERO
    exit_qty: Decimal = ZERO
    pnl: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO


@dataclass(slots=True)
class BacktestResult:
    initial_equity: Decimal
    final_equity: Decimal
    fees: Decimal
    max_drawdown: Decimal  # quote currency, peak to trough of mark-to-market equity
    max_drawdown_pct: Decimal
    candles: int
    fills: list[FillEvent] = field(default_factory=list)
    trades: list[RoundTrip] = field(default_factory=list)
    #: Mark-to-market equity at each bar's close after warm-up, oldest first; one point
    #: per bar time (several symbols' bars of one time share a point, the last one wins).
    equity_curve: list[tuple[datetime, Decimal]] = field(default_factory=list)
    #: Funding received (positive) or paid; zero unless settlements were given.
    funding: Decimal = ZERO
    funding_modelled: bool = False
    settlements: int = 0  # funding settlements that met an open position

    @property
    def net_pnl(self) -> Decimal:
        return self.final_equity - self.initial_equity

    @property
    def win_rate(self) -> Decimal | None:
        if not self.trades:
            return None
        return Decimal(sum(1 for t in self.trades if t.pnl > 0)) / len(self.trades)


class Backtest:
    """Drive one strategy over closed candles with the fill model above."""

    def __init__(
        self,
        strategy: Strategy,
        instruments: Mapping[str, Instrument] | None = None,
        initial_equity: Decimal = Decimal(10_000),
        taker_fee: Decimal = TAKER_FEE,
        maker_fee: Decimal = MAKER_FEE,
        keep_fills: bool = True,
        funding: Mapping[str, Sequence[tuple[datetime, Decimal]]] | None = None,
        rules: HostRules | None = None,
    ) -> None:
        self.strategy = strategy
        self.rules = rules
        self.initial_equity = initial_equity
        self.taker_fee = taker_fee
        self.maker_fee = maker_fee
        self.keep_fills = keep_fills
        self._orders: dict[str, list[_Order]] = {}
        self._by_id: dict[str, _Order] = {}
        self._pos: dict[str, _Position] = {}
        self._views: dict[str, PositionView] = {}
        self._last: dict[str, Decimal] = {}
        self._open: dict[str, _Open] = {}
        self._cash = initial_equity  # initial + realized − fees
        self._fees = ZERO
        # Settlements (time, rate) per symbol, oldest first, and the next one due.
        self._settlements = {sym: sorted(rates) for sym, rates in (funding or {}).items()}
        self._next_settlement = dict.fromkeys(self._settlements, 0)
        # The time of each symbol's next settlement: one dict lookup per candle, not a
        # call (absent once a symbol has none left).
        self._due = {sym: rates[0][0] for sym, rates in self._settlements.items() if rates}
        self._funding_modelled = funding is not None
        self._funding = ZERO
        self._settled = 0
        self.fills: list[FillEvent] = []
        self.trades: list[RoundTrip] = []
        self.ctx = StrategyContext(
            datetime.min, initial_equity, dict(instruments or {}), self._views
        )

    # -- main loop ----------------------------------------------------------------------

    def run(self, candles: Iterable[Candle], warmup: int = 0) -> BacktestResult:
        """Feed ``candles`` (oldest first; several symbols interleaved by start time). The
        first ``warmup`` candles only warm the indicators up."""
        strategy, ctx, orders = self.strategy, self.ctx, self._orders
        on_candle, on_timer = strategy.on_candle, strategy.on_timer
        peak = equity = self.initial_equity
        max_dd = max_dd_pct = ZERO
        batch_start: datetime | None = None
        count = 0
        curve: list[tuple[datetime, Decimal]] = []
        due = self._due
        rules = self.rules
        # A universe rule: every bar's turnover counts, and the selection is redone when due.
        seen = rules.seen if rules is not None and rules.dynamic else None
        refresh = rules.refresh_universe if rules is not None and rules.dynamic else None
        # Loss limits configured: the equity is fed to them on every bar, as the host does.
        observe = rules.observe if rules is not None and rules.loss_limits.active else None
        for candle in candles:
            if seen is not None:
                seen(candle)
            if count < warmup:
                strategy.observe(candle)
                count += 1
                continue
            count += 1
            if batch_start is not None and candle.start != batch_start:
                # The previous bar time is complete: its last equity is its curve point.
                curve.append((ctx.now, equity))
                self._submit(on_timer(ctx))
                if refresh is not None:
                    refresh(ctx.now)
            elif batch_start is None and refresh is not None:
                refresh(candle.start)  # the bot starts: the host selects before any candle
            batch_start = candle.start
            symbol = candle.symbol
            if due:
                when = due.get(symbol)
                if when is not None and when <= candle.start:
                    self._settle(candle)
            self._last[symbol] = candle.close
            pending = orders.get(symbol)
            if pending:
                self._match(candle, pending)
            ctx.now = candle.end
            ctx.equity = equity = self._equity()
            if observe is not None:
                observe(ctx.now, equity)
            intents = on_candle(candle, ctx)
            if intents:
                self._submit(intents)
            if equity > peak:
                peak = equity
            elif peak - equity > max_dd:
                max_dd = peak - equity
                max_dd_pct = max_dd / peak * 100
        if batch_start is not None:
            curve.append((ctx.now, equity))
            self._submit(on_timer(ctx))
        return BacktestResult(
            initial_equity=self.initial_equity,
            final_equity=self._equity(),
            fees=self._fees,
            max_drawdown=max_dd,
            max_drawdown_pct=max_dd_pct,
            candles=count,
            fills=self.fills,
            trades=self.trades,
            equity_curve=curve,
            funding=self._funding,
            funding_modelled=self._funding_modelled,
            settlements=self._settled,
        )

    def _settle(self, candle: Candle) -> None:
        """Apply the symbol's settlements due by this bar's open (module docstring)."""
        symbol = candle.symbol
        rates = self._settlements[symbol]
        i = self._next_settlement[symbol]
        while i < len(rates) and rates[i][0] <= candle.start:
            pos = self._pos.get(symbol)
            if pos is not None and pos.qty:
                received = -pos.qty * candle.open * rates[i][1]
                self._cash += received
                self._funding += received
                self._settled += 1
                self._open[symbol].funding += received
            i += 1
        self._next_settlement[symbol] = i
        if i < len(rates):
            self._due[symbol] = rates[i][0]
        else:
            del self._due[symbol]

    def _equity(self) -> Decimal:
        equity = self._cash
        for symbol, pos in self._pos.items():
            if pos.qty:
                equity += pos.qty * (self._last[symbol] - pos.avg)
        return equity

    # -- orders ------------------------------------------------------------------------------

    def _rules(self, symbol: str) -> Instrument:
        return self.ctx.instruments.get(symbol) or default_instrument(symbol)

    def _submit(self, intents: list[Intent], *, follow_up: bool = True) -> None:
        """Place ``intents``; with the host's rules, those they refuse go back to the
        strategy (``on_rejected``), once, and what it asks for instead is placed after
        the others, as the live executor sends it."""
        rules = self.rules
        if rules is None:
            self._place(intents)
            return
        passed: list[Intent] = []
        failed: list[tuple[Intent, str]] = []
        for intent in intents:
            why = rules.refusal(intent, self._views, self._last)
            if why is None:
                passed.append(intent)
            else:
                failed.append((intent, why))
        self._place(passed)
        if failed and follow_up:
            more: list[Intent] = []
            for intent, why in failed:
                more += self.strategy.on_rejected(intent, why, self.ctx)
            if more:
                self._submit(more, follow_up=False)

    def _place(self, intents: list[Intent]) -> None:
        """Prices are rounded to the instrument's tick as the live order manager rounds
        them (core/orders.py), so a backtest never fills off the exchange's price grid."""
        for intent in intents:
            match intent:
                case EnterMarket() | ExitMarket():
                    self._add(
                        intent.intent_id,
                        intent.symbol,
                        _MARKET,
                        intent.side,
                        intent.qty,
                        ZERO,
                        None,
                        intent.reason,
                    )
                case EnterLimit():
                    self._add(
                        intent.intent_id,
                        intent.symbol,
                        _LIMIT,
                        intent.side,
                        intent.qty,
                        self._rules(intent.symbol).limit_price(intent.side, intent.price),
                        None,
                        intent.reason,
                    )
                case PlaceStop():
                    self._add(
                        intent.intent_id,
                        intent.symbol,
                        _STOP,
                        intent.side,
                        intent.qty,
                        self._rules(intent.symbol).stop_price(intent.side, intent.trigger_price),
                        intent.trigger_direction,
                        intent.reason,
                    )
                case PlaceTakeProfit():
                    self._add(
                        intent.intent_id,
                        intent.symbol,
                        _TP,
                        intent.side,
                        intent.qty,
                        self._rules(intent.symbol).take_profit_price(
                            intent.side, intent.trigger_price
                        ),
                        intent.trigger_direction,
                        intent.reason,
                    )
                case AmendStop():
                    order = self._by_id.get(intent.intent_id)
                    if order is not None:
                        if intent.trigger_price is not None:
                            rules = self._rules(order.symbol)
                            rounder = (
                                rules.stop_price if order.kind == _STOP else rules.take_profit_price
                            )
                            order.price = rounder(order.side, intent.trigger_price)
                        if intent.qty is not None:
                            order.qty = intent.qty
                case CancelOrder():
                    order = self._by_id.pop(intent.intent_id, None)
                    if order is not None:
                        self._orders[order.symbol].remove(order)

    def _add(
        self,
        intent_id: str,
        symbol: str,
        kind: int,
        side: Side,
        qty: Decimal,
        price: Decimal,
        direction: TriggerDirection | None,
        reason: Reason,
    ) -> None:
        order = _Order(intent_id, symbol, kind, side, qty, price, direction, reason)
        self._by_id[intent_id] = order
        self._orders.setdefault(symbol, []).append(order)

    def _match(self, candle: Candle, pending: list[_Order]) -> None:
        for order in pending:
            order.armed = True
        # Stable sort: market orders first, then stops, limits, take profits.
        for order in sorted(pending, key=_kind):
            if not order.armed or order.intent_id not in self._by_id:
                continue  # cancelled by a fill earlier in this bar, or placed during it
            price = self._touch(order, candle)
            if price is None:
                continue
            self._by_id.pop(order.intent_id)
            pending.remove(order)
            fee_rate = self.maker_fee if order.kind == _LIMIT else self.taker_fee
            self._fill(order, price, fee_rate, candle.start)

    @staticmethod
    def _touch(order: _Order, c: Candle) -> Decimal | None:
        kind, p = order.kind, order.price
        if kind == _MARKET:
            return c.open
        if kind == _LIMIT:
            if order.side == "Buy":
                return (c.open if c.open < p else p) if c.low <= p else None
            return (c.open if c.open > p else p) if c.high >= p else None
        if order.direction == TriggerDirection.FALL:
            return (c.open if c.open < p else p) if c.low <= p else None
        return (c.open if c.open > p else p) if c.high >= p else None

    # -- fills ---------------------------------------------------------------------------------

    def _fill(self, order: _Order, price: Decimal, fee_rate: Decimal, when: datetime) -> None:
        symbol, qty = order.symbol, order.qty
        fee = price * qty * fee_rate
        fill = FillEvent(
            symbol, order.side, price, qty, fee, order.reason,
            f"bt-{order.reason}-{order.intent_id}", when, order.intent_id,
        )  # fmt: skip
        if self.keep_fills:
            self.fills.append(fill)
        self._book(fill)
        self.ctx.now = when
        self.ctx.equity = self._equity()
        if self.rules is not None and self.rules.loss_limits.active:
            self.rules.observe(when, self.ctx.equity)
        intents = self.strategy.on_fill(fill, self.ctx)
        if intents:
            self._submit(intents)

    def _book(self, fill: FillEvent) -> None:
        """Fold the fill into the position exactly as the ledger does (realized net of fees)."""
        pos = self._pos.setdefault(fill.symbol, _Position())
        signed = fill.qty if fill.side == "Buy" else -fill.qty
        realized = ZERO
        rt = self._open.get(fill.symbol)
        if rt is None:
            rt = self._open[fill.symbol] = _Open(fill.side, fill.exec_time)
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):
            new = pos.qty + signed
            pos.avg = (pos.avg * abs(pos.qty) + fill.price * fill.qty) / abs(new)
            pos.qty = new
            rt.entry_value += fill.price * fill.qty
            rt.entry_qty += fill.qty
        else:
            closing = min(abs(signed), abs(pos.qty))
            direction = 1 if pos.qty > 0 else -1
            realized = (fill.price - pos.avg) * closing * direction
            rt.exit_value += fill.price * closing
            rt.exit_qty += closing
            pos.qty += signed
            if pos.qty == 0:
                pos.avg = ZERO
            elif (pos.qty > 0) != (direction > 0):  # flipped through zero
                pos.avg = fill.price
        self._cash += realized - fill.fee
        self._fees += fill.fee
        rt.pnl += realized - fill.fee
        rt.fees += fill.fee
        if pos.qty == 0 or (rt.exit_qty and (pos.qty > 0) != (rt.side == "Buy")):
            self.trades.append(
                RoundTrip(
                    fill.symbol, rt.side, rt.opened, fill.exec_time,
                    rt.entry_value / rt.entry_qty, rt.exit_value / rt.exit_qty, rt.entry_qty,
                    rt.pnl, rt.fees, fill.reason, rt.funding,
                )
            )  # fmt: skip
            del self._open[fill.symbol]
            if pos.qty:  # the rest of a flip opens the next round trip
                self._open[fill.symbol] = _Open(
                    fill.side, fill.exec_time, pos.avg * abs(pos.qty), abs(pos.qty)
                )
        self._views[fill.symbol] = PositionView(fill.symbol, pos.qty, pos.avg)


def _kind(order: _Order) -> int:
    return order.kind
