"""The matching engine: orders, fills, positions, fees, funding.

Synchronous and single-threaded by design: the server calls it from its one event loop,
so no locks are needed and every request sees a consistent state. Events for the
private WebSocket go to an :class:`EventSink`; executions are ledger rows first (they
are in ``execution/list`` whatever happens to the socket).
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from paper_exchange.engine.errors import ApiError, params_error
from paper_exchange.engine.instruments import Instrument
from paper_exchange.engine.models import Account, EncodedRows, Order, Position
from paper_exchange.engine.numbers import (
    ZERO,
    fmt,
    parse_bool,
    parse_decimal,
    parse_int,
)
from paper_exchange.engine.views import (
    available_balance,
    order_view,
    position_view,
    wallet_view,
)

LINK_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,36}")
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
MAX_ACTIVE_ORDERS = 500
MAX_CONDITIONAL_ORDERS = 10


_ID_PREFIX = str(uuid.uuid4())[:24]  # per process; ids stay UUID-shaped and unique
_id_counter = itertools.count(1)


def new_id() -> str:
    """A UUID-shaped id, unique per exchange process, much cheaper than uuid4()."""
    return f"{_ID_PREFIX}{next(_id_counter):012x}"


class EventSink(Protocol):
    def wants(self, account: Account, topic: str) -> bool: ...

    def push(self, account: Account, topic: str, items: list[dict[str, object]]) -> None: ...


class NullSink:
    def wants(self, account: Account, topic: str) -> bool:
        return False

    def push(self, account: Account, topic: str, items: list[dict[str, object]]) -> None:
        return None


@dataclass(slots=True)
class Liquidity:
    """The synthetic book around the last price for one symbol."""

    qty_per_level: Decimal  # resting size at every level (also per path step for makers)
    level_bps: Decimal = Decimal(1)  # distance between levels, basis points of price
    slippage_band: Decimal = Decimal("0.05")  # market orders fill only inside this band


class Engine:
    def __init__(
        self,
        instruments: Iterable[Instrument],
        now: Callable[[], int],
        *,
        maker_fee: Decimal = Decimal("0.0002"),
        taker_fee: Decimal = Decimal("0.00055"),
        funding_rate: Decimal = Decimal("0.0001"),
        default_leverage: Decimal = Decimal(10),
    ) -> None:
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in instruments}
        self.now = now
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.funding_rate = funding_rate
        self.default_leverage = default_leverage
        self.prices: dict[str, Decimal] = {s: i.start_price for s, i in self.instruments.items()}
        self.liquidity: dict[str, Liquidity] = {
            s: self._default_liquidity(i) for s, i in self.instruments.items()
        }
        self.accounts_by_key: dict[str, Account] = {}
        self.accounts_by_name: dict[str, Account] = {}
        self.book: dict[str, dict[str, Order]] = {s: {} for s in self.instruments}
        self.sink: EventSink = NullSink()
        self._seq = itertools.count(1_000_000_001)

    # -- setup -------------------------------------------------------------------------

    @staticmethod
    def _default_liquidity(inst: Instrument) -> Liquidity:
        # About 2M USDT per level: large orders walk the book, ordinary ones do not.
        qty = (Decimal(2_000_000) / inst.start_price).quantize(inst.qty_step, ROUND_DOWN)
        return Liquidity(qty_per_level=max(qty, inst.qty_step))

    def add_instrument(self, inst: Instrument) -> None:
        self.instruments[inst.symbol] = inst
        self.prices.setdefault(inst.symbol, inst.start_price)
        self.liquidity.setdefault(inst.symbol, self._default_liquidity(inst))
        self.book.setdefault(inst.symbol, {})

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

    def instrument(self, symbol: object) -> Instrument:
        if not isinstance(symbol, str) or not symbol:
            raise params_error("symbol is required")
        inst = self.instruments.get(symbol)
        if inst is None:
            raise params_error(f"symbol invalid: {symbol}")
        return inst

    # -- order entry -------------------------------------------------------------------

    def create_order(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        _require_linear(p)
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
        trigger_price = ZERO
        trigger_direction = 0
        if p.get("triggerPrice") not in (None, "", "0"):
            trigger_price = parse_decimal(p.get("triggerPrice"), "triggerPrice")
            inst.check_price(trigger_price, "triggerPrice")
            trigger_direction = parse_int(p.get("triggerDirection"), "triggerDirection", 0)
            if trigger_direction == 0:
                trigger_direction = 1 if trigger_price > last else 2
            if trigger_direction == 1 and trigger_price <= last:
                raise params_error(
                    f"expect Rising, but trigger_price[{fmt(trigger_price)}] "
                    f"<= current[{fmt(last)}]"
                )
            if trigger_direction == 2 and trigger_price >= last:
                raise params_error(
                    f"expect Falling, but trigger_price[{fmt(trigger_price)}] "
                    f">= current[{fmt(last)}]"
                )
            if trigger_direction not in (1, 2):
                raise params_error("triggerDirection invalid")
        trigger_by = p.get("triggerBy") or "LastPrice"
        if trigger_by not in ("LastPrice", "MarkPrice", "IndexPrice"):
            raise params_error("triggerBy invalid")
        take_profit = _optional_price(p.get("takeProfit"), inst, "takeProfit")
        stop_loss = _optional_price(p.get("stopLoss"), inst, "stopLoss")
        if reduce_only and (take_profit or stop_loss):
            raise params_error("reduceOnly order can not have TP/SL")

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
                if need > available_balance(acct, self.prices):
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
            stop_order_type="Stop" if trigger_price else "UNKNOWN",
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
        _require_linear(p)
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
            last = self.prices[inst.symbol]
            if (order.trigger_direction == 1 and new_trigger <= last) or (
                order.trigger_direction == 2 and new_trigger >= last
            ):
                raise params_error("triggerPrice would trigger immediately")
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
        _require_linear(p)
        inst = self.instrument(p.get("symbol"))
        order = self._find_order(acct, p, inst.symbol, "cancel")
        self._cancel(order, "CancelByUser")
        self._publish_order(order)
        self._publish_position(acct, inst.symbol)
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    def cancel_all(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        _require_linear(p)
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
        _require_linear(p)
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

    # -- queries -----------------------------------------------------------------------

    def open_orders(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        _require_linear(p)
        by_id, by_link = p.get("orderId"), p.get("orderLinkId")
        symbol, base, settle = p.get("symbol"), p.get("baseCoin"), p.get("settleCoin")
        if not (by_id or by_link or symbol or base or settle):
            raise params_error("symbol, baseCoin or settleCoin is required")
        limit = _limit(p, 20, 50)
        if by_id or by_link:
            order = acct.orders.get(str(by_id)) if by_id else acct.link_ids.get(str(by_link))
            found = [order] if order is not None else []
        else:
            open_only = parse_int(p.get("openOnly"), "openOnly", 0)
            if open_only == 0:
                source: Iterable[Order] = reversed(list(acct.open_orders.values()))
            else:
                closed = [o for o in reversed(acct.orders.values()) if not o.is_open]
                source = closed[:500]
            found = [o for o in source if self._matches(o, symbol, base)]
            found = _filter_kind(found, p.get("orderFilter"))
        return self._page_orders(found, p, limit)

    def order_history(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        _require_linear(p)
        limit = _limit(p, 20, 50)
        by_id, by_link = p.get("orderId"), p.get("orderLinkId")
        symbol, base = p.get("symbol"), p.get("baseCoin")
        start, end = self._window(p)
        now = self.now()
        found: list[Order] = []
        for o in reversed(acct.orders.values()):
            if by_id and o.order_id != by_id:
                continue
            if by_link and o.link_id != by_link:
                continue
            if not (by_id or by_link) and not self._matches(o, symbol, base):
                continue
            if not (start <= o.created <= end):
                continue
            unfilled_end = o.status in ("Cancelled", "Rejected", "Deactivated") and not o.cum_qty
            if unfilled_end and now - o.updated > DAY_MS:
                continue  # Bybit keeps unfilled cancelled orders for 24 h only
            status = p.get("orderStatus")
            if status and o.status != status:
                continue
            found.append(o)
        found = _filter_kind(found, p.get("orderFilter"))
        return self._page_orders(found, p, limit)

    def executions(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        _require_linear(p)
        limit = _limit(p, 50, 100)
        by_id, by_link = p.get("orderId"), p.get("orderLinkId")
        symbol, base = p.get("symbol"), p.get("baseCoin")
        exec_type = p.get("execType")
        start, end = self._window(p)
        ledger = acct.ledger
        lo, hi = ledger.index_range(start, end)
        cursor = _cursor(p)
        if cursor is not None:
            hi = min(hi, cursor)
        rows: list[dict[str, object]] = []
        i = hi - 1
        while i >= lo and len(rows) < limit:
            row = ledger.rows[i]
            i -= 1
            if by_id or by_link:
                if by_id and row["orderId"] != by_id:
                    continue
                if not by_id and row["orderLinkId"] != by_link:
                    continue
            else:
                if symbol and row["symbol"] != symbol:
                    continue
                if base and not str(row["symbol"]).startswith(str(base)):
                    continue
            if exec_type and row["execType"] != exec_type:
                continue
            rows.append(row)
        more = False
        if len(rows) == limit:
            # Look ahead one matching row so the last page ends with an empty cursor.
            j = i
            while j >= lo:
                row = ledger.rows[j]
                if _row_matches(row, by_id, by_link, symbol, base, exec_type):
                    more = True
                    break
                j -= 1
        return {
            "category": "linear",
            "list": rows,
            "nextPageCursor": f"page%3D{i + 1}" if more else "",
        }

    def positions(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        _require_linear(p)
        symbol, settle = p.get("symbol"), p.get("settleCoin")
        limit = _limit(p, 20, 200)
        if symbol:
            inst = self.instrument(symbol)
            items = [self._position_view(acct.position(inst.symbol), ws=False)]
        elif settle:
            if settle != "USDT":
                items = []
            else:
                items = [
                    self._position_view(pos, ws=False)
                    for pos in acct.positions.values()
                    if pos.size
                ]
        else:
            raise params_error("symbol or settleCoin is required")
        offset = _cursor(p) or 0
        page = items[offset : offset + limit]
        more = offset + limit < len(items)
        return {
            "category": "linear",
            "list": page,
            "nextPageCursor": f"page%3D{offset + limit}" if more else "",
        }

    def wallet(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        account_type = p.get("accountType")
        if account_type not in ("UNIFIED", "CONTRACT"):
            raise params_error("accountType only support UNIFIED")
        view = wallet_view(acct, self.prices, self.instruments)
        coins = p.get("coin")
        if coins and "USDT" not in str(coins).split(","):
            view["coin"] = []
        return {"list": [view]}

    # -- market-driven matching ----------------------------------------------------------

    def on_trade(self, symbol: str, price: Decimal) -> None:
        """The market traded from the previous last price to ``price``: fill and trigger."""
        prev = self.prices[symbol]
        self.prices[symbol] = price
        book = self.book.get(symbol)
        if not book or price == prev:
            return
        touched: dict[Account, None] = {}
        falling = price < prev
        for order in list(book.values()):
            if not order.is_open:
                continue
            if order.status == "Untriggered":
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

    def apply_funding(self, rate: Decimal | None = None) -> int:
        """Settle funding on every open position; returns the number of executions."""
        rate = self.funding_rate if rate is None else rate
        now = self.now()
        count = 0
        for acct in self.accounts_by_key.values():
            rows: list[dict[str, object]] = []
            for pos in acct.positions.values():
                if not pos.size:
                    continue
                inst = self.instruments[pos.symbol]
                mark = self.prices[pos.symbol]
                value = abs(pos.size) * mark
                fee = value * rate * (1 if pos.size > 0 else -1)  # longs pay a positive rate
                acct.wallet -= fee
                acct.cum_realised -= fee
                pos.cum_realised -= fee
                pos.cur_realised -= fee
                seq = next(self._seq)
                pos.seq = seq
                pos.updated = now
                row = {
                    "category": "linear",
                    "symbol": pos.symbol,
                    "isLeverage": "",
                    "orderId": f"{now // 1000}-{pos.symbol}-funding",
                    "orderLinkId": "",
                    "side": "Buy" if pos.size > 0 else "Sell",
                    "orderPrice": "0",
                    "orderQty": "0",
                    "leavesQty": "0",
                    "createType": "",
                    "orderType": "UNKNOWN",
                    "stopOrderType": "UNKNOWN",
                    "execFee": fmt(fee),
                    "execId": new_id(),
                    "execPrice": inst.price_str(mark),
                    "execQty": inst.qty_str(abs(pos.size)),
                    "execPnl": "0",
                    "execType": "Funding",
                    "execValue": fmt(value),
                    "execTime": str(now),
                    "isMaker": False,
                    "feeRate": fmt(rate),
                    "tradeIv": "",
                    "markIv": "",
                    "markPrice": inst.price_str(mark),
                    "indexPrice": "",
                    "underlyingPrice": "",
                    "blockTradeId": "",
                    "closedSize": "0",
                    "extraFees": "",
                    "seq": seq,
                    "feeCurrency": "USDT",
                    "marketUnit": "",
                }
                acct.ledger.append(row, now)
                rows.append(row)
            if rows:
                count += len(rows)
                self.sink.push(acct, "execution", rows)
                for row in rows:
                    self._publish_position(acct, str(row["symbol"]), force=True)
                self._publish_wallet(acct)
        return count

    # -- control-driven trades -----------------------------------------------------------

    def manual_trade(
        self, acct: Account, symbol: str, side: str, qty: Decimal, price: Decimal | None
    ) -> Order:
        """A trade placed 'by hand' on the exchange: no orderLinkId, fills immediately."""
        inst = self.instrument(symbol)
        if side not in ("Buy", "Sell"):
            raise params_error("side invalid")
        inst.check_qty(qty, market=False)
        now = self.now()
        fill_price = price if price is not None else self.prices[symbol]
        order = Order(
            order_id=new_id(),
            link_id="",
            account=acct,
            symbol=symbol,
            side=side,
            order_type="Market",
            price=fill_price,
            qty=qty,
            tif="IOC",
            reduce_only=False,
            close_on_trigger=False,
            trigger_price=ZERO,
            trigger_direction=0,
            trigger_by="UNKNOWN",
            status="New",
            created=now,
            updated=now,
            last_price_on_created=self.prices[symbol],
        )
        acct.orders[order.order_id] = order
        row = self._fill(order, qty, fill_price, maker=False, seq=next(self._seq))
        self._finish(order, "Filled")
        self.sink.push(acct, "execution", [row])
        self._publish_order(order)
        self._publish_position(acct, symbol, force=True)
        self._publish_wallet(acct)
        return order

    def synthetic_executions(
        self, acct: Account, symbol: str, count: int, link_prefix: str = ""
    ) -> EncodedRows:
        """``count`` real ledger rows: alternating min-size Buy/Sell fills at the last price.

        Pairs net to zero so a benchmark leaves the position flat; each fill still folds
        into the position and pays the taker fee, exactly like a matched order.
        """
        inst = self.instrument(symbol)
        price = self.prices[symbol]
        qty = max(inst.min_qty, (inst.min_notional / price).quantize(inst.qty_step) + inst.qty_step)
        now = self.now()
        seq = next(self._seq)
        rows = EncodedRows()
        encoded = rows.json
        price_s, qty_s = inst.price_str(price), inst.qty_str(qty)
        value = price * qty
        fee = value * self.taker_fee
        template = self._exec_template(inst, price_s, qty_s, value, fee, now, seq)
        # The JSON of a row is the template's with these fields filled in: every value
        # put there is plain ASCII that JSON never escapes (ids, digits, Buy/Sell), except
        # the caller's link prefix, which is escaped once here.
        row_json = _json_template(template, _SYNTHETIC_VARYING)
        link_json = _dumps(link_prefix)[1:-1]
        closed_strs = {ZERO: inst.qty_str(ZERO), qty: qty_s}
        pos = acct.position(symbol)
        ledger = acct.ledger
        fold = self._fold
        for n in range(count):
            side = "Buy" if (pos.size <= 0) else "Sell"
            order_id = new_id()
            exec_id = new_id()
            link = f"{link_prefix}{n}" if link_prefix else ""
            row = dict(template)
            row["orderId"] = order_id
            row["execId"] = exec_id
            row["side"] = side
            row["orderLinkId"] = link
            closed, pnl = fold(acct, pos, 1 if side == "Buy" else -1, qty, price, fee, now)
            closed_s = closed_strs.get(closed) or inst.qty_str(closed)
            pnl_s = fmt(pnl)
            row["closedSize"] = closed_s
            row["execPnl"] = pnl_s
            pos.seq = seq
            ledger.append(row, now)
            encoded.append(
                row_json
                % (
                    order_id,
                    f"{link_json}{n}" if link_prefix else "",
                    side,
                    exec_id,
                    pnl_s,
                    row["execTime"],
                    closed_s,
                )
            )
            rows.append(row)
        return rows

    # -- internals -----------------------------------------------------------------------

    def _exec_template(
        self,
        inst: Instrument,
        price_s: str,
        qty_s: str,
        value: Decimal,
        fee: Decimal,
        now: int,
        seq: int,
    ) -> dict[str, object]:
        return {
            "category": "linear",
            "symbol": inst.symbol,
            "isLeverage": "",
            "orderId": "",
            "orderLinkId": "",
            "side": "",
            "orderPrice": price_s,
            "orderQty": qty_s,
            "leavesQty": "0",
            "createType": "CreateByUser",
            "orderType": "Market",
            "stopOrderType": "UNKNOWN",
            "execFee": fmt(fee),
            "execId": "",
            "execPrice": price_s,
            "execQty": qty_s,
            "execPnl": "0",
            "execType": "Trade",
            "execValue": fmt(value),
            "execTime": str(now),
            "isMaker": False,
            "feeRate": fmt(self.taker_fee),
            "tradeIv": "",
            "markIv": "",
            "markPrice": price_s,
            "indexPrice": "",
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": "0",
            "extraFees": "",
            "seq": seq,
            "feeCurrency": "USDT",
            "marketUnit": "",
        }

    def _find_order(self, acct: Account, p: dict[str, object], symbol: str, verb: str) -> Order:
        by_id, by_link = p.get("orderId"), p.get("orderLinkId")
        if not by_id and not by_link:
            raise params_error("orderId or orderLinkId is required")
        order = acct.orders.get(str(by_id)) if by_id else acct.link_ids.get(str(by_link))
        if order is None or not order.is_open or order.symbol != symbol:
            raise ApiError(110001, f"order not exists or too late to {verb}")
        return order

    def _matches(self, o: Order, symbol: object, base: object) -> bool:
        if symbol:
            return o.symbol == symbol
        if base:
            return self.instruments[o.symbol].base_coin == base
        return True

    def _window(self, p: dict[str, object]) -> tuple[int, int]:
        start_raw, end_raw = p.get("startTime"), p.get("endTime")
        now = self.now()
        start = parse_int(start_raw, "startTime") if start_raw not in (None, "") else None
        end = parse_int(end_raw, "endTime") if end_raw not in (None, "") else None
        if start is None and end is None:
            return now - WEEK_MS, now
        if start is None:
            assert end is not None
            return end - WEEK_MS, end
        if end is None:
            return start, start + WEEK_MS
        if end < start:
            raise params_error("endTime must be greater than startTime")
        if end - start > WEEK_MS:
            raise params_error(
                "The time range between startTime and endTime must not exceed 7 days"
            )
        return start, end

    def _page_orders(
        self, found: list[Order], p: dict[str, object], limit: int
    ) -> dict[str, object]:
        offset = _cursor(p) or 0
        page = found[offset : offset + limit]
        more = offset + limit < len(found)
        return {
            "category": "linear",
            "list": [order_view(o, self.instruments[o.symbol]) for o in page],
            "nextPageCursor": f"page%3D{offset + limit}" if more else "",
        }

    def _position_view(self, pos: Position, *, ws: bool) -> dict[str, object]:
        return position_view(pos, self.instruments[pos.symbol], self.prices[pos.symbol], ws=ws)

    def _levels(self, order: Order, ref: Decimal) -> Iterable[tuple[Decimal, Decimal]]:
        """(price, qty) levels a taker of ``order``'s side can reach from ``ref``."""
        inst = self.instruments[order.symbol]
        liq = self.liquidity[order.symbol]
        spacing = max(
            inst.tick_size, (ref * liq.level_bps / 10000).quantize(inst.tick_size, ROUND_DOWN)
        )
        if order.side == "Buy":
            first = ref + inst.tick_size
            limit = order.price
            band = ref * (1 + liq.slippage_band)
            k = 0
            while True:
                price = first + spacing * k
                if price > limit or price > band:
                    return
                yield price, liq.qty_per_level
                k += 1
        else:
            first = ref - inst.tick_size
            limit = order.price
            band = ref * (1 - liq.slippage_band)
            k = 0
            while True:
                price = first - spacing * k
                if price < limit or price < band or price <= 0:
                    return
                yield price, liq.qty_per_level
                k += 1

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
            for _price, qty in self._levels(order, ref):
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
        for price, available in self._levels(order, ref):
            leaves = self._fillable(order)
            if leaves <= 0:
                break
            qty = min(leaves, available)
            rows.append(self._fill(order, qty, price, maker=False, seq=seq))
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

    def _fill(
        self, order: Order, qty: Decimal, price: Decimal, *, maker: bool, seq: int
    ) -> dict[str, object]:
        acct = order.account
        inst = self.instruments[order.symbol]
        now = self.now()
        value = qty * price
        rate = self.maker_fee if maker else self.taker_fee
        fee = value * rate
        pos = acct.position(order.symbol)
        closed, pnl = self._fold(acct, pos, order.sign, qty, price, fee, now)
        pos.seq = seq
        order.cum_qty += qty
        order.cum_value += value
        order.cum_fee += fee
        order.closed_pnl += pnl
        order.updated = now
        row: dict[str, object] = {
            "category": "linear",
            "symbol": order.symbol,
            "isLeverage": "",
            "orderId": order.order_id,
            "orderLinkId": order.link_id,
            "side": order.side,
            "orderPrice": inst.price_str(order.price),
            "orderQty": inst.qty_str(order.qty),
            "leavesQty": inst.qty_str(order.qty - order.cum_qty),
            "createType": order.create_type,
            "orderType": order.order_type,
            "stopOrderType": order.stop_order_type,
            "execFee": fmt(fee),
            "execId": new_id(),
            "execPrice": inst.price_str(price),
            "execQty": inst.qty_str(qty),
            "execPnl": fmt(pnl),
            "execType": "Trade",
            "execValue": fmt(value),
            "execTime": str(now),
            "isMaker": maker,
            "feeRate": fmt(rate),
            "tradeIv": "",
            "markIv": "",
            "markPrice": inst.price_str(self.prices[order.symbol]),
            "indexPrice": "",
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": inst.qty_str(closed),
            "extraFees": "",
            "seq": seq,
            "feeCurrency": "USDT",
            "marketUnit": "",
        }
        acct.ledger.append(row, now)
        return row

    @staticmethod
    def _fold(
        acct: Account,
        pos: Position,
        sign: int,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        now: int,
    ) -> tuple[Decimal, Decimal]:
        """Apply one fill to a one-way position; returns (closed size, gross realised P&L)."""
        size = pos.size
        closed = ZERO
        pnl = ZERO
        if size == 0:
            pos.created = now
            pos.cur_realised = ZERO
        if size == 0 or (size > 0) == (sign > 0):
            total = abs(size) + qty
            pos.avg = (abs(size) * pos.avg + qty * price) / total
            pos.size = size + sign * qty
        else:
            closed = min(qty, abs(size))
            pnl = closed * (price - pos.avg) * (1 if size > 0 else -1)
            pos.size = size + sign * qty
            if pos.size == 0:
                pos.avg = ZERO
            elif (pos.size > 0) != (size > 0):
                pos.avg = price  # flipped through zero: the remainder opened at this price
        net = pnl - fee
        pos.cur_realised += net
        pos.cum_realised += net
        acct.cum_realised += net
        acct.wallet += net
        pos.updated = now
        return closed, pnl

    def _finish(
        self, order: Order, status: str, *, reject: str = "EC_NoError", cancel: str = "UNKNOWN"
    ) -> None:
        order.status = status
        order.reject_reason = reject
        if cancel != "UNKNOWN":
            order.cancel_type = cancel
        order.updated = self.now()
        order.account.open_orders.pop(order.order_id, None)
        self.book[order.symbol].pop(order.order_id, None)

    def _cancel(self, order: Order, cancel_type: str) -> None:
        status = "Deactivated" if order.status == "Untriggered" else "Cancelled"
        self._finish(order, status, cancel=cancel_type)

    def _publish_order(self, order: Order) -> None:
        if self.sink.wants(order.account, "order"):
            view = order_view(order, self.instruments[order.symbol])
            view["category"] = "linear"
            self.sink.push(order.account, "order", [view])

    def _publish_position(self, acct: Account, symbol: str, force: bool = False) -> None:
        if self.sink.wants(acct, "position"):
            self.sink.push(acct, "position", [self._position_view(acct.position(symbol), ws=True)])

    def _publish_wallet(self, acct: Account) -> None:
        if self.sink.wants(acct, "wallet"):
            self.sink.push(acct, "wallet", [wallet_view(acct, self.prices, self.instruments)])

    def publish_wallet(self, acct: Account) -> None:
        self._publish_wallet(acct)

    def publish_position(self, acct: Account, symbol: str) -> None:
        self._publish_position(acct, symbol, force=True)


