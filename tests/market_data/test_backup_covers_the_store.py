"""A backup dumps the market data store and its verification counts the store's rows
(migration 0013 lets the backup role read ``market``; database/backup/checksums.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.services import Database

from core.config import BackupSettings, Role
from database.backup import job, store


def test_a_verified_backup_counts_the_stored_candles_and_rates(
    database: Database, tmp_path: Path
) -> None:
    with database.connect(Role.OWNER, direct=True) as conn:
        conn.execute(
            "INSERT INTO market.candles SELECT 'bybit', 'BTCUSDT', '1', t, 1.10, 1.20, 1.00,"
            " 1.15, 3, 3.45 FROM generate_series(now() - interval '9 minutes', now(),"
            " interval '1 minute') AS t"
        )
        conn.execute("INSERT INTO market.funding_rates VALUES ('bybit', 'BTCUSDT', now(), 0.0001)")
        conn.commit()
    settings = dataclasses.replace(
        database.settings, backup=BackupSettings(dir=tmp_path / "backups")
    )
    outcome = job.run(settings, "manual", progress=False)
    assert outcome.status == "verified", outcome.detail
    with database.connect(Role.OWNER, direct=True) as conn:
        rec = store.get(conn, outcome.backup_id)
    assert rec.row_counts is not None
    assert rec.row_counts["market.candles"] == 10
    assert rec.row_counts["market.funding_rates"] == 1
