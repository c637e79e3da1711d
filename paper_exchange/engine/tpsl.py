"""A position's own take profit, stop loss and trailing stop (``position/trading-stop``).

Bybit implements these as conditional orders the system creates for the position: a
reduce-only, close-on-trigger Market order per kind (``stopOrderType`` TakeProfit,
StopLoss or TrailingStop, ``createType`` CreateByTakeProfit, ...), sized to the whole
position in ``Full`` mode, resized when the position changes and cancelled when it
closes. The paper exchange does the same, so a triggered stop goes through the ordinary
conditional-order path (``matching``): its ``order`` updates, ``execution`` rows and the
position and wallet pushes reach the private stream like any other fill.

An order may carry its own ``takeProfit``/``stopLoss`` (``order/create``): in ``Full``
mode, Bybit's default, they become the position's TP/SL when the order fills, as if
``trading-stop`` had been called at that instant (:meth:`PositionStops._attach_stops`).

Only ``tpslMode=Full`` is implemented; ``Partial`` is refused with a clear 10001 rather
than half-supported, on ``trading-stop`` and on an order alike. A take profit or stop
loss triggers on the price its trigger type names (LastPrice, MarkPrice or IndexPrice,
``marks``); a trailing stop follows the last price.
"""

from __future__ import annotations

from decimal import Decimal

from paper_exchange.engine.errors import ApiError, params_error
from paper_exchange.engine.instruments import Instrument
from paper_exchange.engine.models import Account, Order, Position
from paper_exchange.engine.numbers import ZERO, fmt, parse_decimal, parse_int
from paper_exchange.engine.state import EngineState, new_id, require_linear

TAKE_PROFIT, STOP_LOSS, TRAILING_STOP = "TakeProfit", "StopLoss", "TrailingStop"
TRIGGER_TYPES = ("LastPrice", "MarkPrice", "IndexPrice")
#: Bybit's answer when a trading-stop request changes nothing (docs/bybit.md).
NOT_MODIFIED = (34040, "not modified")
#: What a position's stop says when the position it protected is gone.
CLEARED = "CancelByTpSlTsClear"


