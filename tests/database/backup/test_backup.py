"""Backups count only once a scratch restore reproduced the source (docs/ledger.md invariant 9)."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from harness.services import settings_without
from ledger import Fill, add_bot, insert_fills, insert_funding

from core.config import BackupSettings, Role
from database.backup import checksums, job, store, verify
from database.backup.service import RETRY_JOB, BackupService, nightly, serve_requests

T0 = datetime(2026, 4, 1, 8, tzinfo=UTC)


def seed(database: Any, n: int = 40, start: int = 0) -> None:
    if start == 0:
        add_bot(database, "bot_a")
    fills = [
        Fill(f"f{i}", "bot_a", "BTCUSDT", "Buy" if i % 3 else "Sell", Decimal("100.5") + i,
             Decimal("0.013") * (i % 5 + 1), Decimal("0.0011"), T0 + timedelta(minutes=i))
        for i in range(start, start + n)
    ]  # fmt: skip
    insert_fills(database, fills)
    insert_funding(database, [(f"fu{start}", "bot_a", "BTCUSDT", Decimal("0.25"), T0)])


@pytest.fixture
def settings(database: Any, tmp_path: Path) -> Any:
    return dataclasses.replace(database.settings, backup=BackupSettings(dir=tmp_path / "backups"))


def measure(database: Any, name: str | None = None) -> tuple[dict[str, int], dict[str, Any]]:
    return verify.measure(database.settings, name or database.name)


def row(database: Any, backup_id: int) -> store.BackupRow:
    with database.connect(Role.OWNER, True) as conn:
        return store.get(conn, backup_id)


def test_backup_is_verified_and_restores_with_identical_ledger(
    database: Any, settings: Any
) -> None:
    seed(database)
    outcome = job.run(settings, "manual", progress=False)
    assert outcome.status == "verified", outcome.detail
    rec = row(database, outcome.backup_id)
    assert rec.status == "verified" and rec.verified_at and rec.sha256
    assert rec.ledger_checksum is not None
    assert rec.ledger_checksum["trading.fills"]["count"] == "40"
    assert rec.row_counts and rec.row_counts["analytics.fill_pnl"] == 40
    for path in (rec.dump_path, rec.globals_path):
        assert path and Path(path).is_file() and (Path(path).stat().st_mode & 0o777) == 0o600
    assert "CREATE ROLE" in Path(rec.globals_path or "").read_text()
    # No scratch database is left behind.
    with database.connect("admin", True) as admin:
        left = admin.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE %s", (database.name + "_verify_%",)
        ).fetchone()
    assert left == (0,)

    target = f"{database.name}_restored"
    try:
        done = database.alpha("backup", "restore", str(outcome.backup_id), "--target-db", target)
        assert done.returncode == 0, done.stderr
        assert "ledger checksums match" in done.stdout
        _, source = measure(database)
        _, restored = measure(database, target)
        assert restored == source == rec.ledger_checksum
        # Restored analytics equal the source's, and the guard still protects the ledger.
        query = "SELECT * FROM analytics.bot_positions"
        with database.connect(Role.READONLY, True) as a:
            expected = a.execute(query).fetchall()
        pg = database.settings.postgres.model_copy(update={"db": target})
        info = dataclasses.replace(database.settings, postgres=pg)
        from core import db

        with db.connect(info, Role.READONLY, direct=True) as b:
            assert b.execute(query).fetchall() == expected
        with db.connect(info, Role.OWNER, direct=True) as b, pytest.raises(psycopg.Error):
            b.execute("DELETE FROM trading.fills")

        # A non-empty target is refused without --force, replaced with it.
        again = database.alpha("backup", "restore", str(outcome.backup_id), "--target-db", target)
        assert again.returncode == 1 and "not empty" in again.stderr
        forced = database.alpha(
            "backup", "restore", str(outcome.backup_id), "--target-db", target, "--force"
        )
        assert forced.returncode == 0, forced.stderr
    finally:
        database.stack.drop_database(target)


def test_corrupted_dump_is_detected(database: Any, settings: Any) -> None:
    seed(database)
    outcome = job.run(settings, "manual", progress=False)
    assert outcome.status == "verified"
    dump = Path(row(database, outcome.backup_id).dump_path or "")
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))

    result = job.reverify(settings, outcome.backup_id)
    assert not result.ok and "sha256" in result.summary()
    assert row(database, outcome.backup_id).status == "failed"
    listing = database.alpha("backup", "verify", str(outcome.backup_id))
    assert listing.returncode == 1 and "FAILED" in listing.stderr


def test_a_truncated_dump_with_a_matching_checksum_fails_the_restore(
    database: Any, settings: Any
) -> None:
    seed(database)
    outcome = job.run(settings, "manual", progress=False)
    rec = row(database, outcome.backup_id)
    dump = Path(rec.dump_path or "")
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    dump.with_name(dump.name.removesuffix(".dump") + ".sha256").unlink()
    result = verify.verify(
        settings, dump, expected_sha256=None, expected_counts=rec.row_counts,
        expected_checksum=rec.ledger_checksum, progress=False,
    )  # fmt: skip
    assert not result.ok and "pg_restore failed" in result.summary()


def test_a_dump_of_other_data_fails_the_checksum_comparison(database: Any, settings: Any) -> None:
    seed(database)
    first = row(database, job.run(settings, "manual", progress=False).backup_id)
    # Retention keeps one backup per day: the next run prunes this one, so keep a copy.
    old_dump = Path(first.dump_path or "").with_suffix(".copy")
    old_dump.write_bytes(Path(first.dump_path or "").read_bytes())
    seed(database, n=5, start=100)
    second = row(database, job.run(settings, "manual", progress=False).backup_id)
    assert second.status == "verified"
    result = verify.verify(
        settings, old_dump, expected_sha256=None,
        expected_counts=second.row_counts, expected_checksum=second.ledger_checksum,
        progress=False,
    )  # fmt: skip
    assert not result.ok
    assert any(p.startswith("trading.fills:") for p in result.problems), result.problems


def test_a_backup_cannot_be_recorded_good_without_a_passing_verify(database: Any) -> None:
    with database.connect(Role.OWNER, True) as conn:
        backup_id = store.start(conn, T0.date(), "manual")
        conn.commit()
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "UPDATE trading.backups SET status = 'verified' WHERE id = %s", (backup_id,)
            )
        conn.rollback()
        failing = verify.Verification(False, ["trading.fills: expected 3, restored 2"])
        with pytest.raises(store.NotVerified):
            store.mark_verified(conn, backup_id, failing)
        conn.commit()
    assert row(database, backup_id).status == "running"


def test_a_failure_is_recorded_and_alerted(database: Any, settings: Any, redis: Any) -> None:
    blocked = settings.backup.dir
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the backup directory should be")
    outcome = job.run(settings, "scheduled", alert=job.redis_alert(settings), progress=False)
    assert outcome.status == "failed" and outcome.detail.startswith("dump:")
    rec = row(database, outcome.backup_id)
    assert rec.status == "failed" and rec.error and rec.error.startswith("dump:")
    infra = database.stack.redis(settings.redis.infra_db)
    entries = infra.xrange("alerts")
    assert [e[1]["kind"] for e in entries] == ["backup_failed"]
    assert entries[0][1]["backup_id"] == str(outcome.backup_id)


def test_service_runs_requests_and_is_idempotent_per_date(
    database: Any, settings: Any, redis: Any
) -> None:
    seed(database, n=5)
    service = BackupService(settings)
    first = service.backup("scheduled")
    assert first.status == "verified"
    assert service.backup("scheduled").status == "skipped"

    infra = database.stack.redis(settings.redis.infra_db)
    infra.xadd("backup:requests", {"requested_by": "telegram:42", "requested_at": "now"})
    assert service.poll_requests(block_ms=10) == 1
    assert service.poll_requests(block_ms=10) == 0
    with database.connect(Role.OWNER, True) as conn:
        kinds = [(r.kind, r.status) for r in store.listing(conn)]
    # Retention keeps the newest of the day; the scheduled one still counts as done.
    assert kinds == [("manual", "verified"), ("scheduled", "deleted")]
    assert service.backup("scheduled").status == "skipped"


def test_cli_now_and_list(database: Any, tmp_path: Path) -> None:
    seed(database, n=3)
    env = {"BACKUP_DIR": str(tmp_path / "cli")}
    done = database.alpha("backup", "now", env=env)
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout
    listing = database.alpha("backup", "list", env=env)
    assert listing.returncode == 0 and "verified" in listing.stdout
    assert str(tmp_path / "cli") in listing.stdout
    # The password never reaches the output (it travels in PGPASSWORD, not argv).
    owner_password = database.settings.db_roles.owner_password.get_secret_value()
    assert owner_password not in done.stdout + done.stderr + listing.stdout
    # Dumps hold every trade and the globals file every role's password verifier: owner
    # only, from the moment they are created (whatever the invoking shell's umask).
    written = [p for p in (tmp_path / "cli").rglob("*")]
    assert written
    for path in written:
        expected = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == expected, (path, oct(path.stat().st_mode))


def test_checksum_differences_are_reported_per_key() -> None:
    assert checksums.differences({"a": 1, "b": 2}, {"a": 1, "b": 3}) == [
        "b: expected 2, restored 3"
    ]


def test_a_nightly_backup_the_database_was_away_for_is_alerted_and_tried_again(
    database: Any, settings: Any, redis: Any, caplog: Any
) -> None:
    """Before: the job's first query failed, the scheduler logged "scheduled backup
    crashed" with its traceback, nobody was told, and the next try was the next night."""
    seed(database, n=5)
    service = BackupService(settings_without(settings, "database"), retry_seconds=0.5)
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start()
    try:
        with caplog.at_level(logging.WARNING, logger="alpha.backup"):
            nightly(service, scheduler)()
            retry = scheduler.get_job(RETRY_JOB)
            assert retry is not None  # the next try, in retry_seconds
            service.settings = settings  # the database answers again
            deadline = time.monotonic() + 60
            while _backups(database) != [("scheduled", "verified")]:
                assert time.monotonic() < deadline, "the retry never ran"
                time.sleep(0.2)
    finally:
        scheduler.shutdown(wait=True)  # waits for the retry's last step too
    assert scheduler.get_job(RETRY_JOB) is None
    said = [r for r in caplog.records if r.name == "alpha.backup"]
    assert [(r.levelname, r.exc_info) for r in said] == [("WARNING", None)], [
        r.getMessage() for r in said
    ]
    assert "the database unreachable" in said[0].getMessage()
    alerts = [f for _, f in database.stack.redis(settings.redis.infra_db).xrange("alerts")]
    today = datetime.now(UTC).date().isoformat()
    assert [(a["kind"], a["key"], a["severity"], a.get("resolved")) for a in alerts] == [
        ("backup_failed", f"backup:scheduled:{today}", "critical", None),
        ("backup_failed", f"backup:scheduled:{today}", "info", "1"),
    ]
    assert "could not start: the database unreachable" in alerts[0]["text"]


