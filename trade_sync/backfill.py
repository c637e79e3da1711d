"""``alpha sync backfill``: import an account's past executions through the listener.

History is walked oldest first in contiguous windows (one day by default, well inside
Bybit's 7-day rule) with a progress bar; every execution the ledger lacks is handed
over, exactly like the audit does. The run is recorded in ``trading.sync_runs``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import IO

from tqdm import tqdm

from core.exchange import rest
from core.ids import AccountName
from trade_sync.context import SyncContext
from trade_sync.handover import hand_over
from trade_sync.jobs.ledger import known_exec_ids
from trade_sync.runs import Outcome, run_job

NAME = "backfill"
log = logging.getLogger(__name__)


@dataclass
class BackfillTotals:
    windows: int = 0
    fetched: int = 0
    missing: int = 0


def backfill_account(
    ctx: SyncContext,
    account: AccountName,
    since: datetime,
    until: datetime | None = None,
    *,
    width: timedelta = timedelta(days=1),
    progress: IO[str] | None = None,
) -> Outcome:
    until = until or ctx.clock()
    if since >= until:
        raise ValueError("--since must be in the past")
    totals = BackfillTotals()
    http = ctx.http(account)
    windows = rest.windows(since, until, width)
    bar = tqdm(total=len(windows), desc=f"backfill {account}", unit="window", file=progress,
               disable=progress is None, leave=True)  # fmt: skip
    missing_sample: list[str] = []
    try:
        for page in rest.iter_execution_pages(http, since, until, width=width):
            by_id = {str(i["execId"]): i for i in page.items if i.get("execId")}
            with ctx.db() as conn:
                known = known_exec_ids(conn, by_id)
            missing = [e for e in by_id if e not in known]
            hand_over(ctx.redis, account, "execution", (by_id[e] for e in missing))
            totals.windows += 1
            totals.fetched += len(by_id)
            totals.missing += len(missing)
            missing_sample += missing[: max(0, 20 - len(missing_sample))]
            bar.set_postfix(fetched=totals.fetched, handed=totals.missing)
            bar.update(1)
    finally:
        bar.close()
    line = (
        f"backfill [{account}] {since:%Y-%m-%d %H:%M} → {until:%Y-%m-%d %H:%M}: "
        f"{totals.fetched} executions in {totals.windows} windows, "
        f"{totals.missing} handed to the listener"
    )
    log.info(line)
    return Outcome(
        checked=totals.fetched,
        found=totals.missing,
        status="found" if totals.missing else "ok",
        details={
            "since": since.isoformat(),
            "until": until.isoformat(),
            "windows": totals.windows,
            "missing_sample": missing_sample,
        },
        lines=[line],
    )


def backfill(
    ctx: SyncContext,
    accounts: list[AccountName],
    since: datetime,
    until: datetime | None = None,
    *,
    width: timedelta = timedelta(days=1),
    progress: IO[str] | None = None,
) -> list[Outcome]:
    out = []
    for account in accounts:
        t0 = time.monotonic()
        outcome = run_job(
            ctx, NAME, account,
            partial(backfill_account, ctx, account, since, until, width=width,
                    progress=progress),
            respect_backoff=False,
        )  # fmt: skip
        assert outcome is not None
        log.debug("backfill %s took %.1fs", account, time.monotonic() - t0)
        out.append(outcome)
    return out
