"""Order entry: create, amend, cancel, cancel all, set leverage (one-way mode, linear)."""

from __future__ import annotations

import re
from decimal import Decimal

from paper_exchange.engine.errors import ApiError, params_error
from paper_exchange.engine.instruments import Instrument
from paper_exchange.engine.models import Account, Order
from paper_exchange.engine.numbers import ZERO, fmt, parse_bool, parse_decimal, parse_int
from paper_exchange.engine.selfmatch import parse_smp_type
from paper_exchange.engine.state import EngineState, new_id, require_linear
from paper_exchange.engine.tpsl import check_full_mode, check_sides, parse_trigger_by
from paper_exchange.engine.views import available_balance

LINK_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,36}")
MAX_ACTIVE_ORDERS = 500
MAX_CONDITIONAL_ORDERS = 10


class OrderEntry(EngineState):
    def create_order(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        require_linear(p)
        inst = self.instrument(p.get("symbol"))
        side = p.get("side")
        if side not in ("Buy", "Sell"):
            raise params_error("side invalid")
        order_type = p.get("orderType")
        if order_type not in ("Market", "Limit"):
            raise params_error("orderType invalid")
        link_id = p.get("orderLinkId") or ""
        if not isinstance(link_id, str) or (link_id and not LINK_ID_RE.fullmatch(link_id)):
            raise params_error("orderLinkId invalid")
        if link_id and link_id in acct.link_ids:
            raise ApiError(110072, "OrderLinkedID is duplicate")
        if parse_int(p.get("positionIdx"), "positionIdx", 0) != 0:
            raise params_error("position idx not match position mode")
        qty = parse_decimal(p.get("qty"), "qty")
        tif = p.get("timeInForce") or "GTC"
        if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
            raise params_error("timeInForce invalid")
        if order_type == "Market":
            tif = "IOC"
        reduce_only = parse_bool(p.get("reduceOnly"), "reduceOnly")
        close_on_trigger = parse_bool(p.get("closeOnTrigger"), "closeOnTrigger")
        smp_type = parse_smp_type(p.get("smpType"))
        inst.check_qty(qty, market=order_type == "Market")
        last = self.prices[inst.symbol]
        liq = self.liquidity[inst.symbol]
        if order_type == "Limit":
            if p.get("price") in (None, ""):
                raise params_error("price is required for Limit orders")
            price = parse_decimal(p.get("price"), "price")
            inst.check_price(price)
        else:
            band = liq.slippage_band
            raw = last * (1 + band) if side == "Buy" else last * (1 - band)
            price = inst.round_price(raw)
        trigger_by = p.get("triggerBy") or "LastPrice"
        if trigger_by not in ("LastPrice", "MarkPrice", "IndexPrice"):
            raise params_error("triggerBy invalid")
        trigger_price = ZERO
        trigger_direction = 0
        if p.get("triggerPrice") not in (None, "", "0"):
            trigger_price = parse_decimal(p.get("triggerPrice"), "triggerPrice")
            inst.check_price(trigger_price, "triggerPrice")
            trigger_direction = parse_int(p.get("triggerDirection"), "triggerDirection", 0)
            current = self.trigger_ref(inst.symbol, trigger_by)  # the price it watches
            if trigger_direction == 0:
                trigger_direction = 1 if trigger_price > current else 2
            if trigger_direction not in (1, 2):
                raise params_error("triggerDirection invalid")
            _check_trigger(trigger_direction, trigger_price, current)
        take_profit = _optional_price(p.get("takeProfit"), inst, "takeProfit")
        stop_loss = _optional_price(p.get("stopLoss"), inst, "stopLoss")
        if reduce_only and (take_profit or stop_loss):
            raise params_error("reduceOnly order can not have TP/SL")
        tp_by = sl_by = ""
        if take_profit or stop_loss:  # the position's TP/SL once this fills (tpsl.py)
            check_full_mode(p)
            tp_by = parse_trigger_by(p, "tpTriggerBy")
            sl_by = parse_trigger_by(p, "slTriggerBy")
            # Each against the price it will trigger on: a limit order's own price, a
            # conditional order's trigger, or now the last, mark or index price.
            now_priced = order_type == "Market" and not trigger_price
            for kind_by, tp, sl in ((tp_by, take_profit, ZERO), (sl_by, ZERO, stop_loss)):
                if tp or sl:
                    by = (kind_by or "LastPrice") if now_priced else "LastPrice"
                    base = (
                        self.trigger_ref(inst.symbol, by)
                        if now_priced
                        else (trigger_price or price)
                    )
                    check_sides(side == "Buy", base, tp or None, sl or None, None, None,
                                inst, by)  # fmt: skip

        ref_price = price if order_type == "Limit" else (trigger_price or last)
        pos = acct.position(inst.symbol)
        sign = 1 if side == "Buy" else -1
        if reduce_only and not trigger_price:
            if pos.size == 0 or (pos.size > 0) == (sign > 0):
                raise ApiError(110017, "current position is zero, cannot fix reduce-only order qty")
            qty = min(qty, abs(pos.size))
        else:
            inst.check_notional(qty, ref_price)
        book = self.book[inst.symbol]
        mine = [o for o in acct.open_orders.values() if o.symbol == inst.symbol]
        if trigger_price:
            if sum(1 for o in mine if o.trigger_price) >= MAX_CONDITIONAL_ORDERS:
                raise ApiError(110020, "Not allowed to have more than 10 conditional orders")
        elif len(mine) >= MAX_ACTIVE_ORDERS:
            raise ApiError(110020, "Not allowed to have more than 500 active orders")
        if not reduce_only and not trigger_price:
            opening = (
                qty
                if pos.size == 0 or (pos.size > 0) == (sign > 0)
                else max(ZERO, qty - abs(pos.size))
            )
            if opening:
                need = opening * ref_price / pos.leverage + opening * ref_price * self.taker_fee
                if need > available_balance(acct, self.mark_prices):
                    raise ApiError(110007, "ab not enough for new order")

        now = self.now()
        order = Order(
            order_id=new_id(),
            link_id=link_id,
            account=acct,
            symbol=inst.symbol,
            side=side,
            order_type=order_type,
            price=price,
            qty=qty,
            tif=tif,
            reduce_only=reduce_only,
            close_on_trigger=close_on_trigger,
            trigger_price=trigger_price,
            trigger_direction=trigger_direction,
            trigger_by=trigger_by,
            status="Untriggered" if trigger_price else "New",
            created=now,
            updated=now,
            last_price_on_created=last,
            take_profit=take_profit,
            stop_loss=stop_loss,
            tp_trigger_by=tp_by,
            sl_trigger_by=sl_by,
            stop_order_type="Stop" if trigger_price else "UNKNOWN",
            smp_type=smp_type,
        )
        acct.orders[order.order_id] = order
        if link_id:
            acct.link_ids[link_id] = order
        acct.open_orders[order.order_id] = order
        book[order.order_id] = order
        if trigger_price:
            self._publish_order(order)
        else:
            self._activate(order, last)
        self._publish_position(acct, inst.symbol)
        return {"orderId": order.order_id, "orderLinkId": link_id}

    def amend_order(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        require_linear(p)
        inst = self.instrument(p.get("symbol"))
        order = self._find_order(acct, p, inst.symbol, "replace")
        changed = False
        new_qty = order.qty
        if p.get("qty") not in (None, ""):
            new_qty = parse_decimal(p.get("qty"), "qty")
            inst.check_qty(new_qty, market=order.order_type == "Market")
            if new_qty <= order.cum_qty:
                raise params_error("qty must be greater than cumExecQty")
            changed |= new_qty != order.qty
        new_price = order.price
        if p.get("price") not in (None, "") and order.order_type == "Limit":
            new_price = parse_decimal(p.get("price"), "price")
            inst.check_price(new_price)
            changed |= new_price != order.price
        new_trigger = order.trigger_price
        if p.get("triggerPrice") not in (None, ""):
            if order.status != "Untriggered":
                raise params_error("triggerPrice can only be amended on an untriggered order")
            new_trigger = parse_decimal(p.get("triggerPrice"), "triggerPrice")
            inst.check_price(new_trigger, "triggerPrice")
            current = self.trigger_ref(inst.symbol, order.trigger_by)
            _check_trigger(order.trigger_direction, new_trigger, current)
            changed |= new_trigger != order.trigger_price
        if not changed:
            raise params_error("order not modified")
        if not order.reduce_only:
            inst.check_notional(
                new_qty, new_price if order.order_type == "Limit" else self.prices[inst.symbol]
            )
        order.qty, order.price, order.trigger_price = new_qty, new_price, new_trigger
        order.updated = self.now()
        if order.status != "Untriggered" and order.order_type == "Limit" and self._crosses(order):
            if order.tif == "PostOnly":
                self._finish(order, "Cancelled", reject="EC_PostOnlyWillTakeLiquidity")
                self._publish_order(order)
            else:
                self._take(order, self.prices[inst.symbol])
        else:
            self._publish_order(order)
        self._publish_position(acct, inst.symbol)
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    def cancel_order(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        require_linear(p)
        inst = self.instrument(p.get("symbol"))
        order = self._find_order(acct, p, inst.symbol, "cancel")
        self._cancel(order, "CancelByUser")
        self._publish_order(order)
        self._publish_position(acct, inst.symbol)
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    def cancel_all(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        require_linear(p)
        symbol = p.get("symbol")
        base, settle = p.get("baseCoin"), p.get("settleCoin")
        if symbol:
            self.instrument(symbol)
        elif not base and settle != "USDT":
            raise params_error("symbol, baseCoin or settleCoin is required")
        order_filter = p.get("orderFilter")
        if order_filter not in (None, "", "Order", "StopOrder", "OpenOrder"):
            raise params_error("orderFilter invalid")
        cancelled: list[Order] = []
        for order in list(acct.open_orders.values()):
            if symbol and order.symbol != symbol:
                continue
            if base and not symbol and self.instruments[order.symbol].base_coin != base:
                continue
            if order_filter == "Order" and order.trigger_price:
                continue
            if order_filter == "StopOrder" and not order.trigger_price:
                continue
            self._cancel(order, "CancelByUser")
            cancelled.append(order)
        for order in cancelled:
            self._publish_order(order)
        for sym in {o.symbol for o in cancelled}:
            self._publish_position(acct, sym)
        return {
            "list": [{"orderId": o.order_id, "orderLinkId": o.link_id} for o in cancelled],
            "success": "1",
        }

    def set_leverage(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        require_linear(p)
        inst = self.instrument(p.get("symbol"))
        buy = parse_decimal(p.get("buyLeverage"), "buyLeverage")
        sell = parse_decimal(p.get("sellLeverage"), "sellLeverage")
        if buy != sell:
            raise params_error("buyLeverage must equal sellLeverage in one-way mode")
        if buy < 1 or buy > inst.max_leverage or buy % Decimal("0.01") != 0:
            raise params_error(f"leverage invalid: must be in [1, {fmt(inst.max_leverage)}]")
        pos = acct.position(inst.symbol)
        if pos.leverage == buy:
            raise ApiError(110043, "Set leverage has not been modified")
        pos.leverage = buy
        pos.updated = self.now()
        self._publish_position(acct, inst.symbol, force=True)
        return {}

    def set_margin_mode(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        """``POST /v5/account/set-margin-mode``: cross (``REGULAR_MARGIN``) or isolated for
        the whole unified account. It changes how ``liqPrice`` is computed
        (``liquidation``); portfolio margin is refused rather than half-supported."""
        mode = p.get("setMarginMode")
        if mode in (None, ""):
            raise params_error("setMarginMode is required")
        if mode == "PORTFOLIO_MARGIN":
            raise params_error("PORTFOLIO_MARGIN is not supported by the paper exchange")
        if mode not in ("REGULAR_MARGIN", "ISOLATED_MARGIN"):
            raise params_error(f"setMarginMode invalid: {mode}")
        if acct.margin_mode != mode:
            acct.margin_mode = str(mode)
            for symbol, pos in acct.positions.items():
                if pos.size:
                    self._publish_position(acct, symbol, force=True)
        return {"reasons": []}

    def _find_order(self, acct: Account, p: dict[str, object], symbol: str, verb: str) -> Order:
        by_id, by_link = p.get("orderId"), p.get("orderLinkId")
        if not by_id and not by_link:
            raise params_error("orderId or orderLinkId is required")
        order = acct.orders.get(str(by_id)) if by_id else acct.link_ids.get(str(by_link))
        if order is None or not order.is_open or order.symbol != symbol:
            raise ApiError(110001, f"order not exists or too late to {verb}")
        return order


def _check_trigger(direction: int, trigger: Decimal, last: Decimal) -> None:
    """A trigger already on the wrong side of the last price: Bybit's 110092 / 110093."""
    if direction == 1 and trigger <= last:
        raise ApiError(
            110092, f"expect Rising, but trigger_price[{fmt(trigger)}] <= current[{fmt(last)}]"
        )
    if direction == 2 and trigger >= last:
        raise ApiError(
            110093, f"expect Falling, but trigger_price[{fmt(trigger)}] >= current[{fmt(last)}]"
        )


def _optional_price(value: object, inst: Instrument, name: str) -> Decimal:
    if value in (None, "", "0"):
        return ZERO
    price = parse_decimal(value, name)
    inst.check_price(price, name)
    return price
