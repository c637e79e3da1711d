"""Matching: the market's trades meet resting and triggered orders, and a taker walks
the order book around the last price (``orderbook``)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from paper_exchange.engine.models import Account, Order
from paper_exchange.engine.numbers import ZERO
from paper_exchange.engine.selfmatch import SelfMatch


class Matching(SelfMatch):
    def on_trade(self, symbol: str, price: Decimal, flow: Decimal | None = None) -> None:
        """The market traded from the previous last price to ``price``: fill and trigger.

        ``flow`` is the quantity that traded; with ``Liquidity.flow_limited`` resting
        limits fill from it (``_fill_from_flow``), otherwise each crossed limit fills up
        to ``qty_per_level`` per move."""
        prev = self.prices[symbol]
        self.prices[symbol] = price
        self.marks[symbol].on_trade(price, self.now(), self.funding_rate)
        book = self.book.get(symbol)
        if not book:
            return
        if flow is not None and self.liquidity[symbol].flow_limited:
            self._fill_from_flow(symbol, price, prev, flow)
            return
        if price == prev:
            # Mark and index move with time even when the last price does not.
            for acct in self._fire_triggers(symbol, price, derived_only=True):
                self._publish_position(acct, symbol)
            return
        touched = self._fire_triggers(symbol, price)
        falling = price < prev
        for order in list(book.values()):
            if not order.is_open or order.status == "Untriggered" or order.order_type != "Limit":
                continue
            if (falling and order.side == "Buy" and order.price >= price) or (
                not falling and order.side == "Sell" and order.price <= price
            ):
                self._maker_fill(order)
                touched[order.account] = None
        for acct in touched:
            self._publish_position(acct, symbol)

    def _fire_triggers(
        self, symbol: str, price: Decimal, *, derived_only: bool = False
    ) -> dict[Account, None]:
        """Move the trailing stops, then trigger every conditional order its price
        reached: the last ``price``, or the mark or index for ``triggerBy`` MarkPrice or
        IndexPrice (``derived_only``: only those, the last price not having moved);
        returns the accounts touched."""
        if not derived_only:
            self._trail(symbol, price)  # before the trigger check: a new high moves the stop
        refs = {
            "LastPrice": price,
            "MarkPrice": self.mark_price(symbol),
            "IndexPrice": self.index_price(symbol),
        }
        touched: dict[Account, None] = {}
        for order in list(self.book[symbol].values()):
            if order.status != "Untriggered" or order.trail_waiting:
                continue
            if derived_only and order.trigger_by == "LastPrice":
                continue
            ref = refs.get(order.trigger_by, price)
            d = order.trigger_direction
            if (d == 1 and ref >= order.trigger_price) or (d == 2 and ref <= order.trigger_price):
                self._trigger(order)
                touched[order.account] = None
        return touched

    def _fill_from_flow(self, symbol: str, price: Decimal, prev: Decimal, flow: Decimal) -> None:
        """Trigger what the move crosses, then share the traded ``flow`` among the limits
        it reached: a trade at or through a buy's price is selling flow that buy stands
        in front of (and the same for sells). The best price goes first, then the oldest
        order, each taking what it still needs, so a large resting order fills partially
        over several trades, as on a real book."""
        touched = self._fire_triggers(symbol, price, derived_only=price == prev)
        reached = [
            o
            for o in self.book[symbol].values()
            if o.is_open
            and o.status != "Untriggered"
            and o.order_type == "Limit"
            and (o.price >= price if o.side == "Buy" else o.price <= price)
        ]
        # One trade price reaches buys or sells, not both (unless they rest at exactly
        # that price); either way the best price for the flow goes first.
        reached.sort(key=lambda o: (-o.price if o.side == "Buy" else o.price, o.created))
        left = flow
        for order in reached:
            if left <= 0:
                break
            left -= self._maker_fill(order, cap=left)
            touched[order.account] = None
        for acct in touched:
            self._publish_position(acct, symbol)

    def _levels(self, order: Order, ref: Decimal) -> Iterable[tuple[int, Decimal, Decimal]]:
        """``(level, price, qty)`` of the book a taker of ``order``'s side can reach from
        ``ref``: up to its limit price and inside the market-order band."""
        liq = self.liquidity[order.symbol]
        now = self.now()
        if order.side == "Buy":
            band = ref * (1 + liq.slippage_band)
            for k, price, qty in self.depth[order.symbol].levels("a", ref, now):
                if price > order.price or price > band:
                    return
                yield k, price, qty
        else:
            band = ref * (1 - liq.slippage_band)
            for k, price, qty in self.depth[order.symbol].levels("b", ref, now):
                if price < order.price or price < band:
                    return
                yield k, price, qty

    def _crosses(self, order: Order) -> bool:
        inst = self.instruments[order.symbol]
        last = self.prices[order.symbol]
        if order.side == "Buy":
            crosses = order.price >= last + inst.tick_size
        else:
            crosses = order.price <= last - inst.tick_size
        return crosses or self._crosses_own(order)  # its own resting orders are book too

    def _activate(self, order: Order, ref: Decimal) -> None:
        """A new (or just triggered) order meets the book."""
        if order.order_type == "Market":
            self._take(order, ref)
            return
        crosses = self._crosses(order)
        if order.tif == "PostOnly" and crosses:
            self._finish(order, "Cancelled", reject="EC_PostOnlyWillTakeLiquidity")
            self._publish_order(order)
            return
        if order.tif == "FOK":
            reachable = ZERO
            if order.smp_type == "None":  # its own resting orders would trade with it
                reachable = sum((o.leaves for o in self._own_makers(order)), ZERO)
            for _k, _price, qty in self._levels(order, ref):
                reachable += qty
                if reachable >= order.qty:
                    break
            if not crosses or reachable < order.qty:
                self._finish(order, "Cancelled", reject="EC_CancelForNoFullFill")
                self._publish_order(order)
                return
        if crosses:
            self._take(order, ref)
            return
        if order.tif == "IOC":
            self._finish(order, "Cancelled", reject="EC_NoImmediateQtyToFill")
        self._publish_order(order)

    def _take(self, order: Order, ref: Decimal) -> None:
        """Fill as taker through the synthetic book, then finish or rest the remainder."""
        acct = order.account
        seq = next(self._seq)
        rows: list[dict[str, object]] = []
        book = self.depth[order.symbol]
        side = "a" if order.side == "Buy" else "b"
        # Each level is its own execution (own execId): a large taker walks the book,
        # and meets its account's own resting orders on the way (``selfmatch``).
        for k, price, available, own in self._walk(order, self._levels(order, ref)):
            leaves = self._fillable(order)
            if leaves <= 0:
                break
            if own is not None:
                if not self._self_match(order, own, seq, rows):
                    break
                continue
            qty = min(leaves, available)
            rows.append(self._fill(order, qty, price, maker=False, seq=seq))
            book.take(side, k, price, qty, self.now())
            if qty < available:
                break  # filled inside this level: do not price the next one
        if not order.is_open:
            pass  # a self match cancelled it (CancelTaker, CancelBoth)
        elif self._fillable(order) <= 0 and order.cum_qty < order.qty and order.reduce_only:
            self._finish(order, "Cancelled", cancel="CancelByReduceOnly")
        elif order.cum_qty >= order.qty:
            self._finish(order, "Filled")
        elif order.order_type == "Market" or order.tif in ("IOC", "FOK"):
            reject = "EC_NoImmediateQtyToFill" if not rows else "EC_NoError"
            self._finish(order, "Cancelled", reject=reject)
        else:
            order.status = "PartiallyFilled" if order.cum_qty else "New"
        if rows:
            self.sink.push(acct, "execution", rows)
        self._publish_order(order)
        if rows:
            self._publish_wallet(acct)

    def _maker_fill(self, order: Order, cap: Decimal | None = None) -> Decimal:
        """Fill a resting limit as maker, up to ``cap`` (default: the book's
        ``qty_per_level``); returns the quantity filled."""
        limit = self.liquidity[order.symbol].qty_per_level if cap is None else cap
        qty = min(self._fillable(order), limit)
        if qty <= 0:
            if order.reduce_only and self._fillable(order) <= 0:
                self._finish(order, "Cancelled", cancel="CancelByReduceOnly")
                self._publish_order(order)
            return ZERO
        row = self._fill(order, qty, order.price, maker=True, seq=next(self._seq))
        if order.cum_qty >= order.qty:
            self._finish(order, "Filled")
        else:
            order.status = "PartiallyFilled"
        self.sink.push(order.account, "execution", [row])
        self._publish_order(order)
        self._publish_wallet(order.account)
        return qty

    def _trigger(self, order: Order) -> None:
        order.status = "Triggered"
        order.updated = self.now()
        self._publish_order(order)
        order.status = "New"
        if order.reduce_only:
            pos = order.account.position(order.symbol)
            if pos.size == 0 or (pos.size > 0) == (order.sign > 0):
                self._finish(order, "Deactivated", cancel="CancelByReduceOnly")
                self._publish_order(order)
                return
        if order.order_type == "Market":
            # The protective price band is taken from where the order triggered.
            self._set_market_price(order, order.trigger_price)
        self._activate(order, order.trigger_price)

    def _set_market_price(self, order: Order, ref: Decimal) -> None:
        band = self.liquidity[order.symbol].slippage_band
        raw = ref * (1 + band) if order.side == "Buy" else ref * (1 - band)
        order.price = self.instruments[order.symbol].round_price(raw)

    def _fillable(self, order: Order) -> Decimal:
        leaves = order.qty - order.cum_qty
        if order.reduce_only:
            pos = order.account.position(order.symbol)
            if pos.size == 0 or (pos.size > 0) == (order.sign > 0):
                return ZERO
            leaves = min(leaves, abs(pos.size))
        return leaves
