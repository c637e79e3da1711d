"""Settlement: a fill becomes a ledger row and moves the position and the wallet; funding
is charged on every open position; orders end."""

from __future__ import annotations

from decimal import Decimal

from paper_exchange.engine.instruments import Instrument
from paper_exchange.engine.models import Account, Order, Position
from paper_exchange.engine.numbers import ZERO, fmt
from paper_exchange.engine.state import EngineState, new_id


class Settlement(EngineState):
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
        price_s = inst.price_str(price)
        row = self._exec_template(inst, price_s, inst.qty_str(qty), value, fee, now, seq)
        row.update(
            orderId=order.order_id,
            orderLinkId=order.link_id,
            side=order.side,
            orderPrice=inst.price_str(order.price),
            orderQty=inst.qty_str(order.qty),
            leavesQty=inst.qty_str(order.qty - order.cum_qty),
            createType=order.create_type,
            orderType=order.order_type,
            stopOrderType=order.stop_order_type,
            execId=new_id(),
            execPnl=fmt(pnl),
            isMaker=maker,
            feeRate=fmt(rate),
            markPrice=inst.price_str(self.mark_price(order.symbol)),
            closedSize=inst.qty_str(closed),
        )
        acct.ledger.append(row, now)
        if order.take_profit or order.stop_loss:
            self._attach_stops(order)
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

    def apply_funding(self, rate: Decimal | None = None) -> int:
        """Settle funding on every open position; returns the number of executions."""
        rate = self.funding_rate if rate is None else rate
        now = self.now()
        # One rate for every listed symbol, whether or not anyone holds a position: the
        # history Bybit serves is the market's, not an account's.
        self.funding_log.append((now, rate))
        count = 0
        for acct in self.accounts_by_key.values():
            rows: list[dict[str, object]] = []
            for pos in acct.positions.values():
                if not pos.size:
                    continue
                inst = self.instruments[pos.symbol]
                mark = self.mark_price(pos.symbol)  # Bybit values the position at mark
                value = abs(pos.size) * mark
                fee = value * rate * (1 if pos.size > 0 else -1)  # longs pay a positive rate
                acct.wallet -= fee
                acct.cum_realised -= fee
                pos.cum_realised -= fee
                pos.cur_realised -= fee
                seq = next(self._seq)
                pos.seq = seq
                pos.updated = now
                mark_s = inst.price_str(mark)
                qty_s = inst.qty_str(abs(pos.size))
                row = self._exec_template(inst, mark_s, qty_s, value, fee, now, seq)
                row.update(
                    orderId=f"{now // 1000}-{pos.symbol}-funding",
                    side="Buy" if pos.size > 0 else "Sell",
                    orderPrice="0",
                    orderQty="0",
                    createType="",
                    orderType="UNKNOWN",
                    execId=new_id(),
                    execType="Funding",
                    feeRate=fmt(rate),
                )
                acct.ledger.append(row, now)
                rows.append(row)
            if rows:
                count += len(rows)
                self.sink.push(acct, "execution", rows)
                for row in rows:
                    self._publish_position(acct, str(row["symbol"]), force=True)
                self._publish_wallet(acct)
        return count

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
        """The one shape of an execution row, as Bybit's ``execution/list`` and the
        private ``execution`` topic give it (a taker Trade); callers set what differs."""
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