class PositionStops(EngineState):
    def trading_stop(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        require_linear(p)
        inst = self.instrument(p.get("symbol"))
        if p.get("tpslMode") in (None, ""):
            raise params_error("tpslMode is required")
        check_full_mode(p)
        if parse_int(p.get("positionIdx"), "positionIdx", 0) != 0:
            raise params_error("position idx not match position mode")
        tp_by = parse_trigger_by(p, "tpTriggerBy")
        sl_by = parse_trigger_by(p, "slTriggerBy")
        pos = acct.position(inst.symbol)
        if pos.size == 0:
            raise params_error("can not set tp/sl/ts for zero position")
        take_profit = _price(p, "takeProfit", inst)
        stop_loss = _price(p, "stopLoss", inst)
        trailing = _price(p, "trailingStop", inst)
        active = _price(p, "activePrice", inst)
        last = self.prices[inst.symbol]
        check_sides(pos.size > 0, last, take_profit, stop_loss, trailing, active, inst)

        changed = False
        if take_profit is not None:
            changed |= self._set_stop(acct, pos, inst, TAKE_PROFIT, take_profit, tp_by)
        elif tp_by and TAKE_PROFIT in pos.stops:
            changed |= self._retype_published(pos.stops[TAKE_PROFIT], tp_by)
        if stop_loss is not None:
            changed |= self._set_stop(acct, pos, inst, STOP_LOSS, stop_loss, sl_by)
        elif sl_by and STOP_LOSS in pos.stops:
            changed |= self._retype_published(pos.stops[STOP_LOSS], sl_by)
        if trailing is not None:
            changed |= self._set_trailing(acct, pos, inst, trailing, active or ZERO)
        if not changed:
            raise ApiError(*NOT_MODIFIED)
        pos.updated = self.now()
        self._publish_position(acct, inst.symbol, force=True)
        return {}

    def _attach_stops(self, order: Order) -> None:
        """``order`` filled (some of it) carrying its own TP/SL: they become the
        position's, sized to all of it, while the position is on the order's side (an
        order that only reduced or closed it leaves nothing to protect)."""
        acct = order.account
        pos = acct.position(order.symbol)
        if pos.size == 0 or (pos.size > 0) != (order.sign > 0):
            return
        inst = self.instruments[order.symbol]
        changed = False
        if order.take_profit:
            changed |= self._set_stop(
                acct, pos, inst, TAKE_PROFIT, order.take_profit, order.tp_trigger_by
            )
        if order.stop_loss:
            changed |= self._set_stop(
                acct, pos, inst, STOP_LOSS, order.stop_loss, order.sl_trigger_by
            )
        if changed:
            pos.updated = self.now()

    # -- keeping the stops in step with the position -------------------------------------

    def _sync_stops(self, acct: Account, symbol: str) -> None:
        """The position changed: forget stops that ended, cancel those whose position is
        gone (or flipped side), and size the rest to the whole position (Full mode)."""
        pos = acct.positions.get(symbol)
        if pos is None or not pos.stops:
            return
        for kind, order in list(pos.stops.items()):
            if not order.is_open:
                del pos.stops[kind]
            elif pos.size == 0 or (pos.size > 0) == (order.sign > 0):
                if order.status == "Untriggered":
                    self._finish(order, "Deactivated", cancel=CLEARED)
                    self._publish_order(order)
                    del pos.stops[kind]
            elif order.status == "Untriggered" and order.qty != abs(pos.size):
                order.qty = abs(pos.size)
                order.updated = self.now()
                self._publish_order(order)

    def _trail(self, symbol: str, price: Decimal) -> None:
        """Move every trailing stop of ``symbol`` behind the best price since activation."""
        for order in list(self.book.get(symbol, {}).values()):
            if not order.trail_distance or order.status != "Untriggered":
                continue
            selling = order.side == "Sell"  # protects a long: trails below the highs
            if order.trail_waiting:
                reached = (
                    price >= order.trail_active_price
                    if selling
                    else (price <= order.trail_active_price)
                )
                if not reached:
                    continue
                order.trail_peak = price
            elif price > order.trail_peak if selling else price < order.trail_peak:
                order.trail_peak = price
            else:
                continue
            trigger = _trail_trigger(order)
            if trigger != order.trigger_price:
                order.trigger_price = trigger
                order.updated = self.now()
                self._publish_order(order)

    # -- one stop ------------------------------------------------------------------------

    def _set_stop(
        self, acct: Account, pos: Position, inst: Instrument, kind: str, price: Decimal,
        trigger_by: str,
    ) -> bool:  # fmt: skip
        existing = pos.stops.get(kind)
        if price == 0:
            return self._drop(pos, kind)
        if existing is not None:
            changed = existing.trigger_price != price
            existing.trigger_price = price
            changed |= self._retype(existing, trigger_by) if trigger_by else False
            if changed:
                existing.updated = self.now()
                self._publish_order(existing)
            return changed
        rising = (kind == TAKE_PROFIT) == (pos.size > 0)
        order = self._new_stop(acct, pos, inst, kind, price, 1 if rising else 2)
        order.trigger_by = trigger_by or "LastPrice"
        self._publish_order(order)
        return True

    def _set_trailing(
        self, acct: Account, pos: Position, inst: Instrument, distance: Decimal, active: Decimal
    ) -> bool:
        existing = pos.stops.get(TRAILING_STOP)
        if distance == 0:
            return self._drop(pos, TRAILING_STOP)
        last = self.prices[inst.symbol]
        if existing is not None:
            if existing.trail_distance == distance and existing.trail_active_price == active:
                return False
            order = existing
        else:
            order = self._new_stop(acct, pos, inst, TRAILING_STOP, last, 2 if pos.size > 0 else 1)
        order.trail_distance = distance
        order.trail_active_price = active
        order.trail_peak = ZERO if active else last
        order.trigger_price = _trail_trigger(order)
        order.updated = self.now()
        self._publish_order(order)
        return True

    def _new_stop(
        self, acct: Account, pos: Position, inst: Instrument, kind: str, trigger: Decimal,
        direction: int,
    ) -> Order:  # fmt: skip
        now = self.now()
        order = Order(
            order_id=new_id(),
            link_id="",
            account=acct,
            symbol=inst.symbol,
            side="Sell" if pos.size > 0 else "Buy",
            order_type="Market",
            price=ZERO,  # set from the trigger price when it fires (``matching``)
            qty=abs(pos.size),
            tif="IOC",
            reduce_only=True,
            close_on_trigger=True,
            trigger_price=trigger,
            trigger_direction=direction,
            trigger_by="LastPrice",
            status="Untriggered",
            created=now,
            updated=now,
            last_price_on_created=self.prices[inst.symbol],
            stop_order_type=kind,
            create_type=f"CreateBy{kind}",
        )
        acct.orders[order.order_id] = order
        acct.open_orders[order.order_id] = order
        self.book[inst.symbol][order.order_id] = order
        pos.stops[kind] = order
        return order

    def _drop(self, pos: Position, kind: str) -> bool:
        """A zero price cancels that stop; nothing to cancel is "not modified"."""
        order = pos.stops.pop(kind, None)
        if order is None or not order.is_open:
            return False
        self._cancel(order, "CancelByUser")
        self._publish_order(order)
        return True

    def _retype_published(self, order: Order, trigger_by: str) -> bool:
        """Only the trigger type of a stop changes: the order's update is pushed too."""
        if not self._retype(order, trigger_by):
            return False
        order.updated = self.now()
        self._publish_order(order)
        return True

    @staticmethod
    def _retype(order: Order, trigger_by: str) -> bool:
        if order.trigger_by == trigger_by:
            return False
        order.trigger_by = trigger_by
        return True


def _trail_trigger(order: Order) -> Decimal:
    base = order.trail_peak or order.trail_active_price
    if order.side == "Sell":
        return base - order.trail_distance
    return base + order.trail_distance


def check_full_mode(p: dict[str, object]) -> None:
    """``tpslMode`` (absent: ``Full``, Bybit's default) and the order types it allows."""
    mode = p.get("tpslMode")
    if mode == "Partial":
        raise params_error("tpslMode Partial is not supported by the paper exchange")
    if mode not in (None, "", "Full"):
        raise params_error(f"tpslMode invalid: {mode}")
    for name in ("tpOrderType", "slOrderType"):
        if p.get(name) not in (None, "", "Market"):
            raise params_error(f"{name} must be Market when tpslMode is Full")


def parse_trigger_by(p: dict[str, object], name: str) -> str:
    value = p.get(name)
    if value in (None, ""):
        return ""
    if value not in TRIGGER_TYPES:
        raise params_error(f"{name} invalid: {value}")
    return str(value)


def _price(p: dict[str, object], name: str, inst: Instrument) -> Decimal | None:
    """``None`` if absent; ``0`` cancels; otherwise a positive multiple of the tick."""
    value = p.get(name)
    if value in (None, ""):
        return None
    price = parse_decimal(value, name)
    if price < 0:
        raise params_error(f"{name} cannot be less than 0")
    if price == 0:
        return ZERO
    if price % inst.tick_size:
        raise params_error(
            f"{name} {fmt(price)} is not a multiple of tickSize {fmt(inst.tick_size)}"
        )
    return price


def check_sides(
    long: bool, last: Decimal, tp: Decimal | None, sl: Decimal | None,
    trailing: Decimal | None, active: Decimal | None, inst: Instrument,
    by: str = "LastPrice",
) -> None:  # fmt: skip
    """Bybit's 10001 texts: a stop on the wrong side of the price it would trigger on
    (the prices are plain decimals here; Bybit prints them scaled by 1e4 or 1e8).
    ``long``: the position is (or, for an order's own TP/SL, will be) long; ``last``:
    the price of type ``by`` the stop is compared with."""
    side = "Buy" if long else "Sell"
    base = f"base_price:{inst.price_str(last)}??{by}"
    if tp and (tp <= last if long else tp >= last):
        word = "higher" if long else "lower"
        raise ApiError(
            10001, f"TakeProfit:{fmt(tp)} set for {side} position should be {word} than {base}"
        )
    if sl and (sl >= last if long else sl <= last):
        word = "lower" if long else "greater"
        raise ApiError(
            10001, f"StopLoss:{fmt(sl)} set for {side} position should {word} than {base}"
        )
    if trailing and long and trailing >= (active or last):
        raise ApiError(
            10001, f"TrailingStop:{fmt(trailing)} set for Buy position should be less than {base}"
        )
    if active and (active <= last if long else active >= last):
        word = "higher" if long else "lower"
        raise ApiError(
            10001, f"ActivePrice:{fmt(active)} set for {side} position should be {word} than {base}"
        )
