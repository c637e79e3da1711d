"""One job run for one account: timed, isolated, recorded in ``trading.sync_runs``.

Whatever a job raises is caught here. An exchange error (auth, rate limit, outage) is
classified, reported (row, metric, log, status hash) and puts that account on a
backoff; the process and the other accounts carry on. Redis or PostgreSQL away (a
restart) is reported the same way with one warning line; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from psycopg.types.json import Jsonb

from core.exchange.rest import ErrorInfo, classify
from core.ids import AccountName
from core.outages import OutageNotice, unreachable
from core.redis_keys import SYNC_STATUS
from trade_sync.context import SyncContext

log = logging.getLogger(__name__)

RUNS = Counter("alpha_sync_runs", "Job runs by outcome", ["job", "account", "status"])
DURATION = Histogram("alpha_sync_run_seconds", "Job run duration", ["job"])
FOUND = Gauge("alpha_sync_found", "What the last run found (0 is healthy)", ["job", "account"])
LAST_RUN = Gauge("alpha_sync_last_run_timestamp", "Unix time of the last run", ["job", "account"])
EXCHANGE_ERRORS = Counter(
    "alpha_sync_exchange_errors", "Exchange errors by kind", ["account", "kind"]
)

STATUSES = ("ok", "found", "drift", "error")


@dataclass
class Outcome:
    """What one run checked and found; ``lines`` are the human findings ``sync now`` prints."""

    checked: int = 0
    found: int = 0
    status: str = "ok"
    details: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    error: ErrorInfo | None = None


def run_job(
    ctx: SyncContext,
    job: str,
    account: AccountName | None,
    fn: Callable[[], Outcome],
    *,
    respect_backoff: bool = True,
) -> Outcome | None:
    """Run ``fn`` for ``account``; ``None`` when the account is backing off (no row)."""
    if account is not None and respect_backoff and (penalty := ctx.backoff.blocked(account)):
        log.debug("%s [%s] skipped: backing off after %s", job, account, penalty.reason)
        return None
    started = ctx.clock()
    t0 = time.monotonic()
    try:
        outcome = fn()
    except Exception as exc:
        outcome = _failed(ctx, job, account, exc)
    else:
        if account is not None:
            ctx.backoff.succeeded(account)
    duration = time.monotonic() - t0
    _record(ctx, job, account, started, duration, outcome)
    return outcome


def _failed(ctx: SyncContext, job: str, account: AccountName | None, exc: Exception) -> Outcome:
    info = classify(exc)
    away = unreachable(exc) if info is None else None
    details: dict[str, Any] = {}
    if away is not None:  # a restart: the next run mends it, a warning says so
        info = ErrorInfo("unavailable", None, f"{away} unreachable ({_short(exc)})")
        details["away"] = away
    elif info is None:  # a bug: keep the traceback
        log.exception("%s [%s] failed", job, account or "-")
        info = ErrorInfo("internal", None, _short(exc))
    else:
        EXCHANGE_ERRORS.labels(account=str(account or "-"), kind=info.kind).inc()
    delay = ctx.backoff.failed(account, str(info)) if account is not None else 0.0
    line = f"{job} [{account or '-'}]: {info}" + (f" (next try in {delay:.0f}s)" if delay else "")
    log.log(logging.WARNING if away else logging.ERROR, line)
    details.update(error=str(info), kind=info.kind)
    return Outcome(status="error", details=details, lines=[line], error=info)


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _unrecorded(notice: OutageNotice, outcome: Outcome, exc: Exception, what: str) -> None:
    """A run that could not be recorded: a service away is said once per outage, and not
    at all when the run itself failed because the same service was away (its warning
    said so); anything else is worth an operator's look each time."""
    same = unreachable(exc) == outcome.details.get("away")
    if notice.failed(exc, quiet=same) is None:
        log.error("cannot record %s: %s", what, _short(exc))


def _record(
    ctx: SyncContext,
    job: str,
    account: AccountName | None,
    started: datetime,
    duration: float,
    outcome: Outcome,
) -> None:
    labels = {"job": job, "account": str(account or "-")}
    RUNS.labels(status=outcome.status, **labels).inc()
    DURATION.labels(job=job).observe(duration)
    LAST_RUN.labels(**labels).set(time.time())
    if outcome.status != "error":
        FOUND.labels(**labels).set(outcome.found)
    finished = ctx.clock()
    try:
        with ctx.db() as conn:
            conn.execute(
                """
                INSERT INTO trading.sync_runs
                    (job, account, started_at, finished_at, duration_ms, status, checked,
                     found, details)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                """,
                (job, account, started, finished, int(duration * 1000), outcome.status,
                 outcome.checked, outcome.found, Jsonb(outcome.details)),
            )  # fmt: skip
    except Exception as exc:
        _unrecorded(ctx.runs_outage, outcome, exc, f"{job} run in trading.sync_runs")
    else:
        ctx.runs_outage.answered()
    try:
        summary = {
            "status": outcome.status, "checked": outcome.checked, "found": outcome.found,
            "at": finished.isoformat(), "duration_ms": int(duration * 1000),
        }  # fmt: skip
        if outcome.error:
            summary["error"] = str(outcome.error)
        ctx.redis.hset(SYNC_STATUS, f"{job}:{account or '-'}", json.dumps(summary))
    except Exception as exc:
        _unrecorded(ctx.status_outage, outcome, exc, f"{job} run in {SYNC_STATUS}")
    else:
        ctx.status_outage.answered()
