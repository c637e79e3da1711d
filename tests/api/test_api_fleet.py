"""``GET /fleet`` and ``GET /accounts`` against the real database and Redis: one reply
with every bot's numbers equal to the SQL views, and the account view's sums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from api_harness import add_bot, add_fill, check_reply, make_token, running_api

from api.routes import PREFIX
from core import redis_keys
from core.config import Role


def _sql(database: Any, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with database.connect(Role.READONLY) as conn:
        return conn.execute(sql, params).fetchall()


def _owner(database: Any, sql: str, *params: Any) -> None:
    with database.connect(Role.OWNER, direct=True) as conn:
        conn.execute(sql, params)


def _today() -> datetime:
    now = datetime.now(UTC)
    return max(now - timedelta(minutes=1), now.replace(hour=0, minute=0, second=0))


@pytest.mark.parametrize("redis_mode", ["standalone", "cluster"])
def test_the_fleet_is_one_reply_equal_to_the_views(database, services, redis, redis_mode) -> None:
    """On a Redis Cluster the bots' states (keys of several slots) are read in one
    pipeline of GETs, not one MGET (a cluster refuses that across slots)."""
    today = _today()
    own = None if redis_mode == "cluster" else 3
    add_bot(database, "alpha_one", "a1", redis_db=own)
    add_bot(database, "beta_two", "b2", status="paused")
    add_bot(database, "gamma_three", "g3")
    add_fill(database, "alpha_one", "e0", "Buy", "95", "0.5", today - timedelta(days=1))
    add_fill(database, "alpha_one", "e1", "Buy", "100.5", "2", today, fee="0.201")
    add_fill(database, "alpha_one", "e2", "Sell", "110.25", "1", today, fee="0.11025")
    add_fill(database, "beta_two", "e3", "Buy", "99", "1", today - timedelta(days=2))
    add_fill(database, "beta_two", "e4", "Sell", "99", "1", today - timedelta(days=2))
    database.redis(redis_keys.bot_db(own)).set("bot:alpha_one:state", "running")
    database.redis(0).set("bot:beta_two:state", "paused")
    # Open drift on main/BTCUSDT: every bot trading BTCUSDT on main shows it.
    _owner(
        database,
        "INSERT INTO trading.drift_events (account, symbol, exchange_qty, ledger_qty)"
        " VALUES ('main', 'BTCUSDT', 2, 1.5)",
    )
    token = make_token(database, "wall", "viewer")
    with running_api(database) as api:
        body = check_reply(api.get(f"{PREFIX}/fleet", token), "Fleet")

    assert body["day"] == datetime.now(UTC).date().isoformat()
    bots = {b["bot_id"]: b for b in body["bots"]}
    assert list(bots) == ["alpha_one", "beta_two", "gamma_three"]  # not `external`
    alpha = bots["alpha_one"]
    assert alpha["state"] == "running" and alpha["status"] == "active"
    # bought 0.5 @ 95 yesterday, 2 @ 100.5 today, sold 1 @ 110.25 today: 1.5 open at 99.4
    [position] = alpha["positions"]
    assert (position["symbol"], position["account"], position["qty"]) == ("BTCUSDT", "main", "1.5")
    assert Decimal(position["avg_price"]) == Decimal("99.4")  # the view's 12 places
    assert Decimal(alpha["pnl_today"]) == Decimal("10.85") - Decimal("0.31125")
    assert alpha["fills_today"] == 2
    assert alpha["drift"] == ["BTCUSDT"]
    assert 0 <= alpha["heartbeat_age_seconds"] < 60
    # Against the views themselves, for every bot.
    day = body["day"]
    for bot_id, bot in bots.items():
        pnl = _sql(
            database,
            "SELECT net_pnl FROM analytics.bot_daily_pnl WHERE bot_id = %s AND day = %s::date",
            bot_id,
            day,
        )
        assert bot["pnl_today"] == (format(pnl[0][0], "f") if pnl else None)
        open_positions = _sql(
            database,
            "SELECT symbol, qty FROM analytics.bot_positions WHERE bot_id = %s AND qty <> 0",
            bot_id,
        )
        assert [(p["symbol"], Decimal(p["qty"])) for p in bot["positions"]] == open_positions
    beta = bots["beta_two"]
    assert (beta["state"], beta["positions"], beta["pnl_today"]) == ("paused", [], None)
    gamma = bots["gamma_three"]
    assert (gamma["state"], gamma["positions"], gamma["fills_today"]) == (None, [], 0)


def test_the_account_view_puts_the_bots_and_external_against_the_exchange(
    database, services, redis
) -> None:
    today = _today()
    add_bot(database, "alpha_one", "a1")
    add_bot(database, "beta_two", "b2")
    add_fill(database, "alpha_one", "e1", "Buy", "100", "2", today)
    add_fill(database, "beta_two", "e2", "Sell", "100", "0.5", today)
    add_fill(database, "external", "e3", "Buy", "100", "0.25", today)  # a manual trade
    add_fill(database, "alpha_one", "e4", "Buy", "10", "3", today, symbol="ETHUSDT")
    add_fill(database, "alpha_one", "e5", "Sell", "10", "3", today, symbol="ETHUSDT")  # flat
    add_fill(database, "beta_two", "e6", "Buy", "5", "7", today, symbol="SOLUSDT", account="side")
    # Trade sync saw 2 BTC on main (the bots hold 1.5, external 0.25) and checked side.
    _owner(
        database,
        "INSERT INTO trading.drift_events (account, symbol, exchange_qty, ledger_qty)"
        " VALUES ('main', 'BTCUSDT', 2, 1.5)",
    )
    _owner(
        database,
        "INSERT INTO trading.sync_runs (job, account, started_at, finished_at, duration_ms,"
        " status) VALUES ('position_drift', 'side', now(), now(), 5, 'ok')",
    )
    token = make_token(database, "wall", "viewer")
    with running_api(database) as api:
        rows = check_reply(api.get(f"{PREFIX}/accounts", token), "Accounts")["positions"]

    by_key = {(r["account"], r["symbol"]): r for r in rows}
    assert set(by_key) == {("main", "BTCUSDT"), ("side", "SOLUSDT")}  # ETHUSDT is flat
    btc = by_key[("main", "BTCUSDT")]
    assert btc["bots"] == [
        {"bot_id": "alpha_one", "qty": "2"},
        {"bot_id": "beta_two", "qty": "-0.5"},
    ]
    assert (btc["bots_qty"], btc["external_qty"], btc["exchange_qty"]) == ("1.5", "0.25", "2")
    assert btc["drift"] is True and btc["drift_since"] is not None
    sol = by_key[("side", "SOLUSDT")]
    assert (sol["bots_qty"], sol["external_qty"], sol["exchange_qty"]) == ("7", "0", None)
    assert sol["drift"] is False and sol["checked_at"] is not None
