"""``alpha sync backfill`` over 40 days of history imports every execution, edges included."""

from __future__ import annotations

import time

from sync_helpers import ledger_rows, running_listener, sync_env, sync_runs, sync_settings, wait_for

from paper_exchange.testing import running_exchange

ACCOUNTS = [("main", "main-key-03", "main-secret-03")]
DAY = 86_400_000


def test_backfill_40_days_thousands_of_fills_no_gaps_at_window_edges(
    database, redis, tmp_path
) -> None:
    now = int(time.time() * 1000)
    since = (now - 41 * DAY) // DAY * DAY  # midnight UTC: --since takes a date
    with running_exchange(accounts=ACCOUNTS, seed=23, start_ms=since) as ex:

        def emit(at_ms: int, count: int) -> None:
            ex.control.post("/paper/clock", set_ms=at_ms)
            ex.control.post("/paper/synthetic", account="main", count=count, wait=True)

        # History made before any listener runs: nothing of it reached a socket.
        emit(since, 2)  # the very first millisecond of the range
        for day in range(40):
            edge = since + day * DAY
            if day:
                emit(edge - 1, 1)  # last ms of a 24 h window
                emit(edge, 2)  # exactly on the edge between two windows
                emit(edge + 1, 1)
            for quarter in range(4):
                emit(edge + quarter * 6 * 3_600_000 + 7_777, 30)
        ex.control.post("/paper/clock", set_ms=now)
        history = ex.control.dump("main")["executions"]
        produced = {r["execId"] for r in history}
        trades = [r for r in history if r["execType"] == "Trade"]
        assert len(trades) == 2 + 39 * 4 + 40 * 120  # thousands: 4958 (plus funding)

        # The listener's own first catch-up reaches back 0 days: only backfill imports.
        settings = sync_settings(database, ex, tmp_path, catchup_initial_days=0)
        with running_listener(settings):
            assert ledger_rows(database) == {}
            env = sync_env(ex, ex.accounts)
            result = database.alpha("sync", "backfill", "--since",
                                    time.strftime("%Y-%m-%d", time.gmtime(since / 1000)),
                                    "--account", "main", env=env, timeout=300)  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert f"{len(produced)} handed to the listener" in result.stdout, result.stdout
            assert "window" in result.stderr  # the tqdm progress bar
            wait_for(lambda: len(ledger_rows(database)) == len(produced), timeout=120,
                     what="every backfilled execution in the ledger")  # fmt: skip
            rows = ledger_rows(database)
            assert set(rows) == produced
            assert {source for _bot, source in rows.values()} == {"rest"}

            # A second backfill finds nothing missing.
            again = database.alpha("sync", "backfill", "--since",
                                   time.strftime("%Y-%m-%d", time.gmtime(since / 1000)),
                                   env=env, timeout=300)  # fmt: skip
            assert again.returncode == 0, again.stderr
            assert "0 handed to the listener" in again.stdout
        runs = sync_runs(database, "backfill")
        assert [(r["status"], r["found"]) for r in runs] == [
            ("found", len(produced)), ("ok", 0)
        ]  # fmt: skip
