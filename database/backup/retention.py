"""Keep the newest backup of each of the last N days, ISO weeks and months.

``keep`` is a pure function over (id, time) pairs; ``prune`` applies it to the verified
backups recorded in ``trading.backups`` and deletes only files this job created: a
path inside ``BACKUP_DIR`` whose name matches :data:`~database.backup.dump.NAME_RE`
*and* carries the row's own id. A file someone else put there, or a row pointing
elsewhere, is never touched. Failed backups are removed once older than the daily
window (kept that long for inspection); running ones never.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from database.backup import store
from database.backup.dump import NAME_RE


@dataclass(frozen=True)
class Policy:
    daily: int = 30
    weekly: int = 12
    monthly: int = 12


def _months_back(day: date, n: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 - n
    return index // 12, index % 12 + 1


def keep(backups: Iterable[tuple[int, datetime]], now: datetime, policy: Policy) -> set[int]:
    """Ids to keep: per bucket (day, ISO week, month) among the last N, the newest backup."""
    today = now.astimezone(UTC).date()
    days = {today - timedelta(days=i) for i in range(policy.daily)}
    this_monday = today - timedelta(days=today.weekday())
    weeks = {(this_monday - timedelta(weeks=i)).isocalendar()[:2] for i in range(policy.weekly)}
    months = {_months_back(today, i) for i in range(policy.monthly)}

    newest: dict[tuple[Any, ...], tuple[datetime, int]] = {}
    for backup_id, taken in backups:
        day = taken.astimezone(UTC).date()
        buckets: list[tuple[Any, ...]] = []
        if day in days:
            buckets.append(("d", day))
        if day.isocalendar()[:2] in weeks:
            buckets.append(("w", *day.isocalendar()[:2]))
        if (day.year, day.month) in months:
            buckets.append(("m", day.year, day.month))
        for bucket in buckets:
            if bucket not in newest or (taken, backup_id) > newest[bucket]:
                newest[bucket] = (taken, backup_id)
    return {backup_id for _, backup_id in newest.values()}


def own_files(row: store.BackupRow, backup_dir: Path) -> list[Path]:
    """The files of ``row`` that this job created (name pattern, own id, inside the dir)."""
    root = backup_dir.resolve()
    out: list[Path] = []
    candidates = [row.dump_path, row.globals_path]
    if row.dump_path:
        candidates.append(row.dump_path.removesuffix(".dump") + ".sha256")
    for raw in candidates:
        if not raw:
            continue
        path = Path(raw).resolve()
        match = NAME_RE.match(path.name)
        if path.parent != root or match is None or int(match.group("id")) != row.id:
            continue
        out.append(path)
    return out


def prune(
    conn: psycopg.Connection[Any], backup_dir: Path, policy: Policy, now: datetime | None = None
) -> list[int]:
    """Delete what the policy does not keep; returns the ids marked ``deleted``."""
    now = now or datetime.now(UTC)
    rows = [r for r in store.listing(conn) if r.status in ("verified", "failed")]
    kept = keep(((r.id, r.started_at) for r in rows if r.status == "verified"), now, policy)
    failed_cutoff = now - timedelta(days=max(policy.daily, 1))
    deleted: list[int] = []
    for row in rows:
        if row.id in kept or (row.status == "failed" and row.started_at >= failed_cutoff):
            continue
        for path in own_files(row, backup_dir):
            path.unlink(missing_ok=True)
        store.mark_deleted(conn, row.id)
        deleted.append(row.id)
    return deleted