def _backups(database: Any) -> list[tuple[str, str]]:
    with database.connect(Role.OWNER, True) as conn:
        return [(r.kind, r.status) for r in store.listing(conn)]


def test_requests_while_redis_is_away_warn_once_and_are_served_when_it_is_back(
    database: Any, settings: Any, redis: Any, caplog: Any
) -> None:
    """Before: "cannot read backup requests" every 5 s for as long as Redis was away, and
    no line when it was back."""
    seed(database, n=3)
    service = BackupService(settings_without(settings, "redis"))
    tries: list[float] = []
    poll = service.poll_requests

    def counted_poll() -> int:
        tries.append(time.monotonic())
        return poll(block_ms=100)

    service.poll_requests = counted_poll  # type: ignore[method-assign]
    stop = threading.Event()
    runner = threading.Thread(
        target=serve_requests, args=(service, stop), kwargs={"pause": 0.05}, daemon=True
    )
    with caplog.at_level(logging.INFO, logger="alpha.backup"):
        runner.start()
        try:
            deadline = time.monotonic() + 60
            while len(tries) < 3:
                assert time.monotonic() < deadline, "serve_requests stopped trying"
                time.sleep(0.05)
            service.settings = settings  # Redis answers again
            infra = database.stack.redis(settings.redis.infra_db)
            infra.xadd("backup:requests", {"requested_by": "telegram:42", "requested_at": "now"})
            while _backups(database) != [("manual", "verified")]:
                assert time.monotonic() < deadline, "the request was never served"
                time.sleep(0.2)
        finally:
            stop.set()
            runner.join(30)
    said = [
        (r.levelname, r.getMessage())
        for r in caplog.records
        if r.name == "alpha.backup" and "backup requests" in r.getMessage()
    ]
    assert [level for level, _ in said] == ["WARNING", "INFO"], said
    assert said[0][1].startswith("cannot serve backup requests: Redis unreachable")
    assert said[1][1] == "Redis answers again; serving backup requests"