#: Fields of a synthetic execution that differ row to row, in the template's key order.
_SYNTHETIC_VARYING = (
    "orderId",
    "orderLinkId",
    "side",
    "execId",
    "execPnl",
    "execTime",
    "closedSize",
)
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _json_template(row: dict[str, object], varying: tuple[str, ...]) -> str:
    """``row``'s compact JSON as a %-format with a ``%s`` inside the quotes of each varying
    string field, in key order (the values filled in must need no JSON escaping)."""
    assert [k for k in row if k in varying] == list(varying), "varying fields out of key order"
    marked = {k: (f"\x01{k}\x01" if k in varying else v) for k, v in row.items()}
    text = _dumps(marked).replace("%", "%%")
    for k in varying:
        text = text.replace(_dumps(f"\x01{k}\x01"), '"%s"')
    return text


def _require_linear(p: dict[str, object]) -> None:
    category = p.get("category")
    if category != "linear":
        if not category:
            raise params_error("category is required")
        raise params_error(f"category only support linear, got {category}")


def _optional_price(value: object, inst: Instrument, name: str) -> Decimal:
    if value in (None, "", "0"):
        return ZERO
    price = parse_decimal(value, name)
    inst.check_price(price, name)
    return price


def _limit(p: dict[str, object], default: int, maximum: int) -> int:
    limit = parse_int(p.get("limit"), "limit", default)
    if not 1 <= limit <= maximum:
        raise params_error(f"limit must be in [1, {maximum}]")
    return limit


def _cursor(p: dict[str, object]) -> int | None:
    raw = p.get("cursor")
    if raw in (None, ""):
        return None
    text = str(raw)
    for prefix in ("page%3D", "page="):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if not text.isdigit():
        raise params_error("cursor invalid")
    return int(text)


def _filter_kind(orders: list[Order], order_filter: object) -> list[Order]:
    if order_filter in (None, ""):
        return orders
    if order_filter == "Order":
        return [o for o in orders if o.stop_order_type == "UNKNOWN"]
    if order_filter == "StopOrder":
        return [o for o in orders if o.stop_order_type != "UNKNOWN"]
    raise params_error("orderFilter invalid")


def _row_matches(
    row: dict[str, object],
    by_id: object,
    by_link: object,
    symbol: object,
    base: object,
    exec_type: object,
) -> bool:
    if by_id or by_link:
        if by_id and row["orderId"] != by_id:
            return False
        if not by_id and row["orderLinkId"] != by_link:
            return False
    else:
        if symbol and row["symbol"] != symbol:
            return False
        if base and not str(row["symbol"]).startswith(str(base)):
            return False
    return not (exec_type and row["execType"] != exec_type)
