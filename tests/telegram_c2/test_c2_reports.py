"""Report commands over real ledger rows (analytics views) and wallet snapshots: /profit,
/daily, /weekly, /monthly, /performance, /trades, /count, /balance, /stats, /positions
(unrealized at the last fill price), /version. Every number is worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from c2_harness import VIEWER, add_bot, add_fill, audit_rows, run, running_c2, wait_audit

from core.cli import installed_version
from core.config import Role


def _seed(c2_env) -> datetime:
    add_bot(c2_env, "alpha_one", "a1", 3)
    add_bot(c2_env, "beta_two", "b2", 4)
    with c2_env.connect(Role.OWNER) as conn:
        conn.execute("UPDATE trading.bots SET initial_capital = 1000 WHERE bot_id = 'alpha_one'")
    now = datetime.now(UTC)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    yesterday = today - timedelta(hours=12)
    s = timedelta(seconds=1)
    # Yesterday, alpha_one: long 2 @ 100 → 110, fees 0.2 + 0.2: trip +19.60 (a win).
    add_fill(c2_env, "alpha_one", "e1", "Buy", "100", "2", "0.2", yesterday)
    add_fill(c2_env, "alpha_one", "e2", "Sell", "110", "2", "0.2", yesterday + s)
    # Today: an unattributed execution (never a bot's P&L) …
    add_fill(c2_env, "external", "x1", "Buy", "40", "1", "1", today, symbol="ETHUSDT")
    # … alpha_one long 1 @ 110 → 100, fees 0.1 + 0.1: trip −10.20 (a loss);
    add_fill(c2_env, "alpha_one", "e3", "Buy", "110", "1", "0.1", today + s)
    # beta_two opens long 1 @ 104 (last BTCUSDT price afterwards: 100 → unrealized −4);
    add_fill(c2_env, "beta_two", "e6", "Buy", "104", "1", "0", today + 2 * s)
    add_fill(c2_env, "alpha_one", "e4", "Sell", "100", "1", "0.1", today + 3 * s)
    # alpha_one opens short 3 ETHUSDT @ 50, fee 0.05 (realized −0.05).
    add_fill(c2_env, "alpha_one", "e5", "Sell", "50", "3", "0.05", today + 4 * s, "ETHUSDT")
    return now


def test_profit_periods_performance_trades_and_count(c2_env) -> None:
    now = _seed(c2_env)
    today = now.date()

    async def scenario() -> dict[str, str]:
        out = {}
        async with running_c2(c2_env) as c2:
            for text in ["/profit", "/profit a1", "/profit beta_two", "/daily 3", "/weekly 2",
                         "/monthly 2", "/performance", "/trades 1", "/trades", "/count",
                         "/daily x"]:  # fmt: skip
                out[text] = (await c2.send(VIEWER, text)).params["text"]
            await wait_audit(c2_env, len(out))
        return out

    out = run(scenario())
    profit = out["/profit"]
    assert "Profit — all bots" in profit
    assert "Realized (net of fees): +9.35 USDT" in profit  # 20 − 0.4 − 10 − 0.2 − 0.05
    assert "Fees: 0.65 USDT; funding paid: +0.00 USDT" in profit
    assert "Net (after funding): +9.35 USDT" in profit
    assert "Closed round trips: 2 (1 won, win rate 50.0 %); fills: 6" in profit
    assert "Realized (net of fees): +9.35 USDT" in out["/profit a1"]
    assert "fills: 5" in out["/profit a1"]
    assert "Closed round trips: 0 (0 won, win rate n/a); fills: 1" in out["/profit beta_two"]

    daily = out["/daily 3"].splitlines()
    assert daily[1] == f"{today}: -10.25 USDT, 1 trip(s), 4 fill(s)"
    assert daily[2] == f"{today - timedelta(days=1)}: +19.60 USDT, 1 trip(s), 2 fill(s)"
    assert daily[3] == f"{today - timedelta(days=2)}: +0.00 USDT, 0 trip(s), 0 fill(s)"
    assert daily[4] == "Total: +9.35 USDT"
    monday = today - timedelta(days=today.weekday())
    weekly = out["/weekly 2"].splitlines()
    assert weekly[1].startswith(f"{monday}: ")
    this_week = "+9.35 USDT, 2 trip(s), 6" if today != monday else "-10.25 USDT, 1 trip(s), 4"
    assert weekly[1] == f"{monday}: {this_week} fill(s)"
    assert weekly[-1] == "Total: +9.35 USDT"
    monthly = out["/monthly 2"].splitlines()
    assert monthly[1].startswith(today.strftime("%Y-%m: "))
    assert monthly[-1] == "Total: +9.35 USDT"
    assert out["/daily x"] == "Usage: /daily [N] (1 to 60)"

    assert out["/performance"].splitlines()[1:] == [
        "1. BTCUSDT: +9.40 USDT (2 trip(s), win rate 50.0 %)",
        "2. ETHUSDT: -0.05 USDT (0 trip(s), win rate n/a)",  # external's fill not counted
    ]
    [last] = out["/trades 1"].splitlines()
    assert last.endswith("alpha_one BTCUSDT Long 1 @ 110 → 100: -10.20 USDT (fees 0.20 USDT)")
    trades = out["/trades"].splitlines()
    assert len(trades) == 2
    assert trades[1].endswith("alpha_one BTCUSDT Long 2 @ 100 → 110: +19.60 USDT (fees 0.40 USDT)")
    assert out["/count"].splitlines() == [
        "Open positions: 2, held by 2 of 2 bot(s) (2 active)",
        "• alpha_one: 1 open (active)",
        "• beta_two: 1 open (active)",
    ]
    outcomes = [(r["command"], r["outcome"]) for r in audit_rows(c2_env)]
    assert outcomes[-1] == ("daily", "refused")
    assert all(o == "accepted" for _, o in outcomes[:-1])


def test_balance_stats_positions_and_version(c2_env) -> None:
    _seed(c2_env)
    with c2_env.connect(Role.SYNC) as conn:
        conn.execute(
            "INSERT INTO trading.wallet_snapshots (account, taken_at, equity, wallet_balance,"
            " unrealised_pnl) VALUES ('main', now() - interval '1 hour', 900, 900, 0),"
            " ('main', now(), 1234.5, 1200, 34.5)"
        )

    async def scenario() -> dict[str, str]:
        out = {}
        async with running_c2(c2_env) as c2:
            for text in ["/balance", "/stats", "/positions", "/positions b2", "/version"]:
                out[text] = (await c2.send(VIEWER, text)).params["text"]
        return out

    out = run(scenario())
    balance = out["/balance"].splitlines()
    assert balance[1].startswith(
        "• main USDT: equity 1,234.50 USDT, wallet 1,200.00 USDT, unrealized +34.50 USDT ("
    )
    assert (
        "• alpha_one [main]: capital 1,000.00 USDT, realized +9.35 USDT, equity 1,009.35 USDT"
        in balance
    )
    assert any(line.startswith("• beta_two [main]: capital not set") for line in balance)
    stats = out["/stats"].splitlines()
    # Profit factor 19.60 / 10.20; expectancy (19.60 − 10.20) / 2; drawdown from the
    # end-of-day peak +19.60 to +9.35.
    assert stats[1] == (
        "• alpha_one: 2 trip(s), win rate 50.0 %, profit factor 1.92, expectancy +4.70 USDT,"
        " max drawdown 10.25 USDT"
    )
    assert stats[2] == (
        "• beta_two: 0 trip(s), win rate n/a, profit factor n/a, expectancy n/a,"
        " max drawdown 0.00 USDT"
    )
    positions = out["/positions"].splitlines()
    assert positions[0].startswith(
        "• alpha_one ETHUSDT: SHORT 3 @ 50, realized -0.05 USDT, unrealized +0.00 USDT"
        " at last fill price 50 ("
    )
    assert positions[1].startswith(
        "• beta_two BTCUSDT: LONG 1 @ 104, realized +0.00 USDT, unrealized -4.00 USDT"
        " at last fill price 100 ("
    )
    assert out["/positions b2"].count("\n") == 0
    assert out["/version"] == f"Alpha {installed_version()}"


def test_a_long_report_is_cut_to_one_telegram_message(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    start = datetime.now(UTC) - timedelta(hours=1)
    for i in range(55):  # 55 round trips: buy 1 @ 100, sell 1 @ 101
        at = start + timedelta(seconds=2 * i)
        add_fill(c2_env, "alpha_one", f"b{i}", "Buy", "100", "1", "0.01", at)
        add_fill(
            c2_env, "alpha_one", f"s{i}", "Sell", "101", "1", "0.01", at + timedelta(seconds=1)
        )

    async def scenario() -> str:
        async with running_c2(c2_env) as c2:
            reply = await c2.send(VIEWER, "/trades 50")
            await wait_audit(c2_env, 1)
            return str(reply.params["text"])

    text = run(scenario())
    assert len(text) <= 4096
    lines = text.splitlines()
    assert lines[0].endswith("alpha_one BTCUSDT Long 1 @ 100 → 101: +0.98 USDT (fees 0.02 USDT)")
    assert lines[-1] == f"… {50 - (len(lines) - 1)} more line(s) not shown"
    assert audit_rows(c2_env)[0]["detail"] is None  # delivered
