"""The ledger's P&L against Bybit's transaction log, end to end.

Real PostgreSQL (through PgBouncer), Redis, the paper exchange and the real listener
writing fills: a demo-like history over two UTC days on two accounts — two bots sharing
BTCUSDT on ``main`` and holding it in opposite directions (so their own P&L differs from
the account's: the netting), a manual trade (``external``), a flip, partial closes, a
funding settlement at midnight, a bot alone on ``solo``. The reconciliation reports
zero. Then one fill is deleted behind the single-writer guard: the run names the day and
the amount and raises one alert; once the listener has the fill back, the next
scheduled-style run (no days given) re-checks the open day and clears it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sync_helpers import context, running_listener, sync_env, sync_settings, wait_for

from core.exchange import make_http
from core.link_ids import LinkIdFactory, Reason
from core.redis_keys import ALERTS
from paper_exchange.testing import running_exchange
from trade_sync.jobs import execution_audit, transaction_log
from trade_sync.runs import run_job

ACCOUNTS = [("main", "tl-main-key", "tl-main-secret"), ("solo", "tl-solo-key", "tl-solo-secret")]
BOTS = (("alpha_one", "aa1", "main"), ("alpha_two", "bb2", "main"), ("solo_bot", "cc3", "solo"))
HOUR = 3_600_000


def _register(database) -> None:
    with database.connect("owner", direct=True) as conn:
        for i, (bot_id, code, account) in enumerate(BOTS, start=1):
            conn.execute(
                "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name,"
                " mode, account, redis_db, symbols, initial_capital) VALUES (%s, %s, %s, 'test',"
                " 'test', 'paper', %s, %s, %s, 10000)",
                (bot_id, code, bot_id, account, i, ["BTCUSDT", "ETHUSDT"]),
            )
        conn.commit()


def _ledger_count(database, account: str) -> int:
    with database.connect("readonly") as conn:
        return int(conn.execute(
            "SELECT (SELECT count(*) FROM trading.fills WHERE account = %(a)s)"
            " + (SELECT count(DISTINCT exec_id) FROM trading.funding WHERE account = %(a)s)",
            {"a": account},  # funding split between bots has a row per share
        ).fetchone()[0])  # fmt: skip


def _alerts(client) -> list[dict[str, str]]:
    return [f for _id, f in client.xrange(ALERTS) if f.get("kind") == "pnl_drift"]


def _reconcile(ctx, account: str, days=None):
    outcome = run_job(ctx, transaction_log.NAME, account,
                      lambda: transaction_log.run(ctx, account, days))  # fmt: skip
    assert outcome is not None
    return outcome


def test_reconciliation_is_zero_on_a_multi_bot_history_and_names_a_deleted_fill(
    database, redis, tmp_path
) -> None:
    _register(database)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day2 = today - timedelta(days=2)
    day1 = day2 - timedelta(days=1)
    start_ms = int(day2.timestamp() * 1000) - 4 * HOUR  # 20:00 on day 1
    with running_exchange(accounts=ACCOUNTS, seed=31, start_ms=start_ms) as ex:
        settings = sync_settings(database, ex, tmp_path, catchup_initial_days=7)
        ctx = context(settings, books_grace=timedelta(0))
        infra = database.stack.redis(settings.redis.infra_db)
        links = {code: LinkIdFactory(code) for _, code, _ in BOTS}
        http = {name: make_http(settings, name) for name, _, _ in ACCOUNTS}

        def order(bot_code: str, account: str, symbol: str, side: str, qty: str, price: str):
            ex.control.price(symbol, price)
            reply = http[account].place_order(
                category="linear", symbol=symbol, side=side, orderType="Market", qty=qty,
                orderLinkId=links[bot_code].new(Reason.ENTRY),
            )  # fmt: skip
            assert reply["retCode"] == 0, reply
            ex.control.advance(60_000)

        with running_listener(settings):
            # Day 1, from 20:00: alpha_one long; alpha_two shorts into it (the account only
            # reduces: Bybit realizes P&L the bots do not); a manual buy; solo goes long.
            order("aa1", "main", "BTCUSDT", "Buy", "0.010", "60000")
            order("bb2", "main", "BTCUSDT", "Sell", "0.004", "61000")
            ex.control.manual_trade("main", "BTCUSDT", "Buy", "0.002")
            order("cc3", "solo", "ETHUSDT", "Buy", "1.50", "3000")
            order("cc3", "solo", "ETHUSDT", "Sell", "0.40", "3050")
            # Across midnight: funding is settled at 00:00:00.000 of day 2.
            ex.control.advance(4 * HOUR)
            # Day 2: alpha_one sells more than the account holds (the account flips), then
            # alpha_two and the manual position close; solo closes in two parts.
            order("aa1", "main", "BTCUSDT", "Sell", "0.010", "59000")
            order("bb2", "main", "BTCUSDT", "Buy", "0.004", "58000")
            ex.control.manual_trade("main", "BTCUSDT", "Sell", "0.002")
            order("cc3", "solo", "ETHUSDT", "Sell", "0.60", "2950")
            order("cc3", "solo", "ETHUSDT", "Sell", "0.50", "2990")
            for account in ("main", "solo"):
                executions = ex.control.dump(account)["executions"]
                wait_for(lambda a=account, n=len(executions): _ledger_count(database, a) == n,
                         what=f"{account} ledger")  # fmt: skip
        dump = ex.control.dump("main")["executions"]
        assert any(x["execType"] == "Funding" for x in dump)

        days = [day1.date(), day2.date()]
        for account in ("main", "solo"):
            outcome = _reconcile(ctx, account, days)
            assert outcome.status == "ok", outcome.lines
            assert outcome.checked == 2 and outcome.found == 0
            for day in days:
                d = outcome.details["days"][day.isoformat()]
                assert d["exchange"]["count"] > 0 and d["ledger"]["count"] > 0, d
                # Fees and funding are the exchange's own strings summed: exactly equal.
                assert d["difference"]["fees"] == d["difference"]["funding"] == "0", d
                # Realized P&L is the ledger's own fold: equal but for its 1e-12 step.
                assert abs(Decimal(d["difference"]["realized"])) <= Decimal("1e-10"), d
                assert Decimal(d["exchange"]["realized"]) != 0, d
        main = _reconcile(ctx, "main", days).details["days"]
        funding = main[day2.date().isoformat()]["exchange"]["funding"]
        assert Decimal(funding) != 0 and main[day1.date().isoformat()]["exchange"]["funding"] == "0"
        # Day 1 on main: the bots realized nothing of their own (alpha_two opened a short),
        # the exchange realized alpha_one's partial close: the difference is the netting.
        first = main[day1.date().isoformat()]
        assert all(Decimal(v) == 0 for v in first["bots_realized"].values()), first
        assert Decimal(first["netting"]) == -Decimal(first["ledger"]["realized"]) != 0
        assert _alerts(infra) == []

        # Delete alpha_two's closing buy on day 2, past the single-writer guard.
        with database.connect("readonly") as conn:
            exec_id, fee, exec_time = conn.execute(
                "SELECT exec_id, exec_fee, exec_time FROM trading.fills WHERE bot_id = "
                "'alpha_two' AND side = 'Buy'"
            ).fetchone()
        assert exec_time.astimezone(UTC).date() == day2.date()
        with database.connect("superuser", direct=True) as conn:
            conn.execute("SET session_replication_role = replica")  # past the writer guard
            conn.execute("DELETE FROM trading.fills WHERE exec_id = %s", (exec_id,))
            conn.commit()

        broken = _reconcile(ctx, "main", days)
        assert broken.status == "drift" and broken.found == 1
        day = day2.date().isoformat()
        assert broken.details["drifts"] == [day]
        diff = broken.details["days"][day]["difference"]
        assert Decimal(diff["fees"]) == fee  # the missing fill's fee, to the last digit
        assert Decimal(diff["realized"]) != 0
        assert broken.details["days"][day1.date().isoformat()]["difference"]["fees"] == "0"
        [alert] = _alerts(infra)
        assert alert["day"] == day and alert["account"] == "main" and alert["resolved"] == "0"
        assert alert["key"] == f"pnl_drift:main:{day}" and alert["severity"] == "critical"
        assert json.loads(alert["difference"])["fees"] == format(fee.normalize(), "f")
        assert day in alert["text"] and format(fee.normalize(), "f") in alert["text"]
        drift_lines = [line for line in broken.lines if "DRIFT" in line]
        assert len(drift_lines) == 1 and day in drift_lines[0]
        # The same drift again: recorded, not alerted again.
        assert _reconcile(ctx, "main", days).status == "drift" and len(_alerts(infra)) == 1
        # The operator's way: one line per day, the drifting one named with its amounts.
        cli = database.alpha("sync", "ledger", "--day", day, "--days", "2", "--account", "main",
                             env=sync_env(ex, ex.accounts))  # fmt: skip
        assert cli.returncode == 1, cli.stderr
        [cli_drift] = [line for line in cli.stdout.splitlines() if "DRIFT" in line]
        assert day in cli_drift and f"fees {format(fee.normalize(), 'f')}" in cli_drift
        assert f"main {day1.date().isoformat()}: realized" in cli.stdout
        assert len(_alerts(infra)) == 1

        # The listener's catch-up (or else the execution audit's hand-over) writes the fill
        # back; a run with no days given still re-checks the open day (older than its
        # default window) and clears it.
        with running_listener(settings):
            audit_end = datetime.now(UTC)
            audit = run_job(ctx, execution_audit.NAME, "main", lambda: execution_audit.run(
                ctx, "main", start=day1, end=audit_end))  # fmt: skip
            assert audit is not None and audit.status != "error"
            wait_for(lambda: _ledger_count(database, "main") == len(dump), what="fill back")
        healed = _reconcile(ctx, "main")
        assert healed.status == "ok" and healed.details["cleared"] == [day]
        assert day in healed.details["days"] and healed.details["open"] == {}
        alerts = _alerts(infra)
        assert [a["resolved"] for a in alerts] == ["0", "1"] and alerts[1]["key"] == alert["key"]
