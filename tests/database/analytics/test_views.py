"""The analytics views against hand-computed expectations (exact Decimal equality).

Scenario (UTC days D1 = 2026-03-01, D2, D3):

bot_a BTCUSDT, a long built from partial fills, closed in two parts (all D1):
  Buy 1 @100 fee .05; Buy 3 @104 fee .15 -> avg (100 + 312) / 4 = 103
  Sell 2 @110 fee .10 -> gross (110 - 103)·2 = 14;  Sell 2 @101 fee .10 -> gross -4
  one round trip: Long 4, entry 103, exit (220 + 202) / 4 = 105.5, gross 10, fees .4, net 9.6

bot_a ETHUSDT, a flip from long to short in one fill, then a short, then an open short:
  D1 Buy 2 @50 fee .1                              trip 1 long
  D1 Sell 8 @60 fee .4 -> closes 2: gross 20;      fee split .1 (close) / .3 (open)
                          opens 6 short @60        trip 2 short
  D2 Buy 3 @55 fee .15 -> gross (55 - 60)·3·(-1) = 15
  D2 Buy 3 @62 fee .15 -> gross (62 - 60)·3·(-1) = -6, flat
  D2 Sell 1 @70 fee .035 -> open short 1 @70 (trip 3, not closed)
  trip 1: Long 2, 50 -> 60, gross 20, fees .2, net 19.8
  trip 2: Short 6, 60 -> 58.5, gross 9, fees .6, net 8.4
  funding: D1 +.5 paid, D2 -.2 received

bot_b BTCUSDT, no fees: D1 100 -> 90 (-10), D2 100 -> 130 (+30), D3 2 @100 -> 95 (-10);
  funding D2 +5, D3 +2. Daily net -10, 25, -12 -> equity -10, 15, 3 -> max drawdown 12.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from ledger import Fill, add_bot, insert_fills, insert_funding

from core.config import Role

D = Decimal  # short: the expectations below are dense tables
D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


FILLS = [
    Fill("a1", "bot_a", "BTCUSDT", "Buy", D("100"), D("1"), D("0.05"), at(D1, 10, 0)),
    Fill("a2", "bot_a", "BTCUSDT", "Buy", D("104"), D("3"), D("0.15"), at(D1, 10, 1)),
    Fill("a3", "bot_a", "BTCUSDT", "Sell", D("110"), D("2"), D("0.10"), at(D1, 10, 2)),
    Fill("a4", "bot_a", "BTCUSDT", "Sell", D("101"), D("2"), D("0.10"), at(D1, 10, 3)),
    Fill("e1", "bot_a", "ETHUSDT", "Buy", D("50"), D("2"), D("0.1"), at(D1, 11)),
    Fill("e2", "bot_a", "ETHUSDT", "Sell", D("60"), D("8"), D("0.4"), at(D1, 12)),
    Fill("e3", "bot_a", "ETHUSDT", "Buy", D("55"), D("3"), D("0.15"), at(D2, 1)),
    Fill("e4", "bot_a", "ETHUSDT", "Buy", D("62"), D("3"), D("0.15"), at(D2, 2)),
    Fill("e5", "bot_a", "ETHUSDT", "Sell", D("70"), D("1"), D("0.035"), at(D2, 3)),
    Fill("b1", "bot_b", "BTCUSDT", "Buy", D("100"), D("1"), D("0"), at(D1, 9)),
    Fill("b2", "bot_b", "BTCUSDT", "Sell", D("90"), D("1"), D("0"), at(D1, 13)),
    Fill("b3", "bot_b", "BTCUSDT", "Buy", D("100"), D("1"), D("0"), at(D2, 9)),
    Fill("b4", "bot_b", "BTCUSDT", "Sell", D("130"), D("1"), D("0"), at(D2, 13)),
    # Same exec_time: the ledger order falls back to seq.
    Fill("b6", "bot_b", "BTCUSDT", "Sell", D("95"), D("2"), D("0"), at(D3, 9), seq=2),
    Fill("b5", "bot_b", "BTCUSDT", "Buy", D("100"), D("2"), D("0"), at(D3, 9), seq=1),
]
FUNDING = [
    ("f1", "bot_a", "ETHUSDT", D("0.5"), at(D1, 16)),
    ("f2", "bot_a", "ETHUSDT", D("-0.2"), at(D2, 16)),
    ("f3", "bot_b", "BTCUSDT", D("5"), at(D2, 16)),
    ("f4", "bot_b", "BTCUSDT", D("2"), at(D3, 16)),
]


def rows(database: Any, query: str, *params: Any) -> list[dict[str, Any]]:
    """Read as the readonly role, as reports and Grafana do."""
    with database.connect(Role.READONLY, True) as conn:
        cur = conn.execute(query, params)
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@pytest.fixture
def ledger(database: Any) -> Any:
    add_bot(database, "bot_a")
    add_bot(database, "bot_b")
    insert_fills(database, FILLS)
    insert_funding(database, FUNDING)
    return database


def test_bot_positions(ledger: Any) -> None:
    got = rows(
        ledger,
        "SELECT bot_id, symbol, qty, avg_price, realized_pnl, fees FROM analytics.bot_positions"
        " ORDER BY bot_id, symbol",
    )
    assert got == [
        dict(bot_id="bot_a", symbol="BTCUSDT", qty=0, avg_price=0, realized_pnl=D("9.6"),
             fees=D("0.4")),
        dict(bot_id="bot_a", symbol="ETHUSDT", qty=-1, avg_price=70, realized_pnl=D("28.165"),
             fees=D("0.835")),
        dict(bot_id="bot_b", symbol="BTCUSDT", qty=0, avg_price=0, realized_pnl=D("10"),
             fees=0),
    ]  # fmt: skip


def test_round_trips(ledger: Any) -> None:
    got = rows(
        ledger,
        "SELECT bot_id, symbol, trip_no, side, qty, avg_entry, avg_exit, gross_pnl, fees,"
        " net_pnl, entry_time, exit_time FROM analytics.round_trips"
        " ORDER BY bot_id, symbol, trip_no",
    )
    simple = [
        (r["bot_id"], r["symbol"], r["trip_no"], r["side"], r["qty"], r["avg_entry"],
         r["avg_exit"], r["gross_pnl"], r["fees"], r["net_pnl"])
        for r in got
    ]  # fmt: skip
    assert simple == [
        ("bot_a", "BTCUSDT", 1, "Long", 4, 103, D("105.5"), 10, D("0.4"), D("9.6")),
        ("bot_a", "ETHUSDT", 1, "Long", 2, 50, 60, 20, D("0.2"), D("19.8")),
        ("bot_a", "ETHUSDT", 2, "Short", 6, 60, D("58.5"), 9, D("0.6"), D("8.4")),
        ("bot_b", "BTCUSDT", 1, "Long", 1, 100, 90, -10, 0, -10),
        ("bot_b", "BTCUSDT", 2, "Long", 1, 100, 130, 30, 0, 30),
        ("bot_b", "BTCUSDT", 3, "Long", 2, 100, 95, -10, 0, -10),
    ]
    # The flip fill both ends trip 1 and starts trip 2.
    eth = [r for r in got if r["symbol"] == "ETHUSDT"]
    assert eth[0]["exit_time"] == eth[1]["entry_time"] == at(D1, 12)


def test_bot_daily_pnl(ledger: Any) -> None:
    got = rows(
        ledger,
        "SELECT bot_id, day, realized_pnl, fees, funding, net_pnl, volume, fills"
        " FROM analytics.bot_daily_pnl ORDER BY bot_id, day",
    )
    simple = [tuple(r.values()) for r in got]
    assert simple == [
        ("bot_a", D1, D("29.1"), D("0.9"), D("0.5"), D("28.6"), D("1414"), 6),
        ("bot_a", D2, D("8.665"), D("0.335"), D("-0.2"), D("8.865"), D("421"), 3),
        ("bot_b", D1, D("-10"), 0, 0, D("-10"), D("190"), 2),
        ("bot_b", D2, D("30"), 0, D("5"), D("25"), D("230"), 2),
        ("bot_b", D3, D("-10"), 0, D("2"), D("-12"), D("390"), 2),
    ]


def test_symbol_daily_pnl(ledger: Any) -> None:
    got = rows(
        ledger,
        "SELECT symbol, day, realized_pnl, fees, funding, net_pnl, volume, fills"
        " FROM analytics.symbol_daily_pnl ORDER BY symbol, day",
    )
    assert [tuple(r.values()) for r in got] == [
        ("BTCUSDT", D1, D("-0.4"), D("0.4"), 0, D("-0.4"), D("1024"), 6),
        ("BTCUSDT", D2, D("30"), 0, D("5"), D("25"), D("230"), 2),
        ("BTCUSDT", D3, D("-10"), 0, D("2"), D("-12"), D("390"), 2),
        ("ETHUSDT", D1, D("19.5"), D("0.5"), D("0.5"), D("19"), D("580"), 2),
        ("ETHUSDT", D2, D("8.665"), D("0.335"), D("-0.2"), D("8.865"), D("421"), 3),
    ]


def test_bot_summary(ledger: Any) -> None:
    got = {r["bot_id"]: r for r in rows(ledger, "SELECT * FROM analytics.bot_summary")}
    a, b = got["bot_a"], got["bot_b"]
    assert (a["net_pnl"], a["realized_pnl"], a["fees"], a["funding"]) == (
        D("37.465"), D("37.765"), D("1.235"), D("0.3"),
    )  # fmt: skip
    assert (a["trades"], a["wins"], a["win_rate"], a["profit_factor"]) == (3, 3, 1, None)
    assert (a["best_trade"], a["worst_trade"], a["max_drawdown"]) == (D("19.8"), D("8.4"), 0)
    assert (b["net_pnl"], b["realized_pnl"], b["funding"], b["trades"], b["wins"]) == (
        D("3"), D("10"), D("7"), 3, 1,
    )  # fmt: skip
    assert round(b["win_rate"], 10) == D("0.3333333333")
    assert b["profit_factor"] == D("1.5")
    assert (b["best_trade"], b["worst_trade"], b["max_drawdown"]) == (30, -10, 12)


def test_late_fills_refold_to_the_same_result(database: Any, ledger: Any) -> None:
    """A backfilled fill lands before fills already folded: the pair is re-folded."""
    other = database.stack.create_database()
    try:
        late = database.__class__(other, database.stack)
        add_bot(late, "bot_a")
        add_bot(late, "bot_b")
        held_back = {"a2", "e3", "b5"}
        insert_fills(late, [f for f in FILLS if f.exec_id not in held_back], one_statement=False)
        insert_fills(late, [f for f in FILLS if f.exec_id in held_back], one_statement=False)
        insert_funding(late, FUNDING)
        for view in ("bot_positions", "round_trips", "bot_daily_pnl", "bot_summary"):
            query = f"SELECT * FROM analytics.{view} ORDER BY 1, 2, 3"
            assert rows(late, query) == rows(ledger, query), view
    finally:
        database.stack.drop_database(other)


def test_update_and_reattribution_refold(ledger: Any) -> None:
    """The listener may re-attribute a fill: both pairs are re-folded."""
    with ledger.connect(Role.OWNER, True) as conn:
        conn.execute(
            "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name, mode)"
            " VALUES ('bot_c', 'botc', 'c', 'test', 'test', 'paper')"
        )
    with ledger.connect(Role.LISTENER, True) as conn:
        conn.execute("UPDATE trading.fills SET bot_id = 'bot_c' WHERE exec_id = 'e5'")
    got = rows(
        ledger,
        "SELECT bot_id, symbol, qty, avg_price, realized_pnl FROM analytics.bot_positions"
        " WHERE symbol = 'ETHUSDT' ORDER BY bot_id",
    )
    assert [tuple(r.values()) for r in got] == [
        ("bot_a", "ETHUSDT", 0, 0, D("28.2")),
        ("bot_c", "ETHUSDT", -1, 70, D("-0.035")),
    ]


def test_reattribution_to_a_bot_folded_first_refolds_both(ledger: Any) -> None:
    """A fill moved to a bot whose pair is re-folded before the old one (``bot_0`` sorts
    before ``bot_a``, as ``external`` before any bot): the new pair must not meet the
    fill's row still in the old pair (fill_pnl's key is the exec id) and go dirty."""
    with ledger.connect(Role.OWNER, True) as conn:
        conn.execute(
            "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name, mode)"
            " VALUES ('bot_0', 'bot0', '0', 'test', 'test', 'paper')"
        )
    with ledger.connect(Role.LISTENER, True) as conn:
        conn.execute("UPDATE trading.fills SET bot_id = 'bot_0' WHERE exec_id = 'e5'")
    assert rows(ledger, "SELECT * FROM analytics.fold_status") == []
    got = rows(
        ledger,
        "SELECT bot_id, symbol, qty, avg_price, realized_pnl FROM analytics.bot_positions"
        " WHERE symbol = 'ETHUSDT' ORDER BY bot_id",
    )
    assert [tuple(r.values()) for r in got] == [
        ("bot_0", "ETHUSDT", -1, 70, D("-0.035")),
        ("bot_a", "ETHUSDT", 0, 0, D("28.2")),
    ]


def test_readonly_cannot_write_analytics_and_listener_cannot_touch_it(ledger: Any) -> None:
    import psycopg

    for role in (Role.READONLY, Role.LISTENER, Role.APP):
        with (
            ledger.connect(role, True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("DELETE FROM analytics.fill_pnl")
    with (
        ledger.connect(Role.APP, True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT analytics.repair(true)")


def test_fold_failure_never_blocks_the_ledger(ledger: Any) -> None:
    """Under REPEATABLE READ the fold refuses; the fill still commits and the pair is dirty."""
    with ledger.connect(Role.LISTENER, True) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        insert = Fill("a5", "bot_a", "BTCUSDT", "Buy", D("1"), D("1"), D("0"), at(D3, 1))
        cols = "account, exec_id, bot_id, symbol, side, exec_price, exec_qty, exec_value,"
        cols += " exec_fee, exec_time, seq, source, raw"
        conn.execute(f"INSERT INTO trading.fills ({cols}) VALUES ({', '.join(['%s'] * 13)})",
                     insert.row())  # fmt: skip
    dirty = rows(ledger, "SELECT bot_id, symbol, error FROM analytics.fold_status")
    assert [(r["bot_id"], r["symbol"]) for r in dirty] == [("bot_a", "BTCUSDT")]
    assert "READ COMMITTED" in dirty[0]["error"]
    with ledger.connect(Role.OWNER, True) as conn:
        conn.execute("SELECT analytics.repair()")
    assert rows(ledger, "SELECT * FROM analytics.fold_status") == []
    pos = rows(ledger, "SELECT qty, avg_price FROM analytics.bot_positions"
                       " WHERE bot_id = 'bot_a' AND symbol = 'BTCUSDT'")  # fmt: skip
    assert pos == [{"qty": 1, "avg_price": 1}]


def test_upgrade_over_an_existing_ledger_folds_it(ledger: Any) -> None:
    """Migrating a running system: 0002 derives the rows for fills already there."""
    from database import bootstrap

    before = rows(ledger, "SELECT * FROM analytics.bot_summary ORDER BY bot_id")
    bootstrap.downgrade(ledger.settings, "0001", dbname=ledger.name)
    with ledger.connect(Role.OWNER, True) as conn:
        gone = conn.execute("SELECT to_regclass('analytics.fill_pnl')").fetchone()
    assert gone == (None,)
    bootstrap.upgrade(ledger.settings, dbname=ledger.name)
    assert rows(ledger, "SELECT * FROM analytics.bot_summary ORDER BY bot_id") == before
