"""Retention over 500 simulated nightly backups: exactly the expected ones survive."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from core.config import Role
from database.backup import retention
from database.backup.dump import stem

LAST = date(2026, 11, 20)  # a Friday
NOW = datetime(2026, 11, 20, 3, 40, tzinfo=UTC)
NIGHTS = [LAST - timedelta(days=i) for i in range(500)]


def taken(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 3, 30, tzinfo=UTC)


def expected_days() -> set[date]:
    """Written out by calendar reasoning, independently of ``retention.keep``."""
    daily = {LAST - timedelta(days=i) for i in range(30)}
    # Newest of each ISO week: this week's is today; earlier weeks end on Sunday.
    last_sunday = LAST - timedelta(days=LAST.isoweekday() % 7)  # 2026-11-15
    weekly = {LAST} | {last_sunday - timedelta(weeks=i) for i in range(11)}
    # Newest of each month: today for this month, the last day for the 11 before.
    monthly = {LAST}
    first = LAST.replace(day=1)
    for _ in range(11):
        first_prev_end = first - timedelta(days=1)
        monthly.add(first_prev_end)
        first = first_prev_end.replace(day=1)
    return daily | weekly | monthly


def test_keep_over_500_nightly_backups() -> None:
    ids = {i: day for i, day in enumerate(reversed(NIGHTS), start=1)}
    kept = retention.keep(((i, taken(d)) for i, d in ids.items()), NOW, retention.Policy())
    assert {ids[i] for i in kept} == expected_days()
    assert len(kept) == 30 + 8 + 9  # overlaps: 4 Sundays + today in weekly, Oct 31 + today


def test_keep_prefers_the_newest_of_a_day_and_honours_zero() -> None:
    morning = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)
    pair = [(1, morning), (2, morning + timedelta(hours=5))]
    kept = retention.keep(pair, NOW + timedelta(hours=6), retention.Policy(1, 0, 0))
    assert kept == {2}
    assert retention.keep([(1, morning)], NOW, retention.Policy(0, 0, 0)) == set()


def test_prune_deletes_only_its_own_files(database: Any, tmp_path: Path) -> None:
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    with database.connect(Role.OWNER, True) as conn:
        for day in sorted(NIGHTS):
            row = conn.execute(
                "INSERT INTO trading.backups (backup_date, kind, status, started_at, verified_at,"
                " sha256, ledger_checksum) VALUES (%s, 'scheduled', 'verified', %s, %s, 'x', '{}')"
                " RETURNING id",
                (day, taken(day), taken(day)),
            ).fetchone()
            base = stem(row[0], database.name, taken(day))
            paths = [backup_dir / f"{base}.{ext}" for ext in ("dump", "globals.sql", "sha256")]
            for p in paths:
                p.write_text("x")
            conn.execute(
                "UPDATE trading.backups SET dump_path = %s, globals_path = %s WHERE id = %s",
                (str(paths[0]), str(paths[1]), row[0]),
            )
        # Not ours: a stranger's file, a name-alike without a row, a row pointing outside.
        stranger = backup_dir / "operator-notes.txt"
        alike = backup_dir / "alpha-999999-other-20200101T000000Z.dump"
        outside = tmp_path / "alpha-000003-x-20250101T000000Z.dump"
        for p in (stranger, alike, outside):
            p.write_text("keep me")
        conn.execute("UPDATE trading.backups SET dump_path = %s WHERE id = 3", (str(outside),))
        deleted = retention.prune(conn, backup_dir, retention.Policy(), NOW)
        statuses = dict(
            conn.execute("SELECT status, count(*) FROM trading.backups GROUP BY 1").fetchall()
        )
    assert len(deleted) == 500 - 47 and statuses == {"verified": 47, "deleted": 453}
    remaining = {p.name for p in backup_dir.iterdir() if p.name.endswith(".dump")}
    want = expected_days()
    # Row 3 now points outside the directory, so its old in-directory dump is no longer a
    # file of that row: left alone, like the name-alike without a row.
    row3_file = next(n for n in remaining if n.startswith("alpha-000003-"))
    assert len(remaining) == len(want) + 2
    assert all(p.exists() for p in (stranger, alike, outside))
    kept_days = {
        datetime.strptime(name.split("-")[-1].removesuffix(".dump"), "%Y%m%dT%H%M%SZ").date()
        for name in remaining if name not in (alike.name, row3_file)
    }  # fmt: skip
    assert kept_days == want
