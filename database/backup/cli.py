"""``alpha backup now | list | verify ID | restore ID --target-db NAME [--force]`` and
``alpha run backup``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from core.cli import Cli

if TYPE_CHECKING:
    from core.config import Settings


def _settings() -> Settings:
    from core.config import load_settings

    return load_settings()


def _now(args: argparse.Namespace) -> int:
    from database.backup import job

    settings = _settings()
    outcome = job.run(settings, "manual", alert=job.redis_alert(settings), progress=None)
    print(f"backup #{outcome.backup_id}: {outcome.status} — {outcome.detail}")
    return 0 if outcome.status == "verified" else 1


def _list(args: argparse.Namespace) -> int:
    from core import db
    from core.config import Role
    from database.backup import store

    settings = _settings()
    with db.connect(settings, Role.BACKUP, direct=True, autocommit=True) as conn:
        rows = store.listing(conn, limit=args.limit)
    print(
        f"{'id':>5}  {'date':10}  {'kind':9}  {'status':8}  {'size':>12}  started (UTC)        file"
    )
    for r in rows:
        size = f"{r.size_bytes:,}" if r.size_bytes is not None else "-"
        started = r.started_at.strftime("%Y-%m-%d %H:%M:%S")
        line = f"{r.id:>5}  {r.backup_date}  {r.kind:9}  {r.status:8}  {size:>12}  {started}  "
        line += r.dump_path or "-"
        if r.error:
            line += f"  error: {r.error}"
        print(line)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from database.backup import job

    result = job.reverify(_settings(), args.id)
    if result.ok:
        print(f"backup #{args.id}: verified (restored into a scratch database; row counts and "
              "ledger checksum match)")  # fmt: skip
        return 0
    print(f"backup #{args.id}: FAILED — {result.summary()}", file=sys.stderr)
    return 1


def _restore(args: argparse.Namespace) -> int:
    from database.backup import restore

    report = restore.restore_backup(_settings(), args.id, args.target_db, force=args.force)
    print(report)
    return 0


def _run(args: argparse.Namespace) -> int:
    from database.backup import service

    return service.main()


def register(cli: Cli) -> None:
    cli.command("backup", "now", "dump, verify by a scratch restore, record, prune", _now)
    listing = cli.command("backup", "list", "list recorded backups, newest first", _list)
    listing.add_argument("--limit", type=int, default=50)
    verify = cli.command(
        "backup", "verify", "restore a backup into a scratch DB and compare", _verify
    )
    verify.add_argument("id", type=int)
    restore = cli.command(
        "backup", "restore",
        "restore a backup into a database (created if missing); load its .globals.sql "
        "with psql first on a new server",
        _restore,
    )  # fmt: skip
    restore.add_argument("id", type=int)
    restore.add_argument("--target-db", required=True, help="database to restore into")
    restore.add_argument(
        "--force", action="store_true",
        help="replace a non-empty target database (it is dropped and re-created), or "
             "restore a backup that is not verified",
    )  # fmt: skip
    cli.command(
        "run", "backup", "run the backup scheduler (BACKUP_CRON, UTC) and /backup requests", _run
    )
