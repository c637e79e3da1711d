"""One backup, start to finish: row, dump, verify, record, prune — and alert on failure.

Every step's failure lands in the row (``failed`` + error) and, when an alert sink is
given, in the ``alerts`` stream as ``kind=backup_failed``. A backup becomes ``verified``
only through :func:`store.mark_verified` with a passing verification.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from core import db, redis_keys
from core.config import Role, Settings
from database.backup import dump, retention, store, verify

log = logging.getLogger(__name__)

Alert = Callable[[dict[str, str]], None]


@dataclass(frozen=True)
class Outcome:
    backup_id: int
    status: str  # verified | failed | skipped
    detail: str
    size_bytes: int | None = None
    seconds: float = 0.0


def redis_alert(settings: Settings) -> Alert:
    """XADD to the alerts stream in the infrastructure DB (read by the Telegram C2)."""
    from core.redis_client import infra_client, stream_fields

    def send(fields: dict[str, str]) -> None:
        client = infra_client(settings)
        try:
            client.xadd(redis_keys.ALERTS, stream_fields(fields))
        finally:
            client.close()

    return send


def _owner(settings: Settings) -> Any:
    return db.connect(settings, Role.BACKUP, direct=True, autocommit=True,
                      application_name="alpha-backup")  # fmt: skip


def run(
    settings: Settings,
    kind: str = "manual",
    *,
    now: datetime | None = None,
    alert: Alert | None = None,
    progress: bool | None = None,
    skip_if_done: bool = False,
) -> Outcome:
    started = now or datetime.now(UTC)
    backup_date: date = started.astimezone(UTC).date()
    with _owner(settings) as conn:
        if skip_if_done and store.verified_today(conn, backup_date):
            return Outcome(0, "skipped", f"a verified {kind} backup for {backup_date} exists")
        backup_id = store.start(conn, backup_date, kind)
    step = "dump"
    try:
        result = dump.take(settings, backup_id, settings.backup.dir, started, progress=progress)
        with _owner(settings) as conn:
            store.record_dump(
                conn, backup_id, dump_path=result.dump_path, globals_path=result.globals_path,
                size_bytes=result.size_bytes, sha256=result.sha256,
                row_counts=result.row_counts, ledger_checksum=result.ledger_checksum,
            )  # fmt: skip
        step = "verify"
        verification = verify.verify(
            settings, result.dump_path, expected_sha256=result.sha256,
            expected_counts=result.row_counts, expected_checksum=result.ledger_checksum,
            progress=progress,
        )  # fmt: skip
        with _owner(settings) as conn:
            if not verification.ok:
                raise store.NotVerified(verification.summary())
            store.mark_verified(conn, backup_id, verification)
            step = "retention"
            policy = retention.Policy(
                settings.backup.keep_daily,
                settings.backup.keep_weekly,
                settings.backup.keep_monthly,
            )
            pruned = retention.prune(conn, settings.backup.dir, policy)
    except Exception as exc:
        error = f"{step}: {exc}"
        log.error("backup #%s failed at %s: %s", backup_id, step, exc)
        if step != "retention":
            try:
                with _owner(settings) as conn:
                    store.mark_failed(conn, backup_id, error)
            except Exception as record_exc:  # the alert below still tells the story
                log.error("cannot record failure of backup #%s: %s", backup_id, record_exc)
        _send(alert, backup_id, kind, error)
        status = "verified" if step == "retention" else "failed"
        return Outcome(backup_id, status, error, seconds=_since(started))
    detail = f"verified; {len(pruned)} old backup(s) pruned" if pruned else "verified"
    return Outcome(backup_id, "verified", detail, result.size_bytes, _since(started))


def _since(started: datetime) -> float:
    return max(0.0, (datetime.now(UTC) - started).total_seconds())


def _send(alert: Alert | None, backup_id: int, kind: str, error: str) -> None:
    if alert is None:
        return
    fields = {
        "kind": "backup_failed",
        "key": f"backup:{backup_id}",
        "severity": "critical",
        "backup_id": str(backup_id),
        "text": f"Backup #{backup_id} ({kind}) failed: {error}",
        "at": datetime.now(UTC).isoformat(),
    }
    try:
        alert(fields)
    except Exception as exc:
        log.error("cannot publish backup_failed alert for #%s: %s", backup_id, exc)


def reverify(
    settings: Settings, backup_id: int, *, progress: bool | None = None
) -> verify.Verification:
    """``alpha backup verify ID``: restore again and compare with the recorded source."""
    with _owner(settings) as conn:
        row = store.get(conn, backup_id)
    if not row.dump_path:
        return verify.Verification(False, [f"backup #{backup_id} has no dump file recorded"])
    from pathlib import Path

    result = verify.verify(
        settings, Path(row.dump_path), expected_sha256=row.sha256,
        expected_counts=row.row_counts, expected_checksum=row.ledger_checksum, progress=progress,
    )  # fmt: skip
    with _owner(settings) as conn:
        if result.ok:
            store.mark_verified(conn, backup_id, result)
        else:
            store.mark_failed(conn, backup_id, f"verify: {result.summary()}")
    return result
