"""``alpha run trade-sync``: the scheduler, ``/healthz`` + ``/metrics``, graceful stop."""

from __future__ import annotations

import logging
import threading
import time

from core.config import Settings
from core.outages import unreachable
from core.redis_keys import SYNC_STATUS
from core.service import HealthServer, configure_logging, run_until_signalled, secret_values
from trade_sync.context import SyncContext
from trade_sync.runs import LAST_RUN
from trade_sync.scheduler import JOBS, build_scheduler

log = logging.getLogger(__name__)


def health_checks(ctx: SyncContext, started: float) -> dict[str, object]:
    def database() -> bool | str:
        with ctx.db() as conn:
            conn.execute("SELECT 1 FROM trading.sync_runs LIMIT 1")
        return True

    def redis() -> bool | str:
        return bool(ctx.redis.ping())

    def jobs() -> bool | str:
        # Healthy while every job has run at least once within three of its intervals
        # (a grace of one interval after start). Exchange errors are reported through
        # metrics and sync_runs, not here: a restart would not fix a bad API key.
        now = time.time()
        late = []
        for spec in JOBS:
            interval = spec.interval(ctx.settings.sync)
            samples = [
                s.value
                for m in LAST_RUN.collect()
                for s in m.samples
                if s.labels.get("job") == spec.name
            ]
            last = max(samples, default=0.0)
            if now - max(last, started + interval) > 3 * interval:
                late.append(spec.name)
        return "late: " + ", ".join(late) if late else True

    return {"database": database, "redis": redis, "jobs": jobs}


def main(settings: Settings, *, stop: threading.Event | None = None) -> int:
    configure_logging(settings.service, "trade-sync", secrets=secret_values(settings))
    ctx = SyncContext(settings)
    accounts = ctx.accounts()
    stop = stop or threading.Event()
    scheduler = build_scheduler(ctx, accounts)
    checks = health_checks(ctx, time.time())
    with HealthServer.from_settings(settings.service, checks):  # type: ignore[arg-type]
        scheduler.start()
        log.info("trade sync running for %s", ", ".join(accounts))
        try:
            run_until_signalled(stop)
        finally:
            scheduler.shutdown(wait=True)
            _say_stopped(ctx)
    return 0


def _say_stopped(ctx: SyncContext) -> None:
    """Mark the service stopped in ``sync:status``; Redis away then is worth a warning,
    not a traceback and a failed exit (a restart of the whole stack stops Redis too)."""
    try:
        ctx.redis.hset(SYNC_STATUS, "service", "stopped")
    except Exception as exc:
        away = unreachable(exc)
        if away is None:
            raise
        log.warning("could not mark trade sync stopped in %s: %s unreachable", SYNC_STATUS, away)
