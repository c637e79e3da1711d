"""The strategy plugin API: closed candles and own fills in, order intents out.

A strategy is pure decision logic. It never talks to the exchange, never reads the wall
clock and never does I/O: the host (live runtime, paper exchange, backtest) feeds it
closed :class:`~core.candles.Candle` objects and the bot's own :class:`FillEvent` s, and
turns the returned intents into orders. That is what lets the same code run live, on
the paper exchange and in a backtest.

The surface, in the order a host calls it::

    strategy = StrategyType(config)          # config: StrategyType.Config (pydantic v2)
    strategy.warm_up(history)                # closed candles, oldest first; no intents
    strategy.on_candle(candle, ctx)          # each closed candle      -> list[Intent]
    strategy.on_fill(fill, ctx)              # each own execution      -> list[Intent]
    strategy.on_timer(ctx)                   # after each batch of candles closing at
                                             # ctx.now, and periodically -> list[Intent]
    strategy.on_signal(signal, ctx)          # each accepted webhook signal -> list[Intent]
    strategy.flatten(ctx, Reason.KILL)       # close everything it holds -> list[Intent]
    strategy.adopt(position, resting, ctx)   # after a restart, per symbol -> list[Intent]

Intents map 1:1 to Bybit V5 orders (:func:`order_params`). Each carries a local
``intent_id`` (from :meth:`StrategyContext.new_id`); the host binds it to an orderLinkId
``{bot_code}-{reason}-…`` (docs/link-ids.md) and reports fills back with the same ``intent_id``,
so a strategy can tell its stop's fill from its take profit's and cancel the sibling.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import IntEnum
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from core.candles import Candle
from core.instruments import Instrument, default_instrument
from core.link_ids import Reason as Reason  # re-exported: strategies import it from here
from core.signals import Signal

Side = Literal["Buy", "Sell"]
#: Bybit's ``smpType`` values (docs/bybit.md, self-match prevention).
SmpType = Literal["None", "CancelMaker", "CancelTaker", "CancelBoth"]
ZERO = Decimal(0)


def opposite(side: Side) -> Side:
    return "Sell" if side == "Buy" else "Buy"


class TriggerDirection(IntEnum):
    """Bybit ``triggerDirection``: fire when the last price rises to / falls to the trigger."""

    RISE = 1
    FALL = 2


# -- what the strategy reads -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionView:
    """This bot's position in one symbol, as the fill ledger folds it (never the exchange's
    netted position). ``qty`` is signed: > 0 long, < 0 short."""

    symbol: str
    qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    #: When the ledger position last opened from flat (the host fills it in for
    #: ``adopt`` after a restart; ``None`` elsewhere).
    opened_at: datetime | None = None

    @property
    def is_flat(self) -> bool:
        return self.qty == 0


@dataclass(frozen=True, slots=True)
class FillEvent:
    """One execution of this bot's order (from ``fills:{bot_id}``).

    ``intent_id`` is the id of the intent that created the order (the host keeps the
    orderLinkId → intent id map); ``None`` for executions the bot did not ask for (ADL,
    liquidation, a manual order), which a strategy should treat as external exits.
    """

    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    reason: Reason
    order_link_id: str
    exec_time: datetime
    intent_id: str | None = None


class StrategyContext:
    """What a strategy may read while deciding. The host owns and updates it.

    ``now`` is the decision time (a candle's close time, a fill's execution time, or the
    timer's tick), never the wall clock, so backtests are reproducible. ``equity`` is the
    bot's equity (initial capital + realized P&L − fees + unrealized P&L) in the quote
    currency.
    """

    __slots__ = (
        "_counter", "_id_source", "equity", "instruments", "now", "positions", "prices",
    )  # fmt: skip

    def __init__(
        self,
        now: datetime,
        equity: Decimal,
        instruments: Mapping[str, Instrument] | None = None,
        positions: Mapping[str, PositionView] | None = None,
        id_source: Callable[[], str] | None = None,
        prices: Mapping[str, Decimal] | None = None,
    ) -> None:
        self.now = now
        self.equity = equity
        self.instruments: Mapping[str, Instrument] = instruments or {}
        # ``is None``, not ``or``: the backtest passes its (at first empty) live mapping of
        # views, which an ``or`` would swap for another empty dict the strategy then saw
        # for the whole run.
        self.positions: Mapping[str, PositionView] = positions if positions is not None else {}
        self._id_source = id_source
        self._counter = 0
        #: Last closed price per symbol (the host's view); empty in backtests and tests.
        self.prices: Mapping[str, Decimal] = prices or {}

    def instrument(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        return inst if inst is not None else default_instrument(symbol)

    def position(self, symbol: str) -> PositionView:
        pos = self.positions.get(symbol)
        return pos if pos is not None else PositionView(symbol)

    def price(self, symbol: str) -> Decimal | None:
        """The last closed price the host knows for ``symbol`` (``None`` if none)."""
        return self.prices.get(symbol)

    def new_id(self) -> str:
        """A fresh intent id, unique for this bot. The live host supplies a source that
        survives restarts; the default is a counter (backtests, tests)."""
        if self._id_source is not None:
            return self._id_source()
        self._counter += 1
        return f"i{self._counter}"


# -- what the strategy asks for -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnterMarket:
    """Open (or add to) a position at market. Refused by the host when paused/stopped."""

    intent_id: str
    symbol: str
    side: Side
    qty: Decimal
    reason: Reason = Reason.ENTRY


@dataclass(frozen=True, slots=True)
class EnterLimit:
    """A resting entry limit order (GTC)."""

    intent_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    reason: Reason = Reason.ENTRY
    post_only: bool = False


@dataclass(frozen=True, slots=True)
class _ProtectiveOrder:
    """A tagged conditional market order that closes (part of) the bot's own position.

    ``side`` is the closing side; ``sibling_id`` names the other protective order, to
    cancel when this one fills. ``reduce_only`` only for ``exclusive`` bots
    (docs/architecture.md#shared-accounts).
    """

    intent_id: str
    symbol: str
    side: Side
    qty: Decimal
    trigger_price: Decimal
    trigger_direction: TriggerDirection
    reason: Reason
    sibling_id: str | None = None
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class PlaceStop(_ProtectiveOrder):
    """The bot's own tagged stop loss."""

    reason: Reason = Reason.SL


@dataclass(frozen=True, slots=True)
class PlaceTakeProfit(_ProtectiveOrder):
    """The bot's own tagged take profit."""

    reason: Reason = Reason.TP


@dataclass(frozen=True, slots=True)
class AmendStop:
    """Move a resting conditional order (``intent_id`` of the stop or take profit) and/or
    change its quantity. Trailing stops only ever move in the position's favour; the
    order keeps its orderLinkId, ``reason`` says why it moved (tr, be) for the log."""

    intent_id: str
    symbol: str
    trigger_price: Decimal | None = None
    qty: Decimal | None = None
    reason: Reason = Reason.TRAIL


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel a resting order by its intent id (sibling cancel, expired entry …)."""

    intent_id: str
    symbol: str
    reason: Reason


@dataclass(frozen=True, slots=True)
class ExitMarket:
    """Close (part of) the bot's own position at market: a tagged order in the closing
    direction, never reduceOnly on a shared account."""

    intent_id: str
    symbol: str
    side: Side
    qty: Decimal
    reason: Reason = Reason.EXIT
    reduce_only: bool = False


Intent = (
    EnterMarket | EnterLimit | PlaceStop | PlaceTakeProfit | AmendStop | CancelOrder | ExitMarket
)
#: Intents that open exposure: the risk gate and the paused state apply to these only.
ENTRY_INTENTS = (EnterMarket, EnterLimit)


def order_params(intent: Intent) -> dict[str, str | int | bool]:
    """The Bybit V5 request fields of an intent, without ``category`` and ``orderLinkId``
    (the host adds those). ``/v5/order/create`` for placements, ``/v5/order/amend`` for
    :class:`AmendStop`, ``/v5/order/cancel`` for :class:`CancelOrder`.

    Each field has the JSON type Bybit documents: numbers as strings, ``reduceOnly`` a
    boolean and ``triggerDirection`` an integer (Bybit refuses ``"true"`` or ``"1"``
    with retCode 10001; docs/bybit.md#orders)."""
    p: dict[str, str | int | bool] = {"symbol": intent.symbol}
    match intent:
        case EnterMarket() | ExitMarket():
            p |= {"side": intent.side, "orderType": "Market", "qty": str(intent.qty)}
            if isinstance(intent, ExitMarket) and intent.reduce_only:
                p["reduceOnly"] = True
        case EnterLimit():
            p |= {
                "side": intent.side,
                "orderType": "Limit",
                "qty": str(intent.qty),
                "price": str(intent.price),
                "timeInForce": "PostOnly" if intent.post_only else "GTC",
            }
        case PlaceStop() | PlaceTakeProfit():
            p |= {
                "side": intent.side,
                "orderType": "Market",
                "qty": str(intent.qty),
                "triggerPrice": str(intent.trigger_price),
                "triggerDirection": int(intent.trigger_direction),
                "triggerBy": "LastPrice",
            }
            if intent.reduce_only:
                p["reduceOnly"] = True
        case AmendStop():
            if intent.trigger_price is not None:
                p["triggerPrice"] = str(intent.trigger_price)
            if intent.qty is not None:
                p["qty"] = str(intent.qty)
        case CancelOrder():
            pass
    return p


# -- the plugin base class ----------------------------------------------------------------


class StrategyConfig(BaseModel):
    """Fields every strategy has. Subclasses add theirs, each with the spec's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbols: list[str] = Field(min_length=1)
    interval: str
    #: The only bot trading its symbols on its account: may use reduceOnly (docs/strategies.md).
    exclusive: bool = False
    #: The leverage this bot's sizing assumes. The host sets it on each symbol before the
    #: first entry; ``None`` leaves the account's setting alone. Leverage is per account
    #: and symbol, so bots sharing a symbol on one account must agree (registration checks).
    leverage: Decimal | None = Field(None, gt=0, le=100)
    #: Bybit's self-match prevention on every order the bot sends (docs/strategies.md,
    #: "Self-match prevention"): what the exchange does when this bot's order would trade
    #: against a resting order of the same account, another bot's on a shared one. The
    #: default cancels the resting order and lets the one acting now (often a stop or an
    #: exit) through; "None" lets them trade (a wash trade: both fees, no position change).
    smp_type: SmpType = "CancelMaker"


ConfigT = TypeVar("ConfigT", bound=StrategyConfig)


class Strategy(ABC, Generic[ConfigT]):
    """Base class of every bot type. Subclasses set ``Config`` and implement ``on_candle``."""

    Config: ClassVar[type[StrategyConfig]]
    #: Closed candles per symbol the host must feed to :meth:`warm_up` before trading.
    warmup_bars: ClassVar[int] = 0
    #: Config fields a running bot may take from ``alpha bots update`` without a restart
    #: (:meth:`reconfigure`). Empty by default: a strategy that builds state from its
    #: config (indicator periods, per-symbol tables) must say which fields are safe.
    #: ``symbols`` here means the host may add symbols live (warmed up, subscribed) and
    #: stop entering in removed ones; ``interval`` and ``leverage`` never apply live.
    live_fields: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: ConfigT | Mapping[str, Any] | None = None) -> None:
        if config is None:
            config = {}
        if not isinstance(config, StrategyConfig):
            config = self.Config.model_validate(dict(config))  # type: ignore[assignment]
        self.config: ConfigT = config  # type: ignore[assignment]

    @property
    def symbols(self) -> list[str]:
        return list(self.config.symbols)

    @property
    def interval(self) -> str:
        return self.config.interval

    def universe_refresh(self) -> timedelta | None:
        """How often the host re-selects the symbols this strategy may enter; ``None``
        (the default) keeps the registered symbols for good. A strategy that returns a
        period implements :meth:`select_universe`."""
        return None

    def select_universe(self, turnover_24h: Mapping[str, Decimal]) -> list[str]:
        """The symbols to trade, from every linear perpetual's 24-hour turnover (USDT),
        as the exchange's tickers report it. The host keeps managing positions in
        symbols that leave the universe; it only refuses new entries there."""
        return self.symbols

    def warm_up(self, candles: Iterable[Candle]) -> None:
        """Feed history (closed candles, oldest first) to the indicators; no decisions."""
        for candle in candles:
            self.observe(candle)

    def observe(self, candle: Candle) -> None:
        """Update indicators with one closed candle without deciding (warm-up)."""

    def reconfigure(self, config: ConfigT) -> None:
        """Take ``config``, validated, differing from the current one only in
        :attr:`live_fields`. Open trades stay as they are. A strategy that derives state
        from one of those fields overrides this to refresh it (and calls super)."""
        self.config = config

    @abstractmethod
    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        """Decide on one closed candle (indicators are updated here too)."""

    def on_fill(self, fill: FillEvent, ctx: StrategyContext) -> list[Intent]:
        """React to one of the bot's own executions (protective orders, sibling cancel)."""
        return []

    def on_timer(self, ctx: StrategyContext) -> list[Intent]:
        """Called after every batch of candles closing at ``ctx.now`` (and periodically):
        cross-symbol ranking, time-based exits, daily resets."""
        return []

    def on_signal(self, signal: Signal, ctx: StrategyContext) -> list[Intent]:
        """Decide on one accepted external signal (a webhook alert, docs/api.md#webhooks):
        authenticated, not a duplicate, not stale, for one of the bot's symbols. The
        default ignores signals: only a strategy built for them (``webhook``) acts."""
        return []

    def flatten(self, ctx: StrategyContext, reason: Reason = Reason.KILL) -> list[Intent]:
        """Close everything this bot holds and cancel its resting orders (kill, flatten)."""
        return []

    def flatten_symbol(
        self, ctx: StrategyContext, symbol: str, reason: Reason = Reason.KILL
    ) -> list[Intent]:
        """Close what this bot holds in ``symbol`` only (an operator's forced exit) and
        forget its trade there. The default does nothing: the host closes the ledger's
        position and cancels the bot's resting orders on the symbol anyway."""
        return []

    def reset_risk(self, now: datetime, equity: Decimal) -> None:
        """An operator's ``reset-risk`` (CLI, C2): lift the strategy's own loss-limit
        pauses and halts and measure its periods from ``equity`` from now on, as the
        host's limits do. The default does nothing (a strategy without such rules)."""

    def on_rejected(self, intent: Intent, reason: str, ctx: StrategyContext) -> list[Intent]:
        """An intent that did not become an order: refused by the host (risk gate, paused,
        stopped, kill flag), skipped below the instrument minimums, or rejected by the
        exchange. A strategy that booked the intent as pending must forget it here, or
        it waits forever for a fill that will not come. The default does nothing."""
        return []

    def on_exit_ended(self, intent_id: str, symbol: str, ctx: StrategyContext) -> list[Intent]:
        """One of the bot's stops, take profits or market exits that filled (part of) its
        quantity is finished on the exchange (Filled, or Cancelled / Deactivated with a
        rest), and every fill of it has reached :meth:`on_fill`. Whatever the trade still
        holds is now unprotected: a stop that filled in pieces and had its rest
        cancelled, one that triggered before it was grown to a later entry piece, a
        market exit cut short by a thin book. A strategy with exchange-side exits closes
        that leftover here. The default does nothing."""
        return []

    def remember(self, symbol: str) -> Mapping[str, str] | None:
        """What this strategy must get back after a restart about its trade in ``symbol``
        that neither the ledger nor the exchange holds (the level a stop was derived
        from, say); ``None`` when there is nothing. The host keeps it in the bot's Redis
        whenever it changes and hands it to :meth:`recall` before :meth:`adopt`."""
        return None

    def recall(self, symbol: str, memo: Mapping[str, str]) -> None:
        """After a restart, before :meth:`adopt`: what :meth:`remember` last returned."""

    def remember_strategy(self) -> Mapping[str, str] | None:
        """What the strategy as a whole must get back after a restart, tied to no symbol
        (LXAlgo's loss-limit anchors: the day's and the week's opening equity); kept and
        handed back like :meth:`remember`, through :meth:`recall_strategy`."""
        return None

    def recall_strategy(self, memo: Mapping[str, str]) -> None:
        """After a restart, before :meth:`adopt`: what :meth:`remember_strategy` returned."""

    def adopt(
        self, position: PositionView, resting: list[Any], ctx: StrategyContext
    ) -> list[Intent]:
        """After a restart: take over ``position`` (the ledger's, for one symbol) and the
        bot's own ``resting`` orders on that symbol (``core.orders.TrackedOrder``: intent id,
        kind stop|take_profit|entry|exit, trigger price, sibling id).

        The host calls it once per symbol that has a position or resting orders, after
        warm-up and before the first live candle. A strategy must end up protecting the
        position (re-link the resting stop, place one only when none rests), must not
        enter again on a symbol it already holds, and should cancel orders it cannot
        account for (a stop resting on a flat position would open one). The default does
        nothing: a plugin that keeps no trade state has nothing to recover.
        """
        return []
