"""Self-match prevention (Bybit's ``smpType``, docs: "Self Match Prevention").

An account's own resting limit orders are part of the book its takers walk: a taker of
the account that reaches one of them meets itself. What happens then is decided by the
**taker's** ``smpType`` alone; a resting order's own ``smpType`` no longer counts once it
rests (Bybit: "Once an order is placed in the orderbook, its smpType becomes invalid"):

* ``None`` (the default): they trade. Two executions, both the account's: the taker's
  (``isMaker`` false, taker fee) and the resting order's (``isMaker`` true, maker fee),
  at the resting order's price. The position does not move; both fees are paid.
* ``CancelMaker``: the resting order is cancelled and the taker walks on.
* ``CancelTaker``: the taker's remainder is cancelled; the resting order stays.
* ``CancelBoth``: both are cancelled.

A cancelled order ends ``Cancelled`` with ``cancelType`` ``CancelBySmp`` and
``smpOrderId`` the other order's id, on REST and on the ``order`` topic. Bybit's
documentation does not say which ``rejectReason`` such an order carries; this exchange
writes ``EC_BySelfMatch``, the reject reason of its enum that names a self match.
Clients should key on ``cancelType``.

Where the account's own orders stand in the walk: by price first; at one price, before
the modelled depth (``orderbook``), which the last price brings with it when it moves,
whereas the account's order has rested there since it was placed. Only the account's
own orders are in its book: orders of other paper accounts never meet (each account is
its own UID and no account has an SMP group, so ``smpGroup`` is always 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from paper_exchange.engine.errors import params_error
from paper_exchange.engine.models import Order
from paper_exchange.engine.state import EngineState

#: Bybit's ``smpType`` enum; "None" is the default when the field is absent.
SMP_TYPES = ("None", "CancelMaker", "CancelTaker", "CancelBoth")
CANCEL_BY_SMP = "CancelBySmp"
SMP_REJECT = "EC_BySelfMatch"


def parse_smp_type(value: object) -> str:
    """The request's ``smpType``; absent or empty is ``None``, anything else undocumented
    is refused (retCode 10001) before the order exists."""
    if value in (None, ""):
        return "None"
    if value not in SMP_TYPES:
        raise params_error(f"smpType invalid: {value}")
    return str(value)


class SelfMatch(EngineState):
    def _own_makers(self, taker: Order) -> list[Order]:
        """The taker's account's resting limits on the other side that its price reaches,
        best price first, then oldest."""
        acct = taker.account
        if taker.side == "Buy":
            makers = [
                o for o in acct.open_orders.values()
                if o.symbol == taker.symbol and o.side == "Sell" and _resting(o)
                and o.price <= taker.price and o is not taker
            ]  # fmt: skip
            makers.sort(key=lambda o: (o.price, o.created))
        else:
            makers = [
                o for o in acct.open_orders.values()
                if o.symbol == taker.symbol and o.side == "Buy" and _resting(o)
                and o.price >= taker.price and o is not taker
            ]  # fmt: skip
            makers.sort(key=lambda o: (-o.price, o.created))
        return makers

    def _crosses_own(self, order: Order) -> bool:
        """Whether a limit order would meet one of its own account's resting orders."""
        return bool(self._own_makers(order))

    def _walk(
        self, taker: Order, depth: Iterable[tuple[int, Decimal, Decimal]]
    ) -> Iterator[tuple[int, Decimal, Decimal, Order | None]]:
        """The book the taker meets: the modelled ``depth`` levels ``(k, price, qty)``
        merged with its account's own resting orders (``k`` is -1 for those, the last
        item the order). An own order is offered until a self match ends it or the
        taker stops walking (the caller stops when the taker has nothing left)."""
        buy = taker.side == "Buy"
        own = self._own_makers(taker)  # none can appear during one take
        levels = iter(depth)
        level = next(levels, None)
        i = 0
        while True:
            while i < len(own) and not own[i].is_open:
                i += 1
            mine = own[i] if i < len(own) else None
            if mine is not None and (
                level is None or (mine.price <= level[1] if buy else mine.price >= level[1])
            ):
                yield -1, mine.price, mine.leaves, mine
                continue
            if level is None:
                return
            yield level[0], level[1], level[2], None
            level = next(levels, None)

    def _self_match(
        self, taker: Order, maker: Order, seq: int, rows: list[dict[str, object]]
    ) -> bool:
        """The taker met ``maker`` of its own account: apply the taker's ``smpType``.
        Appends any executions to ``rows`` (ledger order); returns whether the taker may
        walk on."""
        mode = taker.smp_type
        if mode == "None":
            if self._fillable(maker) <= 0:  # a reduce-only order with nothing to reduce
                self._finish(maker, "Cancelled", cancel="CancelByReduceOnly")
                self._publish_order(maker)
                return True
            qty = min(self._fillable(taker), self._fillable(maker))
            if qty <= 0:
                return False
            price = maker.price
            rows.append(self._fill(taker, qty, price, maker=False, seq=seq))
            rows.append(self._fill(maker, qty, price, maker=True, seq=seq))
            if maker.cum_qty >= maker.qty:
                self._finish(maker, "Filled")
            else:
                maker.status = "PartiallyFilled"
            self._publish_order(maker)
            return True
        if mode in ("CancelMaker", "CancelBoth"):
            maker.smp_order_id = taker.order_id
            self._finish(maker, "Cancelled", reject=SMP_REJECT, cancel=CANCEL_BY_SMP)
            self._publish_order(maker)
        if mode in ("CancelTaker", "CancelBoth"):
            taker.smp_order_id = maker.order_id
            self._finish(taker, "Cancelled", reject=SMP_REJECT, cancel=CANCEL_BY_SMP)
            return False
        return True


def _resting(order: Order) -> bool:
    return order.is_open and order.status != "Untriggered" and order.order_type == "Limit"
