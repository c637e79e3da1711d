"""Trades the control API injects: a manual trade (no link id) and synthetic executions
for benchmarks, each a real ledger row folded like a matched order."""

from __future__ import annotations

import json
from decimal import Decimal

from paper_exchange.engine.errors import params_error
from paper_exchange.engine.models import Account, EncodedRows, Order
from paper_exchange.engine.numbers import ZERO, fmt
from paper_exchange.engine.state import EngineState, new_id


class InjectedTrades(EngineState):
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
