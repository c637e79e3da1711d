"""pg_dump of one exported snapshot, the cluster's globals, and a sha256 file.

The source checksums and the dump must describe the same data, or a fill committed
between the two would fail every verify (or, worse, hide a lost one). So one owner
connection opens a REPEATABLE READ transaction, exports its snapshot, computes the row
counts and the ledger checksum in it, and pg_dump runs with ``--snapshot`` on that
snapshot while the transaction stays open. Both connect directly to PostgreSQL, never
through PgBouncer (a transaction-mode pooler cannot hold the snapshot's session).

Files are written under a ``.partial`` name and renamed when complete, with mode 0600:
the dump holds the whole ledger and the globals hold the roles' password verifiers.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg import IsolationLevel

from core import db
from core.config import Role, Settings
from database.backup import checksums, pgtools

#: Every file this job creates; retention deletes nothing that does not match.
NAME_RE = re.compile(r"^alpha-(?P<id>\d{6,})-(?P<db>[A-Za-z0-9_]+)-(?P<ts>\d{8}T\d{6}Z)"
                     r"\.(?P<ext>dump|globals\.sql|sha256)$")  # fmt: skip


@dataclass(frozen=True)
class DumpResult:
    dump_path: Path
    globals_path: Path
    checksum_path: Path
    sha256: str  # of the dump file
    size_bytes: int
    row_counts: dict[str, int]
    ledger_checksum: dict[str, Any]


def stem(backup_id: int, dbname: str, started: datetime) -> str:
    safe_db = re.sub(r"[^A-Za-z0-9_]", "_", dbname)
    return f"alpha-{backup_id:06d}-{safe_db}-{started:%Y%m%dT%H%M%SZ}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _private_file(path: Path) -> None:
    os.chmod(path, 0o600)


def take(
    settings: Settings,
    backup_id: int,
    dest: Path,
    started: datetime,
    *,
    progress: bool | None = None,
) -> DumpResult:
    dest.mkdir(parents=True, exist_ok=True)
    base = stem(backup_id, settings.postgres.db, started)
    dump_path, globals_path = dest / f"{base}.dump", dest / f"{base}.globals.sql"
    checksum_path = dest / f"{base}.sha256"
    partial_dump = dump_path.with_name(dump_path.name + ".partial")

    with db.connect(settings, Role.BACKUP, direct=True, application_name="alpha-backup") as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        snapshot = str(row[0])
        counts = checksums.row_counts(conn)
        ledger = checksums.ledger_checksum(conn)
        args, env = pgtools.connection_args(settings, Role.BACKUP, settings.postgres.db)
        pgtools.run(
            [pgtools.binary("pg_dump"), *args, "-w", "--format=custom", "--verbose",
             f"--snapshot={snapshot}", f"--file={partial_dump}"],
            env, what="pg_dump", tables=len(counts), progress=progress,
        )  # fmt: skip
        conn.rollback()  # the snapshot may go now
    _private_file(partial_dump)
    partial_dump.rename(dump_path)

    # Roles and their grants live outside the database: pg_dumpall, without the password
    # verifiers (only a superuser may read them, and a backup file should not carry
    # them: `alpha db upgrade` sets every role's password again from the configuration).
    partial_globals = globals_path.with_name(globals_path.name + ".partial")
    args, env = pgtools.connection_args(settings, Role.BACKUP, None)
    pgtools.run(
        [pgtools.binary("pg_dumpall"), *args, "-w", "--globals-only", "--no-role-passwords",
         f"--file={partial_globals}"],
        env, what="pg_dumpall", progress=False,
    )  # fmt: skip
    _private_file(partial_globals)
    partial_globals.rename(globals_path)

    digest = sha256_file(dump_path)
    lines = f"{digest}  {dump_path.name}\n{sha256_file(globals_path)}  {globals_path.name}\n"
    checksum_path.write_text(lines, encoding="ascii")
    _private_file(checksum_path)
    return DumpResult(
        dump_path=dump_path, globals_path=globals_path, checksum_path=checksum_path,
        sha256=digest, size_bytes=dump_path.stat().st_size, row_counts=counts,
        ledger_checksum=ledger,
    )  # fmt: skip
