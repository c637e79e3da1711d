"""Execution audit: every execution on the exchange must be in the ledger.

``/v5/execution/list`` over a sliding window (``SYNC_EXECUTION_WINDOW_HOURS``, walked
as contiguous ≤ 7-day windows to the end of every cursor), compared by execId with
``trading.fills`` and ``trading.funding``. Missing ones are handed to the listener
(the only writer) and counted: zero, run after run, is the healthy signal.

The newest ``ctx.grace`` is left out: an execution that old is normally still on its
way through the WebSocket and the listener, and handing it over too would only make
noise (it would be harmless — the listener dedupes by execId).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from core.exchange import rest
from core.ids import AccountName
from trade_sync.context import SyncContext
from trade_sync.handover import hand_over
from trade_sync.jobs.ledger import known_exec_ids
from trade_sync.runs import Outcome

NAME = "execution_audit"
log = logging.getLogger(__name__)
#: How many missing ids a sync_runs row and a log line list (the count is always exact).
_LIST_AT_MOST = 50


def run(
    ctx: SyncContext,
    account: AccountName,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Outcome:
    end = end or ctx.clock() - ctx.grace
    start = start or end - timedelta(hours=ctx.settings.sync.execution_window_hours)
    items = list(rest.iter_executions(ctx.http(account), start, end))
    return reconcile(ctx, account, items, start, end)


def reconcile(
    ctx: SyncContext, account: AccountName, items: list[rest.Item], start: datetime, end: datetime
) -> Outcome:
    """Compare fetched items with the ledger and hand the missing ones over."""
    by_id = {str(i["execId"]): i for i in items if i.get("execId")}
    with ctx.db() as conn:
        known = known_exec_ids(conn, by_id)
    missing = [e for e in by_id if e not in known]
    fresh = ctx.not_recently_handed(missing)
    handed = hand_over(ctx.redis, account, "execution", (by_id[e] for e in fresh))
    outcome = Outcome(
        checked=len(by_id),
        found=len(missing),
        status="found" if missing else "ok",
        details={
            "window": [start.isoformat(), end.isoformat()],
            "missing": missing[:_LIST_AT_MOST],
            "handed_over": handed,
            "awaiting_listener": len(missing) - len(fresh),
        },
    )
    line = f"{NAME} [{account}]: {len(by_id)} executions checked, {len(missing)} missing" + (
        f", {handed} handed to the listener" if missing else ""
    )
    outcome.lines.append(line)
    if missing:
        log.warning("%s; first: %s", line, ", ".join(missing[:10]))
    else:
        log.info(line)
    return outcome
