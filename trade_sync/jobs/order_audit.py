"""Order audit: open orders on the exchange vs ``trading.orders``.

* An order open on the exchange that the ledger lacks, or whose status / filled
  quantity differs, is handed over with its current state.
* An order the ledger still has open but the exchange no longer lists as open reached
  a terminal state the WebSocket never delivered: it is fetched by orderId (realtime
  first — it also answers for recently closed orders — then order history) and that
  final state is handed over. Cancelled/rejected orders without fills stay in Bybit's
  history for only 24 hours (docs/bybit.md#order-history), so this job must run often.
* An order that was placed *and* closed while the listener was away (or whose every
  WebSocket message was lost) is in neither of the above: the ledger never had it and
  the exchange no longer lists it as open; the listener's catch-up reads executions
  only, so a filled one has its fills but no order row and a cancelled one leaves no
  trace at all. The order history over the execution audit's sliding window
  (``SYNC_EXECUTION_WINDOW_HOURS``, default 24 h — Bybit's retention of unfilled
  cancelled orders) is therefore compared with the ledger too.

An order the ledger already holds in a terminal state is never handed over again (the
listener would not change it), and a state already handed over is not handed again
within ``ctx.rehand_after`` (the listener may simply be lagging).
"""

from __future__ import annotations

import logging
from datetime import timedelta
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
    end = ctx.clock()
    start = end - timedelta(hours=ctx.settings.sync.execution_window_hours)
    history: dict[str, rest.Item] = {}
    for item in rest.iter_order_history(http, start, end):
        oid = str(item.get("orderId") or "")
        if oid and oid not in on_exchange and oid not in history:  # newest state first
            history[oid] = item
    with ctx.db() as conn:
        rows = conn.execute(
            """
            SELECT order_id, status, cum_exec_qty FROM trading.orders
             WHERE exchange = %s AND account = %s
               AND (order_id = ANY(%s) OR status <> ALL(%s))
            """,
            (EXCHANGE, account, [*on_exchange, *history], list(TERMINAL_ORDER_STATUSES)),
        ).fetchall()
    ledger = {r[0]: (r[1], Decimal(r[2])) for r in rows}

    stale = [o for oid, o in on_exchange.items() if _needs(ledger.get(oid), o)]
    vanished = [oid for oid, (status, _) in ledger.items()
                if status not in TERMINAL_ORDER_STATUSES and oid not in on_exchange]  # fmt: skip
    finals: list[rest.Item] = []
    unresolved: list[str] = []
    for oid in vanished:
        state = history.get(oid) or _current_state(http, oid)
        if state is None:
            unresolved.append(oid)
        elif _needs(ledger.get(oid), state):
            finals.append(state)
    # Placed and closed unseen: in the history, not in the ledger at all.
    finals += [o for oid, o in history.items() if oid not in ledger]
    fresh = [*_not_recently_handed(ctx, stale), *_not_recently_handed(ctx, finals)]
    handed = hand_over(ctx.redis, account, "order", fresh)
    found = len(stale) + len(finals) + len(unresolved)
    outcome = Outcome(
        checked=len(on_exchange) + len(history) + len(set(vanished) - set(history)),
        found=found,
        status="found" if found else "ok",
        details={
            "window": [start.isoformat(), end.isoformat()],
            "open_on_exchange": len(on_exchange),
            "closed_in_window": len(history),
            "stale_or_missing": [o["orderId"] for o in stale][:50],
            "terminal_missed": [o["orderId"] for o in finals][:50],
            "unresolved": unresolved[:50],
            "handed_over": handed,
            "awaiting_listener": len(stale) + len(finals) - handed,
        },
    )
    line = (
        f"{NAME} [{account}]: {len(on_exchange)} open on the exchange, "
        f"{len(history)} closed in the window; "
        f"{len(stale)} missing/stale, {len(finals)} terminal states missed"
        + (f", {len(unresolved)} not found on the exchange" if unresolved else "")
    )
    outcome.lines.append(line)
    log.log(logging.WARNING if found else logging.INFO, line)
    return outcome


def _not_recently_handed(ctx: SyncContext, items: list[rest.Item]) -> list[rest.Item]:
    """The items whose state (id, status, filled qty) was not handed over lately."""
    keyed = {
        f"order:{o.get('orderId')}:{o.get('orderStatus')}:{o.get('cumExecQty')}": o for o in items
    }
    return [keyed[k] for k in ctx.not_recently_handed(list(keyed))]


def _needs(ledger: tuple[str, Decimal] | None, item: dict[str, Any]) -> bool:
    """Whether the exchange's state of an order is news to the ledger."""
    if ledger is not None and ledger[0] in TERMINAL_ORDER_STATUSES:
        return False  # final in the ledger; the listener never rewrites a final row
    return _differs(ledger, item)


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
