"""``alpha backup restore``: into a named database, never over data without ``--force``.

The target is refused when it has any table outside the system schemas (unless
``--force``, which drops and re-creates it), and an unverified backup is refused
(unless ``--force``). After the restore the ledger checksum is compared with the one
recorded at dump time and the report says whether they match.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from core import db
from core.config import Role, Settings
from core.errors import UserError
from database.backup import checksums, store, verify


def database_exists(settings: Settings, name: str) -> bool:
    with db.admin_connect(settings) as admin:
        return (
            admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def user_tables(settings: Settings, name: str) -> int:
    info = db.conninfo(settings, None, direct=True, dbname=name)
    with psycopg.connect(info, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')"
            " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg_toast%%'"
        ).fetchone()
    return int(row[0]) if row else 0


#: A database name, nothing else: ``--target-db`` once took a conninfo string as well.
TARGET_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def restore_backup(settings: Settings, backup_id: int, target: str, *, force: bool = False) -> str:
    if not TARGET_NAME.fullmatch(target):
        raise UserError(
            f"--target-db: a database name (lowercase letters, digits, _), got {target[:80]!r}"
        )
    # Not even --force: a restore never overwrites the live ledger. (An empty database of
    # that name is a new server's: restoring into it is the documented way.)
    live = target == settings.postgres.db and database_exists(settings, target)
    if live and user_tables(settings, target):
        raise UserError(
            f"--target-db: {target} is the live database and holds data; restore into "
            "a new one, check it, then switch (docs/operations.md#restore)"
        )
    with db.connect(settings, Role.OWNER, direct=True, autocommit=True) as conn:
        row = store.get(conn, backup_id)
    if not row.dump_path or not Path(row.dump_path).is_file():
        raise UserError(f"backup #{backup_id}: dump file {row.dump_path or '(none)'} not found")
    if row.status != "verified" and not force:
        raise UserError(
            f"backup #{backup_id} is {row.status}, not verified; use --force to restore it anyway"
        )
    problems = verify.check_sha256(Path(row.dump_path), row.sha256)
    if problems:
        raise UserError(f"backup #{backup_id}: {'; '.join(problems)}")
    if database_exists(settings, target):
        tables = user_tables(settings, target)
        if tables and not force:
            raise UserError(
                f"database {target} is not empty ({tables} relations); "
                "use --force to drop and re-create it"
            )
        verify.drop_database(settings, target)
    verify.create_database(settings, target)
    verify.restore(settings, Path(row.dump_path), target, tables=len(row.row_counts or {}))
    _, ledger = verify.measure(settings, target, None)
    diff = checksums.differences(row.ledger_checksum or {}, ledger)
    if diff:
        raise UserError(
            f"restored into {target}, but the ledger checksum differs: {'; '.join(diff)}"
        )
    fills = ledger.get("trading.fills", {}).get("count")
    return f"restored backup #{backup_id} into {target}: ledger checksums match ({fills} fills)"
