"""The matching engine: orders, fills, positions, fees, funding.

Synchronous and single-threaded by design: the server calls it from its one event loop,
so no locks are needed and every request sees a consistent state. Events for the
private WebSocket go to an :class:`EventSink`; executions are ledger rows first (they
are in ``execution/list`` whatever happens to the socket).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from decimal import ROUND_DOWN, Decimal

from paper_exchange.engine.entry import OrderEntry
from paper_exchange.engine.injected import InjectedTrades
from paper_exchange.engine.instruments import Instrument
from paper_exchange.engine.marks import MarkIndex, MarkPrices
from paper_exchange.engine.matching import Matching
from paper_exchange.engine.models import Account, Order
from paper_exchange.engine.orderbook import Liquidity, OrderBook, profile_liquidity
from paper_exchange.engine.queries import Queries
from paper_exchange.engine.settlement import Settlement
from paper_exchange.engine.state import EventSink, NullSink
from paper_exchange.engine.tpsl import PositionStops


class Engine(OrderEntry, PositionStops, Queries, Matching, Settlement, InjectedTrades):
    """The paper exchange's engine: every concern's class over one shared state."""

    def __init__(
        self,
        instruments: Iterable[Instrument],
        now: Callable[[], int],
        *,
        maker_fee: Decimal = Decimal("0.0002"),
        taker_fee: Decimal = Decimal("0.00055"),
        funding_rate: Decimal = Decimal("0.0001"),
        default_leverage: Decimal = Decimal(10),
        liquidity_profile: str = "flat",
        depth_usdt: dict[str, Decimal] | None = None,
    ) -> None:
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in instruments}
        self.now = now
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.funding_rate = funding_rate
        self.default_leverage = default_leverage
        self.prices: dict[str, Decimal] = {s: i.start_price for s, i in self.instruments.items()}
        self.marks: dict[str, MarkIndex] = {
            s: MarkIndex.start(i.tick_size, i.start_price, 0) for s, i in self.instruments.items()
        }
        self.mark_prices = MarkPrices(self.marks, lambda: self.now())
        self.liquidity_profile = liquidity_profile
        self.depth_usdt = dict(depth_usdt or {})
        self.liquidity: dict[str, Liquidity] = {}
        self.depth: dict[str, OrderBook] = {}
        for inst in self.instruments.values():
            self._add_depth(inst)
        self.accounts_by_key: dict[str, Account] = {}
        self.accounts_by_name: dict[str, Account] = {}
        self.book: dict[str, dict[str, Order]] = {s: {} for s in self.instruments}
        self.sink: EventSink = NullSink()
        self._seq = itertools.count(1_000_000_001)
        #: Every settlement's (time ms, rate), oldest first: ``/v5/market/funding/history``.
        self.funding_log: list[tuple[int, Decimal]] = []

    # -- setup -------------------------------------------------------------------------

    def _add_depth(self, inst: Instrument) -> None:
        """The symbol's order book from the profile (the flat default: about 2M USDT per
        level, so large orders walk the book and ordinary ones do not)."""
        if inst.symbol in self.liquidity:
            return
        liq = profile_liquidity(self.liquidity_profile, inst, inst.start_price)
        usdt = self.depth_usdt.get(inst.symbol)
        if usdt is not None:  # a per-symbol depth from the exchange's config wins
            qty = (usdt / inst.start_price).quantize(inst.qty_step, ROUND_DOWN)
            liq.qty_per_level = max(qty, inst.qty_step)
        self.liquidity[inst.symbol] = liq
        self.depth[inst.symbol] = OrderBook(inst, liq)

    def add_instrument(self, inst: Instrument) -> None:
        self.instruments[inst.symbol] = inst
        self.prices.setdefault(inst.symbol, inst.start_price)
        self.marks.setdefault(inst.symbol, MarkIndex.start(inst.tick_size, inst.start_price, 0))
        self._add_depth(inst)
        self.book.setdefault(inst.symbol, {})

    def reset_price(self, symbol: str, price: Decimal, now_ms: int) -> None:
        """The market starts at ``price`` (after its silent history): last, index and mark
        are one price at rest."""
        self.prices[symbol] = price
        self.marks[symbol] = MarkIndex.start(self.instruments[symbol].tick_size, price, now_ms)

    def add_account(self, name: str, api_key: str, api_secret: str, balance: Decimal) -> Account:
        if api_key in self.accounts_by_key or name in self.accounts_by_name:
            raise ValueError(f"duplicate account {name!r} or API key")
        acct = Account(
            name=name,
            api_key=api_key,
            api_secret=api_secret,
            wallet=balance,
            opening_balance=balance,
        )
        self.accounts_by_key[api_key] = acct
        self.accounts_by_name[name] = acct
        return acct
