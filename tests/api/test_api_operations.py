"""Drift, backups, a bot's update and history, its equity curve, round trips and open
orders over HTTP, against the real database and Redis; every reply validated against
its schema, every write audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from api_harness import add_bot, add_fill, audit_rows, check_reply, make_token, running_api

from api.routes import PREFIX
from core.config import Role
from tests.database.test_bots_cli import ok, register

INFRA = 15


def _owner(database: Any, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with database.connect(Role.OWNER, direct=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def test_open_drift_per_account_and_symbol(database, redis) -> None:
    _owner(
        database,
        "INSERT INTO trading.drift_events (account, symbol, exchange_qty, ledger_qty, per_bot)"
        " VALUES ('main', 'BTCUSDT', 2, 1.5, '{\"alpha_one\": \"1.5\"}'),"
        "        ('side', 'ETHUSDT', 0, -1, '{}')",
    )
    _owner(
        database,
        "INSERT INTO trading.drift_events (account, symbol, exchange_qty, ledger_qty,"
        " cleared_at) VALUES ('main', 'SOLUSDT', 1, 0, now())",
    )
    token = make_token(database, "wall", "viewer")
    with running_api(database) as api:
        every = check_reply(api.get(f"{PREFIX}/drift", token), "Drift")["drift"]
        main = check_reply(api.get(f"{PREFIX}/drift?account=main", token), "Drift")["drift"]
    assert [(d["account"], d["symbol"]) for d in every] == [
        ("main", "BTCUSDT"),
        ("side", "ETHUSDT"),
    ]
    assert [(d["symbol"], d["difference"], d["per_bot"]) for d in main] == [
        ("BTCUSDT", "0.5", {"alpha_one": "1.5"})
    ]


def test_backups_are_listed_and_one_is_requested_as_the_c2_does(database, services, redis) -> None:
    _owner(
        database,
        "INSERT INTO trading.backups (backup_date, kind, status, started_at, finished_at,"
        " verified_at, size_bytes, sha256, ledger_checksum, error) VALUES"
        " ('2026-12-03', 'scheduled', 'verified', '2026-12-03T03:00Z', '2026-12-03T03:01Z',"
        "  '2026-12-03T03:02Z', 1234, 'ab12', '{}', NULL),"
        " ('2026-12-04', 'manual', 'failed', '2026-12-04T03:00Z', NULL, NULL, NULL, NULL,"
        "  NULL, 'disk full')",
    )
    viewer = make_token(database, "wall", "viewer")
    admin = make_token(database, "ops", "admin")
    infra = services.redis(INFRA)
    with running_api(database) as api:
        listed = check_reply(api.get(f"{PREFIX}/backups", viewer), "Backups")["backups"]
        assert api.post(f"{PREFIX}/backups", viewer).status_code == 403
        assert infra.xrange("backup:requests") == []
        asked = api.post(f"{PREFIX}/backups", admin)
        assert asked.status_code == 202
        request_id = check_reply(asked, "BackupRequested")["request_id"]
    assert [(b["backup_date"], b["status"], b["verified"]) for b in listed] == [
        ("2026-12-04", "failed", False),
        ("2026-12-03", "verified", True),
    ]
    [(_, fields)] = infra.xrange("backup:requests")
    assert fields["request_id"] == request_id
    assert fields["requested_by"].endswith(":ops") and fields["requested_by"].startswith("api:")
    assert [
        (r["command"], r["outcome"], r["username"], r["detail"]) for r in audit_rows(database)
    ] == [
        ("backup", "refused", "wall", "viewer token: writes need an admin token"),
        ("backup", "accepted", "ops", f"request {request_id}"),
    ]


def test_a_bot_is_updated_like_the_cli_does_and_its_history_is_read(
    database, services, redis
) -> None:
    ok(register(database, "mom_001", "mo1", 1, "--config", '{"max_positions": 2}'))
    admin = make_token(database, "ops", "admin")
    viewer = make_token(database, "wall", "viewer")
    with running_api(database) as api:
        path = f"{PREFIX}/bots/mo1"  # the code works as for every write
        assert api.request("PATCH", path, viewer, json={"mode": "demo"}).status_code == 403
        done = api.request(
            "PATCH",
            path,
            admin,
            json={
                "config": {"max_positions": 3},
                "symbols": ["BTCUSDT", "SOLUSDT"],
                "mode": "demo",
            },
        )
        assert done.status_code == 200, done.text
        updated = check_reply(done, "BotUpdated")
        assert updated["changed"] == ["config", "mode", "symbols"]
        # Not running (no heartbeat): it takes the change when it starts; a running
        # bot's reload is tests/api/test_api_bot_reload.py.
        assert (updated["reload"], updated["restart_needed"]) == ("not running", False)
        assert 'mode "paper" -> "demo"' in updated["detail"]

        same = check_reply(api.request("PATCH", path, admin, json={"mode": "demo"}), "BotUpdated")
        assert (same["changed"], same["detail"]) == ([], "nothing changed")

        # The CLI's validation, one line each.
        bad_mode = api.request("PATCH", path, admin, json={"mode": "yolo"})
        assert (
            bad_mode.status_code == 400
            and "mode" in check_reply(bad_mode, "Error")["error"]["message"]
        )
        bad_capital = api.request("PATCH", path, admin, json={"initial_capital": 1000.5})
        assert bad_capital.status_code == 400
        assert api.request("PATCH", path, admin, json={"owner": "me"}).status_code == 400
        assert api.request("PATCH", path, admin, data="not json").status_code == 400
        assert (
            api.request("PATCH", f"{PREFIX}/bots/nobody", admin, json={"mode": "demo"}).status_code
            == 404
        )

        history = check_reply(api.get(f"{PREFIX}/bots/mom_001/history", viewer), "BotHistory")
    assert history["current"]["mode"] == "demo"
    assert history["current"]["symbols"] == ["BTCUSDT", "SOLUSDT"]
    assert history["current"]["config"]["max_positions"] == 3
    versions = history["versions"]
    assert [(v["version"], v["changed_by"]) for v in versions] == [
        (1, "registration"),
        (2, "api:ops"),
    ]
    assert versions[1]["changes"]["mode"] == {"from": "paper", "to": "demo"}
    # The CLI sees the same history: one implementation.
    cli = json.loads(ok(database.alpha("bots", "history", "mom_001", "--json")))
    assert [v["version"] for v in cli] == [1, 2]

    rows = [(r["command"], r["outcome"], r["username"]) for r in audit_rows(database)]
    assert rows == [
        ("update", "refused", "wall"),
        ("update", "accepted", "ops"),  # the version's own row, in its transaction
        ("update", "refused", "ops"),  # yolo
        ("update", "refused", "ops"),  # a float capital
        ("update", "refused", "ops"),  # unknown field
        ("update", "refused", "ops"),  # not JSON
        ("update", "refused", "ops"),  # unknown bot
    ]
    accepted = [r for r in audit_rows(database) if r["outcome"] == "accepted"]
    assert accepted[0]["bot_id"] == "mom_001" and accepted[0]["detail"].startswith("version 2:")


def test_equity_round_trips_and_open_orders_of_a_bot(database, redis) -> None:
    add_bot(database, "alpha_one", "a1")
    day = datetime(2026, 12, 1, 12, tzinfo=UTC)
    add_fill(database, "alpha_one", "e1", "Buy", "100", "1", day)
    add_fill(database, "alpha_one", "e2", "Sell", "110", "1", day + timedelta(hours=1))
    add_fill(database, "alpha_one", "e3", "Sell", "120", "2", day + timedelta(days=2))
    add_fill(database, "alpha_one", "e4", "Buy", "125", "2", day + timedelta(days=2, hours=1))
    with database.connect(Role.LISTENER) as conn:  # the ledger's single writer
        conn.execute(
            "INSERT INTO trading.orders (account, order_id, order_link_id, bot_id, symbol, side,"
            " order_type, status, price, qty, trigger_price, reduce_only, created_time, raw) VALUES"
            " ('main', 'o1', 'a1-x', 'alpha_one', 'BTCUSDT', 'Sell', 'Market', 'Untriggered',"
            "  NULL, 1, 90, true, now(), '{}'),"
            " ('main', 'o2', 'a1-y', 'alpha_one', 'BTCUSDT', 'Buy', 'Limit', 'Filled',"
            "  100, 1, NULL, false, now(), '{}')"
        )
    token = make_token(database, "wall", "viewer")
    with running_api(database) as api:
        equity = check_reply(api.get(f"{PREFIX}/bots/alpha_one/equity", token), "Equity")
        trips = check_reply(api.get(f"{PREFIX}/bots/alpha_one/round-trips", token), "RoundTrips")
        orders = check_reply(api.get(f"{PREFIX}/bots/alpha_one/orders", token), "Orders")
        assert api.get(f"{PREFIX}/bots/nobody/equity", token).status_code == 404
    # Equity: 1000 + each day's net P&L (fees 0.1 per fill), summed as decimals.
    with database.connect(Role.READONLY) as conn:
        days = conn.execute(
            "SELECT day, net_pnl FROM analytics.bot_daily_pnl WHERE bot_id = 'alpha_one'"
            " ORDER BY day"
        ).fetchall()
    running, expected = Decimal(1000), []
    for d, pnl in days:
        running += pnl
        expected.append((d.isoformat(), running))
    assert [(p["day"], Decimal(p["equity"])) for p in equity["points"]] == expected
    assert [p[1] for p in expected] == [Decimal("1009.8"), Decimal("999.6")]
    # Round trips, the latest exit first: a short that lost 10, a long that made 10.
    assert [
        (t["side"], Decimal(t["gross_pnl"]), Decimal(t["net_pnl"])) for t in trips["round_trips"]
    ] == [
        ("Short", Decimal(-10), Decimal("-10.2")),
        ("Long", Decimal(10), Decimal("9.8")),
    ]
    assert [(o["order_id"], o["status"]) for o in orders["orders"]] == [("o1", "Untriggered")]


def test_the_app_role_may_change_only_what_a_version_records(database) -> None:
    """Migration 0021: the API (as app) may update the versioned columns and append a
    version; never a bot's identity or account, nor rewrite or delete a version."""
    ok(register(database, "mom_001", "mo1", 1))
    with database.connect(Role.APP) as conn:
        conn.execute("UPDATE trading.bots SET mode = 'demo' WHERE bot_id = 'mom_001'")
        conn.rollback()
    for sql in (
        "UPDATE trading.bots SET account = 'other' WHERE bot_id = 'mom_001'",
        "UPDATE trading.bots SET bot_type = 'x' WHERE bot_id = 'mom_001'",
        "UPDATE trading.bots SET redis_db = 9 WHERE bot_id = 'mom_001'",
        "UPDATE trading.bot_versions SET changed_by = 'x'",
        "DELETE FROM trading.bot_versions",
        "LOCK TABLE trading.bots IN SHARE ROW EXCLUSIVE MODE",
    ):
        with (
            database.connect(Role.APP) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(sql)


def test_the_latest_round_trips_equal_the_view_trip_for_trip(database, redis) -> None:
    """The route reads only the latest trips' rows (api/reads.py ROUND_TRIPS); whatever
    the limit, it returns exactly the view's rows: longs, shorts, a flip (one fill that
    closes a trip and opens the next), partial closes, two symbols interleaved, a trip
    still open, and a trip on another account of the same bot left out."""
    add_bot(database, "alpha_one", "a1")
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    steps = [  # (symbol, side, price, qty)
        ("BTCUSDT", "Buy", "100", "1"),
        ("ETHUSDT", "Sell", "10", "3"),
        ("BTCUSDT", "Sell", "105", "0.4"),  # partial close
        ("BTCUSDT", "Sell", "110", "0.6"),  # closes trip 1
        ("ETHUSDT", "Buy", "9", "5"),  # flip: closes the short, opens a long of 2
        ("BTCUSDT", "Sell", "111", "2"),
        ("ETHUSDT", "Sell", "12", "2"),  # closes the long
        ("BTCUSDT", "Buy", "108", "2.5"),  # flip to long 0.5
        ("ETHUSDT", "Buy", "11", "1"),
        ("BTCUSDT", "Sell", "107", "0.5"),  # closes
        ("ETHUSDT", "Sell", "11.5", "1"),  # closes
        ("BTCUSDT", "Buy", "106", "1"),  # still open
    ]
    for i, (symbol, side, price, qty) in enumerate(steps):
        add_fill(database, "alpha_one", f"r{i}", side, price, qty, t0 + timedelta(hours=i),
                 symbol=symbol)  # fmt: skip
    add_fill(database, "alpha_one", "o1", "Buy", "1", "1", t0, account="side")
    add_fill(database, "alpha_one", "o2", "Sell", "2", "1", t0 + timedelta(days=30), account="side")
    columns = (
        "symbol, trip_no, side, entry_time, exit_time, qty, avg_entry, avg_exit, gross_pnl,"
        " fees, net_pnl, fills"
    )
    with database.connect(Role.READONLY) as conn:
        cur = conn.execute(
            f"SELECT {columns} FROM analytics.round_trips"
            " WHERE account = 'main' AND bot_id = 'alpha_one'"
            " ORDER BY exit_time DESC, symbol, trip_no DESC"
        )
        names = [c.name for c in cur.description or []]
        view = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    assert len(view) == 6  # three in each symbol; BTCUSDT's fourth is open
    token = make_token(database, "wall", "viewer")
    with running_api(database) as api:
        for limit in range(1, len(view) + 2):
            got = check_reply(
                api.get(f"{PREFIX}/bots/alpha_one/round-trips?limit={limit}", token), "RoundTrips"
            )["round_trips"]
            expected = [
                {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in row.items()}
                for row in view[:limit]
            ]
            for row in expected:
                for key in ("entry_time", "exit_time"):
                    row[key] = row[key].isoformat()
            assert got == expected, limit
