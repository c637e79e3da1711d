"""``alpha run backup``: one process, APScheduler on ``BACKUP_CRON`` (UTC) plus on-demand.

The scheduled job is idempotent per date (a verified scheduled backup for today means
nothing to do, so a restart or a misfire never doubles it). Requests from the Telegram
C2's ``/backup`` arrive on the ``backup:requests`` stream; the main thread reads them
with a consumer group and runs a manual backup for each. A lock keeps one backup at a
time. ``/healthz`` and ``/metrics`` are served on ``ALPHA_HTTP_PORT``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from prometheus_client import Counter, Gauge, Histogram

from core import db, redis_keys
from core.config import Role, Settings, load_settings
from core.outages import OutageNotice, unreachable
from core.redis_client import ensure_group, infra_client, sync_reply
from core.service import HealthServer, configure_logging, install_signal_handlers, secret_values
from database.backup import job

log = logging.getLogger("alpha.backup")
GROUP = "backup"

RUNS = Counter(
    "alpha_backup_runs_total", "Backups attempted, by kind and outcome", ["kind", "outcome"]
)
LAST_VERIFIED = Gauge(
    "alpha_backup_last_verified_timestamp_seconds", "Unix time of the last verified backup"
)
LAST_SIZE = Gauge("alpha_backup_last_size_bytes", "Size of the last verified dump")
DURATION = Histogram(
    "alpha_backup_duration_seconds", "Dump + verify time",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 3600, 7200),
)  # fmt: skip


#: How long after a nightly backup that could not start (the database away) it is
#: tried again, as often as it takes; a try once today's is verified does nothing.
RETRY_SECONDS = 300.0
RETRY_JOB = "nightly-retry"


class BackupService:
    def __init__(self, settings: Settings, *, retry_seconds: float = RETRY_SECONDS) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.alert = job.redis_alert(settings)
        self.consumer = f"backup-{os.getpid()}"
        self.retry_seconds = retry_seconds
        #: The alert key of a nightly backup that could not start, until one runs.
        self._missed: str | None = None

    def backup(self, kind: str) -> job.Outcome:
        with self.lock:
            outcome = job.run(
                self.settings, kind, alert=self.alert, progress=False,
                skip_if_done=(kind == "scheduled"),
            )  # fmt: skip
        RUNS.labels(kind, outcome.status).inc()
        if outcome.status == "verified":
            LAST_VERIFIED.set(time.time())
            if outcome.size_bytes is not None:
                LAST_SIZE.set(outcome.size_bytes)
            DURATION.observe(outcome.seconds)
        log.info("backup %s #%s: %s (%s)", kind, outcome.backup_id, outcome.status, outcome.detail)
        return outcome

    def scheduled(self) -> bool:
        """The nightly backup; ``False`` when it could not start because the database
        was away. The first such failure raises a critical alert (nothing else would:
        no backup row exists yet to fail), and the run that follows resolves it."""
        try:
            self.backup("scheduled")
        except Exception as exc:
            away = unreachable(exc)
            if away is None:  # a bug: the scheduler must survive to try tomorrow
                log.exception("scheduled backup crashed")
                return True
            log.warning(
                "nightly backup could not start: %s unreachable (%s); trying again in %gs",
                away, type(exc).__name__, self.retry_seconds,
            )  # fmt: skip
            if self._missed is None:
                self._missed = f"backup:scheduled:{datetime.now(UTC).date().isoformat()}"
                self._publish(
                    severity="critical",
                    text=f"Nightly backup could not start: {away} unreachable; trying again "
                    f"every {self.retry_seconds:g}s",
                )
            return False
        if self._missed is not None:
            self._publish(severity="info", text="Nightly backup ran after all", resolved="1")
            self._missed = None
        return True

    def _publish(self, **fields: str) -> None:
        assert self._missed is not None
        try:
            self.alert({"kind": "backup_failed", "key": self._missed,
                        "at": datetime.now(UTC).isoformat(), **fields})  # fmt: skip
        except Exception as exc:
            log.warning("cannot publish the backup alert: %s", type(exc).__name__)

    def poll_requests(self, block_ms: int = 1000) -> int:
        """Handle pending ``/backup`` requests; returns how many."""
        client = infra_client(self.settings)
        try:
            ensure_group(client, redis_keys.BACKUP_REQUESTS, GROUP, start="0")
            handled = 0
            for start in ("0", ">"):
                reply = sync_reply(client.xreadgroup(
                    GROUP, self.consumer, {redis_keys.BACKUP_REQUESTS: start}, count=10,
                    block=block_ms if start == ">" else None,
                ))  # fmt: skip
                for _stream, entries in reply or []:
                    for entry_id, fields in entries:
                        log.info("backup requested by %s", fields.get("requested_by", "?"))
                        self.backup("manual")
                        client.xack(redis_keys.BACKUP_REQUESTS, GROUP, entry_id)
                        handled += 1
            return handled
        finally:
            client.close()

    def healthy(self) -> bool:
        with db.connect(self.settings, Role.BACKUP, direct=True, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True


def nightly(service: BackupService, scheduler: BackgroundScheduler) -> Callable[[], None]:
    """The cron's job: the nightly backup, tried again after ``service.retry_seconds``
    (a one-off job, :data:`RETRY_JOB`) for as long as the database is away."""

    def run() -> None:
        if not service.scheduled():
            at = datetime.now(UTC) + timedelta(seconds=service.retry_seconds)
            scheduler.add_job(run, DateTrigger(at), id=RETRY_JOB, replace_existing=True,
                              max_instances=1, misfire_grace_time=3600)  # fmt: skip

    return run


#: While Redis (or, for a requested backup, the database) is away, how often the
#: requests are read again: a fixed pause, not core.retry's growing one, since one poll
#: per 5 s is no load and an operator's requested backup should start soon after.
REQUEST_RETRY_SECONDS = 5.0


def serve_requests(
    service: BackupService, stop: threading.Event, *, pause: float = REQUEST_RETRY_SECONDS
) -> None:
    """Run the requested backups until ``stop``. Redis or the database away: one warning
    when it goes, one line when it is back (scheduled backups run meanwhile); a request
    not yet done stays pending and is run then."""
    outage = OutageNotice(
        log, "cannot serve backup requests", resumed="serving backup requests",
        retry=f"; trying again every {pause:g}s",
    )  # fmt: skip
    while not stop.is_set():
        try:
            service.poll_requests()
        except Exception as exc:
            if outage.failed(exc) is None:  # a bug: its traceback, and another try
                log.exception("reading backup requests failed")
            stop.wait(pause)
            continue
        outage.answered()


def main() -> int:
    settings = load_settings()
    configure_logging(settings.service, "backup", secrets=secret_values(settings))
    service = BackupService(settings)
    scheduler = BackgroundScheduler(timezone=UTC)
    trigger = CronTrigger.from_crontab(settings.backup.cron, timezone=UTC)
    scheduler.add_job(nightly(service, scheduler), trigger, id="nightly", max_instances=1,
                      coalesce=True, misfire_grace_time=3600)  # fmt: skip
    stop = threading.Event()
    install_signal_handlers(stop)
    health = HealthServer.from_settings(settings.service, {"postgres": service.healthy})
    if settings.service.http_port:
        health.start()
    scheduler.start()
    job_next = scheduler.get_job("nightly").next_run_time
    log.info("backup scheduler started: cron %r (UTC), next run %s", settings.backup.cron, job_next)
    try:
        serve_requests(service, stop)
    finally:
        scheduler.shutdown(wait=True)
        health.stop()
    log.info("backup service stopped at %s", datetime.now(UTC).isoformat())
    return 0
