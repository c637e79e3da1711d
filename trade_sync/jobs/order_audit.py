"""Order audit: open orders on the exchange vs ``trading.orders``.

* An order open on the exchange that the ledger lacks, or whose status / filled
  quantity differs, is handed over with its current state.
* An order the ledger still has open but the exchange no longer lists as open reached
  a terminal state the WebSocket never delivered: it is fetched by orderId (realtime
  first — it also answers for recently closed orders — then order history) and that
  final state is handed over. Cancelled/rejected orders without fills stay in Bybit's
  history for only 24 hours (BYBIT_V5.md §3.6), so this job must run often.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from pybit.unified_trading import HTTP

from core.exchange import rest
from core.fills import TERMINAL_ORDER_STATUSES
from core.ids import EXCHANGE, AccountName
from trade_sync.context import SyncContext
from trade_sync.handover import hand_over
from trade_sync.runs import Outcome

NAME = "order_audit"
log = logging.getLogger(__name__)


def run(ctx: SyncContext, account: AccountName) -> Outcome:
    http = ctx.http(account)
    on_exchange = {str(o["orderId"]): o for o in rest.iter_open_orders(http)}
    with ctx.db() as conn:
        rows = conn.execute(
            """
            SELECT order_id, status, cum_exec_qty FROM trading.orders
             WHERE exchange = %s AND account = %s
               AND (order_id = ANY(%s) OR status <> ALL(%s))
            """,
            (EXCHANGE, account, list(on_exchange), list(TERMINAL_ORDER_STATUSES)),
        ).fetchall()
    ledger = {r[0]: (r[1], Decimal(r[2])) for r in rows}

    stale = [o for oid, o in on_exchange.items() if _differs(ledger.get(oid), o)]
    vanished = [oid for oid, (status, _) in ledger.items()
                if status not in TERMINAL_ORDER_STATUSES and oid not in on_exchange]  # fmt: skip
    finals: list[rest.Item] = []
    unresolved: list[str] = []
    for oid in vanished:
        item = _current_state(http, oid)
        if item is None:
            unresolved.append(oid)
        elif _differs(ledger.get(oid), item):
            finals.append(item)
    handed = hand_over(ctx.redis, account, "order", [*stale, *finals])
    found = len(stale) + len(finals) + len(unresolved)
    outcome = Outcome(
        checked=len(on_exchange) + len(vanished),
        found=found,
        status="found" if found else "ok",
        details={
            "open_on_exchange": len(on_exchange),
            "stale_or_missing": [o["orderId"] for o in stale][:50],
            "terminal_missed": [o["orderId"] for o in finals][:50],
            "unresolved": unresolved[:50],
            "handed_over": handed,
        },
    )
    line = (
        f"{NAME} [{account}]: {len(on_exchange)} open on the exchange; "
        f"{len(stale)} missing/stale, {len(finals)} terminal states missed"
        + (f", {len(unresolved)} not found on the exchange" if unresolved else "")
    )
    outcome.lines.append(line)
    log.log(logging.WARNING if found else logging.INFO, line)
    return outcome


def _differs(ledger: tuple[str, Decimal] | None, item: dict[str, Any]) -> bool:
    if ledger is None:
        return True
    status, cum = ledger
    try:
        exchange_cum = Decimal(str(item.get("cumExecQty") or "0"))
    except InvalidOperation:
        return True
    return status != item.get("orderStatus") or cum != exchange_cum


def _current_state(http: HTTP, order_id: str) -> rest.Item | None:
    # Realtime by orderId also answers for recently closed orders (openOnly is ignored
    # when an id is given); history covers the rest within Bybit's retention.
    for item in rest.iter_open_orders_by_id(http, order_id):
        return item
    for item in rest.iter_order_history(http, None, None, order_id=order_id):
        return item
    return None
