"""The one APScheduler of trade sync, and the job table.

Choices, deliberately:

* ``BackgroundScheduler`` — the main thread keeps signals and the stop event
  (``core.service.run_until_signalled``); one scheduler for every job and account.
* ``max_instances=1`` — a slow run (a rate-limited account, a long window) must not
  overlap the next run of the same job: two execution audits at once would hand the
  same executions over twice and report the same drift twice.
* ``coalesce=True`` — after a stall (laptop sleep, DB outage, GC) the missed runs of a
  job collapse into one; a burst of identical audits would only add load at the worst
  moment.
* ``misfire_grace_time`` = the job's interval — a run that starts late but within one
  interval still runs; a later one is dropped (coalescing then runs it once).
* A pool of as many threads as there are jobs, so a slow audit never delays the drift
  check; accounts run one after another inside a job, each isolated by ``run_job``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from core.config import SyncSettings
from core.ids import AccountName
from trade_sync.context import SyncContext
from trade_sync.jobs import (
    execution_audit,
    order_audit,
    position_drift,
    transaction_log,
    wallet_snapshot,
)
from trade_sync.runs import Outcome, run_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    name: str
    run: Callable[[SyncContext, AccountName], Outcome]
    interval: Callable[[SyncSettings], int]


JOBS: tuple[JobSpec, ...] = (
    JobSpec(execution_audit.NAME, execution_audit.run, lambda s: s.execution_audit_seconds),
    JobSpec(order_audit.NAME, order_audit.run, lambda s: s.order_audit_seconds),
    JobSpec(position_drift.NAME, position_drift.run, lambda s: s.position_drift_seconds),
    JobSpec(wallet_snapshot.NAME, wallet_snapshot.run, lambda s: s.wallet_snapshot_seconds),
    JobSpec(transaction_log.NAME, transaction_log.run, lambda s: s.transaction_log_seconds),
)


def run_for_accounts(
    ctx: SyncContext, spec: JobSpec, accounts: list[AccountName], *, respect_backoff: bool = True
) -> list[Outcome]:
    """One job over every account; one account's failure never stops the others."""
    outcomes = []
    for account in accounts:
        outcome = run_job(
            ctx,
            spec.name,
            account,
            partial(spec.run, ctx, account),
            respect_backoff=respect_backoff,
        )
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def run_all_once(ctx: SyncContext, accounts: list[AccountName]) -> list[Outcome]:
    """``alpha sync now``: every job once for every account, ignoring backoffs."""
    out: list[Outcome] = []
    for spec in JOBS:
        out += run_for_accounts(ctx, spec, accounts, respect_backoff=False)
    return out


def build_scheduler(ctx: SyncContext, accounts: list[AccountName]) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=len(JOBS))},
        timezone=UTC,
    )
    now = datetime.now(UTC)
    for spec in JOBS:
        seconds = spec.interval(ctx.settings.sync)
        scheduler.add_job(
            run_for_accounts,
            IntervalTrigger(seconds=seconds, timezone=UTC),
            args=[ctx, spec, accounts],
            id=spec.name,
            name=spec.name,
            next_run_time=now,  # audit at start: a restart is when gaps are likeliest
            max_instances=1,
            coalesce=True,
            misfire_grace_time=seconds,
        )
        log.info("scheduled %s every %ss for %s", spec.name, seconds, ", ".join(accounts))
    return scheduler
