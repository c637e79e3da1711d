"""Exchange trouble is reported and backed off; it never stops the process or other accounts."""

from __future__ import annotations

import logging
import time

import pytest
from harness.services import settings_without
from sync_helpers import context, sync_env, sync_runs, sync_settings

from core.exchange import make_http
from paper_exchange.testing import running_exchange
from trade_sync.context import AccountBackoff
from trade_sync.jobs import execution_audit, wallet_snapshot
from trade_sync.runs import run_job
from trade_sync.scheduler import JOBS, run_all_once, run_for_accounts

ACCOUNTS = [("main", "main-key-04", "main-secret-04"), ("alt", "alt-key-04", "alt-secret-04")]
WRONG = {"main": ("main-key-04", "main-secret-04"), "alt": ("alt-key-04", "not-alts-secret")}


def test_wrong_credentials_on_one_account_are_reported_while_the_other_syncs(
    database, redis, tmp_path
) -> None:
    with running_exchange(accounts=ACCOUNTS, seed=24) as ex:
        make_http(sync_settings(database, ex, tmp_path), "main").place_order(
            category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.001"
        )
        settings = sync_settings(database, ex, tmp_path, WRONG)
        ctx = context(settings)
        outcomes = run_all_once(ctx, ctx.accounts())
        assert len(outcomes) == 2 * len(JOBS)
        for spec in JOBS:
            runs = {r["account"]: r for r in sync_runs(database, spec.name)}
            assert runs["alt"]["status"] == "error", spec.name
            assert runs["alt"]["details"]["kind"] == "auth"
            assert runs["main"]["status"] != "error", (spec.name, runs["main"])
            assert "not-alts-secret" not in str(runs["alt"]["details"])
        with database.connect("readonly") as conn:
            [(accounts,)] = conn.execute(
                "SELECT array_agg(DISTINCT account) FROM trading.wallet_snapshots"
            ).fetchall()
        assert accounts == ["main"]

        # The scheduler path respects the backoff: alt is skipped, main keeps syncing.
        before = len(sync_runs(database, wallet_snapshot.NAME))
        spec = next(s for s in JOBS if s.name == wallet_snapshot.NAME)
        run_for_accounts(ctx, spec, ctx.accounts())
        after = sync_runs(database, wallet_snapshot.NAME)[before:]
        assert [r["account"] for r in after] == ["main"]

        # `alpha sync now` prints findings for both and exits non-zero.
        result = database.alpha("sync", "now", env=sync_env(ex, WRONG))
        assert result.returncode == 1, result.stderr
        assert "[alt]: auth" in result.stdout, result.stdout
        assert "execution_audit [main]: 0 executions checked" in result.stdout, (
            result.stdout
        )  # grace
        assert "alt-key-04" not in result.stdout + result.stderr
        assert "not-alts-secret" not in result.stdout + result.stderr


def test_rate_limits_are_slept_off_or_reported_and_backed_off(database, redis, tmp_path) -> None:
    with running_exchange(accounts=ACCOUNTS[:1], seed=25) as ex:
        settings = sync_settings(database, ex, tmp_path)
        ctx = context(settings, backoff=AccountBackoff(base=0.5, cap=1.0))

        def audit():
            return run_job(ctx, execution_audit.NAME, "main",
                           lambda: execution_audit.run(ctx, "main"))  # fmt: skip

        def fault(count: int) -> None:
            ex.control._request(
                "POST",
                "/paper/faults/rest",
                {"count": count, "ret_code": 10006, "path": "/v5/execution"},
            )

        fault(2)  # two 10006 answers: pybit sleeps until the reset header, then succeeds
        ok = audit()
        assert ok is not None and ok.status == "ok"

        fault(10)  # more than the retries: reported, account backed off, nothing raised
        failed = audit()
        assert failed is not None and failed.status == "error"
        assert failed.error is not None and failed.error.kind == "rate_limit"
        assert audit() is None  # skipped while backing off
        ex.control.clear_faults()
        time.sleep(1.1)
        recovered = audit()
        assert recovered is not None and recovered.status == "ok"
        statuses = [(r["status"], r["details"].get("kind")) for r in
                    sync_runs(database, execution_audit.NAME)]  # fmt: skip
        assert statuses == [("ok", None), ("error", "rate_limit"), ("ok", None)]


@pytest.mark.parametrize("away", ["database", "redis"])
def test_a_job_that_finds_a_service_away_logs_one_warning_and_no_traceback(
    database, redis, tmp_path, caplog, away
) -> None:
    """Before: ERROR with the whole traceback, then an ERROR line, then one more line
    because the run could not be recorded (or its status not updated) either: three
    records for one restart. The rehearsal's PgBouncer restart showed them."""
    with running_exchange(accounts=ACCOUNTS[:1], seed=26) as ex:
        settings = sync_settings(database, ex, tmp_path)
        # An execution the ledger lacks (no listener runs): the audit hands it over.
        make_http(settings, "main").place_order(
            category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.001"
        )
        ctx = context(settings_without(settings, away))
        with caplog.at_level(logging.DEBUG, logger="trade_sync"):
            outcome = run_job(ctx, execution_audit.NAME, "main",
                              lambda: execution_audit.run(ctx, "main"))  # fmt: skip
    assert outcome is not None and outcome.status == "error"
    assert outcome.error is not None and outcome.error.kind == "unavailable"
    said = [r for r in caplog.records
            if r.name.startswith("trade_sync") and r.levelno >= logging.WARNING]  # fmt: skip
    assert [(r.levelname, r.exc_info) for r in said] == [("WARNING", None)], [
        r.getMessage() for r in said
    ]
    named = "the database" if away == "database" else "Redis"
    assert f"execution_audit [main]: unavailable: {named} unreachable" in said[0].getMessage()


def test_runs_whose_status_redis_cannot_take_warn_once_per_outage(
    database, redis, tmp_path, caplog
) -> None:
    """A job that needs no Redis (the wallet snapshot) goes on while Redis restarts; only
    its line in ``sync:status`` cannot be written. Before: a warning every run, every
    job, for as long as Redis was away, and nothing when it was back."""
    with running_exchange(accounts=ACCOUNTS[:1], seed=27) as ex:
        settings = sync_settings(database, ex, tmp_path)
        ctx = context(settings_without(settings, "redis"))
        with caplog.at_level(logging.INFO, logger="trade_sync"):
            for _ in range(3):
                outcome = run_job(ctx, wallet_snapshot.NAME, "main",
                                  lambda: wallet_snapshot.run(ctx, "main"))  # fmt: skip
                assert outcome is not None and outcome.status == "ok"
            ctx.settings, ctx._redis = settings, None  # Redis answers again
            run_job(ctx, wallet_snapshot.NAME, "main", lambda: wallet_snapshot.run(ctx, "main"))
    said = [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == "trade_sync.runs"]  # fmt: skip
    assert [level for level, _ in said] == ["WARNING", "INFO"], said
    assert said[0][1].startswith("cannot record runs in sync:status: Redis unreachable")
    assert said[1][1] == "Redis answers again; runs are recorded in sync:status"
    assert [r["status"] for r in sync_runs(database, wallet_snapshot.NAME)] == ["ok"] * 4
