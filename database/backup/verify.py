"""Prove a dump restores: sha256, a scratch restore, the same rows and ledger checksum.

The scratch database is created by the admin login, restored with
``--exit-on-error --single-transaction`` (any error fails the whole restore, nothing
half-loaded is compared), measured inside one transaction, and always dropped.
"""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import IsolationLevel, sql

from core import db
from core.config import Role, Settings
from database.backup import checksums, pgtools
from database.backup.dump import sha256_file


@dataclass(frozen=True)
class Verification:
    ok: bool
    problems: list[str] = field(default_factory=list)
    row_counts: dict[str, int] | None = None
    ledger_checksum: dict[str, Any] | None = None

    def summary(self) -> str:
        return "ok" if self.ok else "; ".join(self.problems) or "failed"


def check_sha256(dump_path: Path, expected: str | None) -> list[str]:
    if not dump_path.is_file():
        return [f"dump file missing: {dump_path}"]
    checksum_file = dump_path.with_name(dump_path.name.removesuffix(".dump") + ".sha256")
    actual = sha256_file(dump_path)
    problems: list[str] = []
    if expected is not None and actual != expected:
        problems.append(f"sha256 of {dump_path.name} is {actual}, recorded {expected}")
    if checksum_file.is_file():
        listed = {
            name: digest
            for digest, _, name in (
                line.partition("  ") for line in checksum_file.read_text().splitlines()
            )
        }
        if listed.get(dump_path.name) != actual:
            problems.append(f"sha256 of {dump_path.name} does not match {checksum_file.name}")
    return problems


def _backup_role(settings: Settings) -> psycopg.Connection[Any]:
    return db.connect(settings, Role.BACKUP, direct=True, autocommit=True, dbname="postgres")


def create_database(settings: Settings, name: str) -> None:
    """The scratch database, the backup role's own (it has CREATEDB, nothing more)."""
    with _backup_role(settings) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(settings: Settings, name: str) -> None:
    with _backup_role(settings) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _pg_restore(
    settings: Settings,
    role: Role | None,
    dump_path: Path,
    dbname: str,
    options: list[str],
    *,
    progress: bool | None,
    tables: int | None,
) -> None:
    args, env = pgtools.connection_args(settings, role, dbname)
    pgtools.run(
        [pgtools.binary("pg_restore"), *args, "-w", "--exit-on-error", "--single-transaction",
         *options, "--verbose", str(dump_path)],
        env, what="pg_restore", tables=tables, progress=progress,
    )  # fmt: skip


def restore(
    settings: Settings,
    dump_path: Path,
    dbname: str,
    *,
    progress: bool | None = None,
    tables: int | None = None,
) -> None:
    """pg_restore as the admin login: ownership, grants and the guard's lock as dumped
    (``alpha backup restore``, an operator's one-shot act)."""
    _pg_restore(settings, None, dump_path, dbname, [], progress=progress, tables=tables)


def restore_for_check(
    settings: Settings,
    dump_path: Path,
    dbname: str,
    *,
    progress: bool | None = None,
    tables: int | None = None,
) -> None:
    """pg_restore as the backup role into its scratch database: every table, row, function
    and trigger, but not the ownership, grants and the event trigger locking the guard,
    which only a superuser may restore (the rows and the ledger checksum are what the
    check compares; `alpha backup restore` restores everything, as the admin login)."""
    _, env = pgtools.connection_args(settings, Role.BACKUP, dbname)
    listing = pgtools.capture([pgtools.binary("pg_restore"), "--list", str(dump_path)], env)
    # The edited table of contents goes to a private temporary file, not beside the dump:
    # the backup directory holds backups only.
    with tempfile.TemporaryDirectory(prefix="alpha-restore-") as tmp:
        wanted = Path(tmp) / "toc.list"
        wanted.write_text(
            "".join(line + "\n" for line in listing.splitlines() if " EVENT TRIGGER " not in line),
            encoding="utf-8",
        )
        _pg_restore(settings, Role.BACKUP, dump_path, dbname,
                    ["--no-owner", "--no-privileges", f"--use-list={wanted}"],
                    progress=progress, tables=tables)  # fmt: skip


def measure(
    settings: Settings, dbname: str, role: Role | None = Role.BACKUP
) -> tuple[dict[str, int], dict[str, Any]]:
    """Row counts and ledger checksum of ``dbname``, in one snapshot (``role`` None: the
    admin login)."""
    info = db.conninfo(settings, role, direct=True, dbname=dbname)
    with psycopg.connect(info) as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        counts = checksums.row_counts(conn)
        ledger = checksums.ledger_checksum(conn)
        conn.rollback()
    return counts, ledger


def verify(
    settings: Settings,
    dump_path: Path,
    *,
    expected_sha256: str | None,
    expected_counts: dict[str, int] | None,
    expected_checksum: dict[str, Any] | None,
    progress: bool | None = None,
) -> Verification:
    problems = check_sha256(dump_path, expected_sha256)
    if expected_counts is None or expected_checksum is None:
        problems.append("no source checksum recorded for this backup: nothing to compare with")
    if problems:
        return Verification(False, problems)
    assert expected_counts is not None and expected_checksum is not None
    scratch = f"{settings.postgres.db[:40]}_verify_{secrets.token_hex(4)}"
    create_database(settings, scratch)
    try:
        restore_for_check(
            settings, dump_path, scratch, progress=progress, tables=len(expected_counts)
        )
        counts, ledger = measure(settings, scratch)
    except pgtools.ToolFailed as exc:
        return Verification(False, [str(exc)])
    finally:
        drop_database(settings, scratch)
    problems = checksums.differences(expected_counts, counts)
    problems += checksums.differences(expected_checksum, ledger)
    return Verification(not problems, problems, counts, ledger)
