"""Matching: the market's trades meet resting and triggered orders, and a taker walks
the order book around the last price (``orderbook``)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from paper_exchange.engine.models import Account, Order
from paper_exchange.engine.numbers import ZERO
from paper_exchange.engine.state import EngineState


class Matching(EngineState):
    def on_trade(self, symbol: str, price: Decimal) -> None:
        """The market traded from the previous last price to ``price``: fill and trigger."""
        prev = self.prices[symbol]
        self.prices[symbol] = price
        book = self.book.get(symbol)
        if not book or price == prev:
            return
        self._trail(symbol, price)  # before the trigger check: a new high moves the stop up
        touched: dict[Account, None] = {}
        falling = price < prev
        for order in list(book.values()):
            if not order.is_open:
                continue
            if order.status == "Untriggered":
                if order.trail_waiting:
                    continue
                d = order.trigger_direction
                if (d == 1 and price >= order.trigger_price) or (
                    d == 2 and price <= order.trigger_price
                ):
                    self._trigger(order)
                    touched[order.account] = None
                continue
            if order.order_type != "Limit":
                continue
            if (falling and order.side == "Buy" and order.price >= price) or (
                not falling and order.side == "Sell" and order.price <= price
            ):
                self._maker_fill(order)
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
            return order.price >= last + inst.tick_size
        return order.price <= last - inst.tick_size

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
        # Each level is its own execution (own execId): a large taker walks the book.
        for k, price, available in self._levels(order, ref):
            leaves = self._fillable(order)
            if leaves <= 0:
                break
            qty = min(leaves, available)
            rows.append(self._fill(order, qty, price, maker=False, seq=seq))
            book.take(side, k, price, qty, self.now())
            if qty < available:
                break  # filled inside this level: do not price the next one
        if self._fillable(order) <= 0 and order.cum_qty < order.qty and order.reduce_only:
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

    def _maker_fill(self, order: Order) -> None:
        qty = min(self._fillable(order), self.liquidity[order.symbol].qty_per_level)
        if qty <= 0:
            if order.reduce_only:
                self._finish(order, "Cancelled", cancel="CancelByReduceOnly")
                self._publish_order(order)
            return
        row = self._fill(order, qty, order.price, maker=True, seq=next(self._seq))
        if order.cum_qty >= order.qty:
            self._finish(order, "Filled")
        else:
            order.status = "PartiallyFilled"
        self.sink.push(order.account, "execution", [row])
        self._publish_order(order)
        self._publish_wallet(order.account)

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
