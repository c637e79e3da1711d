"""Bybit-shaped dicts for orders, positions and wallets (numbers as strings)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from paper_exchange.engine.instruments import Instrument
from paper_exchange.engine.liquidation import maintenance_margin
from paper_exchange.engine.models import Account, Order, Position
from paper_exchange.engine.numbers import ZERO, fmt


def order_view(o: Order, inst: Instrument, *, ws: bool = False) -> dict[str, object]:
    """An order as ``order/realtime`` and ``order/history`` give it, or (``ws``) as the
    ``order`` topic does. Bybit writes "no value" in several ways, and a client must
    take each: an unfilled order's ``avgPrice`` is ``"0"`` in the REST examples and
    ``""`` on the topic ("returns "" for those orders without avg price"), and an unset
    trigger, take profit or stop loss is ``"0.00"`` (zero at the price's decimals) in
    REST and ``"0"`` on the topic."""
    is_conditional = o.trigger_price > 0
    leaves = o.leaves
    none = "0" if ws else inst.price_str(ZERO)
    return {
        "orderId": o.order_id,
        "orderLinkId": o.link_id,
        "parentOrderLinkId": "",
        "blockTradeId": "",
        "symbol": o.symbol,
        "price": inst.price_str(o.price) if o.price else "0",
        "qty": inst.qty_str(o.qty),
        "side": o.side,
        "isLeverage": "",
        "positionIdx": 0,
        "orderStatus": o.status,
        "createType": o.create_type,
        "cancelType": o.cancel_type,
        "rejectReason": o.reject_reason,
        "avgPrice": fmt(o.avg_price) if o.cum_qty else ("" if ws else "0"),
        "leavesQty": inst.qty_str(leaves),
        "leavesValue": fmt(leaves * o.price),
        "cumExecQty": inst.qty_str(o.cum_qty),
        "cumExecValue": fmt(o.cum_value),
        "cumExecFee": fmt(o.cum_fee),
        "cumFeeDetail": {"USDT": fmt(o.cum_fee)} if o.cum_fee else {},
        "closedPnl": fmt(o.closed_pnl),
        "feeCurrency": "",
        "timeInForce": o.tif,
        "orderType": o.order_type,
        "stopOrderType": o.stop_order_type,
        "orderIv": "",
        "marketUnit": "",
        "triggerPrice": inst.price_str(o.trigger_price) if is_conditional else none,
        "takeProfit": inst.price_str(o.take_profit) if o.take_profit else none,
        "stopLoss": inst.price_str(o.stop_loss) if o.stop_loss else none,
        "tpslMode": "",
        "ocoTriggerBy": "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": o.trigger_direction,
        "triggerBy": o.trigger_by if is_conditional else "UNKNOWN",
        "lastPriceOnCreated": inst.price_str(o.last_price_on_created),
        "basePrice": inst.price_str(o.last_price_on_created) if is_conditional else "",
        "reduceOnly": o.reduce_only,
        "closeOnTrigger": o.close_on_trigger,
        "placeType": "",
        "smpType": o.smp_type,
        "smpGroup": 0,
        "smpOrderId": o.smp_order_id,
        "slippageToleranceType": "UNKNOWN",
        "slippageTolerance": "",
        "brokerOrderPrice": "",
        "extraFees": "",
        "rpiTakerAccess": False,
        "rpiMatchedQty": "0",
        "createdTime": str(o.created),
        "updatedTime": str(o.updated),
    }


def position_view(
    pos: Position, inst: Instrument, mark: Decimal, *, ws: bool, liq_price: str = ""
) -> dict[str, object]:
    """A position as ``position/list`` gives it, or (``ws``) as the ``position`` topic
    does. As in Bybit's examples, REST writes an unset take profit, stop loss or
    trailing stop as ``"0.00"`` and a flat position's ``liqPrice`` and
    ``sessionAvgPrice`` as ``""``; the topic writes ``"0"`` for all of them."""
    size = abs(pos.size)
    side = "" if pos.size == 0 else ("Buy" if pos.size > 0 else "Sell")
    none = "0" if ws else inst.price_str(ZERO)
    value = size * pos.avg
    upl = pos.size * (mark - pos.avg) if pos.size else ZERO
    # A unified account's margins are at the mark price ("positionIM: the same value as
    # positionIMByMp"), so they move with it.
    value_at_mark = size * mark
    im = value_at_mark / pos.leverage if size else ZERO
    mm = maintenance_margin(value_at_mark)
    view: dict[str, object] = {
        "positionIdx": 0,
        "tradeMode": 0,
        "riskId": 1,
        "riskLimitValue": "2000000",
        "symbol": pos.symbol,
        "side": side,
        "size": inst.qty_str(size),
        "avgPrice": fmt(pos.avg),
        "positionValue": fmt(value),
        "positionStatus": "Normal",
        "autoAddMargin": 0,
        "adlRankIndicator": 2 if size else 0,
        "leverage": fmt(pos.leverage),
        "positionBalance": fmt(im),
        "markPrice": inst.price_str(mark),
        # "" where Bybit leaves it empty (``liquidation``); "0" for a flat one on the topic
        "liqPrice": liq_price or ("0" if ws and not size else ""),
        "bustPrice": "",
        "breakEvenPrice": fmt(pos.avg),
        "positionIM": fmt(im),
        "positionIMByMp": fmt(im),
        "positionMM": fmt(mm),
        "positionMMByMp": fmt(mm),
        "tpslMode": "Full",
        "takeProfit": _stop_price(pos, "TakeProfit", inst) or none,
        "stopLoss": _stop_price(pos, "StopLoss", inst) or none,
        "trailingStop": _trailing_distance(pos, inst) or none,
        "sessionAvgPrice": "0" if ws else "",
        "unrealisedPnl": fmt(upl),
        "curRealisedPnl": fmt(pos.cur_realised),
        "cumRealisedPnl": fmt(pos.cum_realised),
        "seq": pos.seq,
        "isReduceOnly": False,
        "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "",
        "createdTime": str(pos.created),
        "updatedTime": str(pos.updated),
    }
    if ws:
        view["entryPrice"] = view.pop("avgPrice")
        view["category"] = "linear"
    return view


def _stop_price(pos: Position, kind: str, inst: Instrument) -> str:
    order = pos.stops.get(kind)
    return inst.price_str(order.trigger_price) if order and order.is_open else ""


def _trailing_distance(pos: Position, inst: Instrument) -> str:
    order = pos.stops.get("TrailingStop")
    return inst.price_str(order.trail_distance) if order and order.is_open else ""


def wallet_view(
    acct: Account, marks: Mapping[str, Decimal], instruments: dict[str, Instrument]
) -> dict[str, object]:
    upl = ZERO
    pos_im = ZERO
    pos_mm = ZERO
    for pos in acct.positions.values():
        if pos.size:
            mark = marks[pos.symbol]
            upl += pos.size * (mark - pos.avg)
            value = abs(pos.size) * mark  # margins at mark, as in ``position_view``
            pos_im += value / pos.leverage
            pos_mm += maintenance_margin(value)
    order_im = ZERO
    for o in acct.open_orders.values():
        if not o.reduce_only and o.trigger_price == 0:
            order_im += o.leaves * o.price / acct.position(o.symbol).leverage
    equity = acct.wallet + upl
    available = equity - pos_im - order_im
    im_total = pos_im + order_im
    coin = {
        "coin": "USDT",
        "equity": fmt(equity),
        "usdValue": fmt(equity),
        "walletBalance": fmt(acct.wallet),
        "free": "",
        "locked": "0",
        "spotHedgingQty": "0",
        "borrowAmount": "0",
        "availableToWithdraw": "",
        "availableToBorrow": "",
        "accruedInterest": "0",
        "totalOrderIM": fmt(order_im),
        "totalPositionIM": fmt(pos_im),
        "totalPositionMM": fmt(pos_mm),
        "unrealisedPnl": fmt(upl),
        "cumRealisedPnl": fmt(acct.cum_realised),
        "bonus": "0",
        "marginCollateral": True,
        "collateralSwitch": True,
        "spotBorrow": "0",
    }
    rate = (im_total / equity) if equity > 0 else ZERO
    mm_rate = (pos_mm / equity) if equity > 0 else ZERO
    return {
        "accountType": "UNIFIED",
        "accountIMRate": fmt(round(rate, 4)),
        "accountIMRateByMp": fmt(round(rate, 4)),
        "accountMMRate": fmt(round(mm_rate, 4)),
        "accountMMRateByMp": fmt(round(mm_rate, 4)),
        "accountLTV": "0",
        "totalEquity": fmt(equity),
        "totalWalletBalance": fmt(acct.wallet),
        "totalMarginBalance": fmt(equity),
        "totalAvailableBalance": fmt(available),
        "totalPerpUPL": fmt(upl),
        "totalInitialMargin": fmt(im_total),
        "totalInitialMarginByMp": fmt(im_total),
        "totalMaintenanceMargin": fmt(pos_mm),
        "totalMaintenanceMarginByMp": fmt(pos_mm),
        "coin": [coin],
    }


def available_balance(acct: Account, marks: Mapping[str, Decimal]) -> Decimal:
    upl = ZERO
    im = ZERO
    for pos in acct.positions.values():
        if pos.size:
            mark = marks[pos.symbol]
            upl += pos.size * (mark - pos.avg)
            im += abs(pos.size) * mark / pos.leverage
    for o in acct.open_orders.values():
        if not o.reduce_only and o.trigger_price == 0:
            im += o.leaves * o.price / acct.position(o.symbol).leverage
    return acct.wallet + min(upl, ZERO) - im
