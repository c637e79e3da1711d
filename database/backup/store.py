"""``trading.backups`` rows: the backup's life from ``running`` to ``verified``/``failed``.

``mark_verified`` takes a :class:`~database.backup.verify.Verification` and refuses one
that did not pass — the code path of invariant 9; the table's CHECK (``verified`` needs
``verified_at``, ``sha256`` and ``ledger_checksum``) is the database's half.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import dict_row

from core.errors import UserError

if TYPE_CHECKING:
    from database.backup.verify import Verification

COLUMNS = (
    "id, backup_date, kind, status, started_at, finished_at, verified_at, dump_path,"
    " globals_path, size_bytes, sha256, row_counts, ledger_checksum, error"
)


@dataclass(frozen=True)
class BackupRow:
    id: int
    backup_date: date
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    verified_at: datetime | None
    dump_path: str | None
    globals_path: str | None
    size_bytes: int | None
    sha256: str | None
    row_counts: dict[str, int] | None
    ledger_checksum: dict[str, Any] | None
    error: str | None


class NotVerified(UserError):
    """An attempt to record a backup as good without a passing verify."""


def start(conn: psycopg.Connection[Any], backup_date: date, kind: str) -> int:
    row = conn.execute(
        "INSERT INTO trading.backups (backup_date, kind, status) VALUES (%s, %s, 'running')"
        " RETURNING id",
        (backup_date, kind),
    ).fetchone()
    assert row is not None
    return int(row[0])


def record_dump(
    conn: psycopg.Connection[Any],
    backup_id: int,
    *,
    dump_path: Path,
    globals_path: Path,
    size_bytes: int,
    sha256: str,
    row_counts: dict[str, int],
    ledger_checksum: dict[str, Any],
) -> None:
    """The dump exists and its source checksums are known; still not a good backup."""
    conn.execute(
        "UPDATE trading.backups SET dump_path = %s, globals_path = %s, size_bytes = %s,"
        " sha256 = %s, row_counts = %s, ledger_checksum = %s WHERE id = %s",
        (str(dump_path), str(globals_path), size_bytes, sha256, json.dumps(row_counts),
         json.dumps(ledger_checksum), backup_id),
    )  # fmt: skip


def mark_verified(
    conn: psycopg.Connection[Any], backup_id: int, verification: Verification
) -> None:
    if not verification.ok:
        raise NotVerified(f"backup #{backup_id} did not pass verify: {verification.summary()}")
    conn.execute(
        "UPDATE trading.backups SET status = 'verified', verified_at = now(),"
        " finished_at = coalesce(finished_at, now()), error = NULL WHERE id = %s",
        (backup_id,),
    )


def mark_failed(conn: psycopg.Connection[Any], backup_id: int, error: str) -> None:
    conn.execute(
        "UPDATE trading.backups SET status = 'failed', finished_at = now(), error = %s"
        " WHERE id = %s",
        (error[:2000], backup_id),
    )


def mark_deleted(conn: psycopg.Connection[Any], backup_id: int) -> None:
    conn.execute("UPDATE trading.backups SET status = 'deleted' WHERE id = %s", (backup_id,))


def get(conn: psycopg.Connection[Any], backup_id: int) -> BackupRow:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {COLUMNS} FROM trading.backups WHERE id = %s", (backup_id,)
        ).fetchone()
    if row is None:
        raise UserError(f"no backup #{backup_id} (see `alpha backup list`)")
    return BackupRow(**row)


def listing(conn: psycopg.Connection[Any], *, limit: int | None = None) -> list[BackupRow]:
    query = f"SELECT {COLUMNS} FROM trading.backups ORDER BY started_at DESC, id DESC"
    if limit:
        query += f" LIMIT {int(limit)}"
    with conn.cursor(row_factory=dict_row) as cur:
        return [BackupRow(**r) for r in cur.execute(query).fetchall()]


def verified_today(conn: psycopg.Connection[Any], backup_date: date) -> bool:
    """The scheduled run's idempotence: one verified scheduled backup per date (counted
    even when a newer backup of the same day has since replaced it under retention)."""
    row = conn.execute(
        "SELECT 1 FROM trading.backups WHERE backup_date = %s AND kind = 'scheduled'"
        " AND status IN ('verified', 'deleted') AND verified_at IS NOT NULL LIMIT 1",
        (backup_date,),
    ).fetchone()
    return row is not None
