"""The holder rule through the listener's own write path (docs/attribution.md).

Funding and the exchange's own executions go to the bots that held the symbol on that
account as of the execution's own ledger key — ``external`` included, on every
account — whatever the batching and the order of arrival, and funding on a symbol
several bots hold is split between them, the shares summing exactly to Bybit's amount.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.websocket_listener.helpers import (
    SHARED,
    SOLO,
    assert_positions_match,
    execution,
    register_bots,
)
from tests.websocket_listener.helpers import (
    TestBot as Bot,
)
from websocket_listener.envelope import Envelope
from websocket_listener.positions import ledger_positions
from websocket_listener.service import Listener

A, B = SHARED  # both on "main": no binding there
ALT = (Bot("alt_one", "al1", "alt", 4), Bot("alt_two", "al2", "alt", 5))
T0 = int(time.time() * 1000) - 3_600_000


def listen(database: Any, *messages: tuple[str, list[dict[str, Any]]]) -> None:
    """Each (account, items) is one socket message, committed before the next is sent."""
    listener = Listener(database.settings, application_name="test-holder-rule")
    listener.start_writer()
    try:
        for account, items in messages:
            listener.feed([Envelope.from_ws(account, {"topic": "execution", "data": items})])
            assert listener.pipeline.flush(timeout=60)
            assert listener.pipeline.fatal is None
    finally:
        listener.pipeline.stop()


def buy(bot: Bot | None, qty: str, at: int, side: str = "Buy") -> dict[str, Any]:
    return execution(bot, side=side, qty=qty, price="100", fee="0", exec_time=T0 + at)


def funding(fee: str, at: int, qty: str = "1") -> dict[str, Any]:
    return execution(
        None, side="Buy", qty=qty, price="100", fee=fee, exec_time=T0 + at, exec_type="Funding"
    )


def adl(qty: str, at: int, side: str = "Sell") -> dict[str, Any]:
    return execution(
        None, side=side, qty=qty, price="100", fee="0", exec_time=T0 + at, exec_type="AdlTrade"
    )


def shares(database: Any, exec_id: str) -> dict[str, Decimal]:
    with database.connect("readonly") as conn:
        rows = conn.execute(
            "SELECT bot_id, funding_fee FROM trading.funding WHERE exec_id = %s", (exec_id,)
        ).fetchall()
    return {bot: fee for bot, fee in rows}


def raw_texts(database: Any, exec_id: str) -> list[str]:
    with database.connect("readonly") as conn:
        rows = conn.execute(
            "SELECT raw::text FROM trading.funding WHERE exec_id = %s", (exec_id,)
        ).fetchall()
    return [r[0] for r in rows]


def bot_of(database: Any, exec_id: str) -> str:
    with database.connect("readonly") as conn:
        row = conn.execute("SELECT bot_id FROM trading.fills WHERE exec_id = %s", (exec_id,))
        return str(row.fetchone()[0])  # type: ignore[index]


def fill_shares(database: Any, exec_id: str, column: str = "exec_qty") -> dict[str, Decimal]:
    """An execution's rows in ``trading.fills``: bot → quantity (or ``column``)."""
    with database.connect("readonly") as conn:
        rows = conn.execute(
            f"SELECT bot_id, {column} FROM trading.fills WHERE exec_id = %s", (exec_id,)
        ).fetchall()
    return {bot: value for bot, value in rows}


def positions(database: Any) -> dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]]:
    """``analytics.bot_positions`` and a fold of the ledger, which must agree."""
    with database.connect("readonly") as conn:
        view = conn.execute(
            "SELECT account, bot_id, qty, realized_pnl, fees FROM analytics.bot_positions"
            " WHERE qty <> 0 OR fees <> 0"
        ).fetchall()
        folded = ledger_positions(conn)
    from_view = {(a, b): (q, r, f) for a, b, q, r, f in view}
    from_ledger = {
        (a, b): (p.qty, p.realized_pnl, p.fees)
        for (a, b, _), p in folded.items()
        if p.qty or p.fees
    }
    assert from_view == from_ledger
    return from_view


def test_a_sell_adl_on_two_longs_is_split_in_whole_lots(database, redis):
    """A holds 0.002 and B 0.004 (lots of 0.001), external is short 0.001: a Sell ADL of
    0.004 reduces the longs only, 4 lots × 2/6 and × 4/6 = 1⅓ and 2⅔: one lot each
    floored, the fourth to the largest remainder (B). Value and fee follow the lots,
    rounded toward zero to 8 decimals, the remainder to the largest share."""
    register_bots(database, SHARED)
    adl_fill = execution(
        None, side="Sell", qty="0.004", price="100", fee="0.0011", exec_time=T0 + 3_000,
        exec_type="AdlTrade",
    )  # fmt: skip
    listen(
        database,
        ("main", [buy(A, "0.002", at=1_000), buy(B, "0.004", at=1_500)]),
        ("main", [buy(None, "0.001", at=2_000, side="Sell")]),  # a manual short
        ("main", [adl_fill]),
    )
    exec_id = adl_fill["execId"]
    assert fill_shares(database, exec_id) == {
        A.bot_id: Decimal("0.001"),
        B.bot_id: Decimal("0.003"),
    }
    values = fill_shares(database, exec_id, "exec_value")
    assert values == {A.bot_id: Decimal("0.1"), B.bot_id: Decimal("0.3")}
    fees = fill_shares(database, exec_id, "exec_fee")
    assert fees == {A.bot_id: Decimal("0.000275"), B.bot_id: Decimal("0.000825")}
    assert sum(fees.values()) == Decimal("0.0011")  # exactly Bybit's amounts
    assert sum(values.values()) == Decimal("0.400")
    with database.connect("readonly") as conn:
        rules = conn.execute(
            "SELECT DISTINCT attribution FROM trading.fills WHERE exec_id = %s", (exec_id,)
        ).fetchall()
    assert rules == [("pro_rata",)]
    assert_positions_match(
        database.stack,
        SHARED,
        {(A.bot_id, "BTCUSDT"): Decimal("0.001"), (B.bot_id, "BTCUSDT"): Decimal("0.001")},
    )
    held = {key: qty for key, (qty, _, _) in positions(database).items()}
    assert held == {
        ("main", A.bot_id): Decimal("0.001"),
        ("main", B.bot_id): Decimal("0.001"),
        ("main", "external"): Decimal("-0.001"),
    }


def test_a_late_fill_before_an_adl_splits_it_again(database, redis):
    """A was the sole holder when the ADL was written (all of it A's); B's earlier fill
    arrives afterwards: the ADL is split between them in the commit that brings it."""
    register_bots(database, SHARED)
    deleveraged = adl("2", at=2_000)
    listen(database, ("main", [buy(A, "1", at=1_000)]), ("main", [deleveraged]))
    assert fill_shares(database, deleveraged["execId"]) == {A.bot_id: Decimal(2)}
    assert_positions_match(database.stack, SHARED, {(A.bot_id, "BTCUSDT"): Decimal(-1)})
    listen(database, ("main", [buy(B, "3", at=500)]))
    # 2 lots × 1/4 and × 3/4: 0 and 1 whole, remainders ½ and ½: the tie to alpha_one.
    assert fill_shares(database, deleveraged["execId"]) == {
        A.bot_id: Decimal(1),
        B.bot_id: Decimal(1),
    }
    assert_positions_match(
        database.stack,
        SHARED,
        {(A.bot_id, "BTCUSDT"): Decimal(0), (B.bot_id, "BTCUSDT"): Decimal(2)},
    )
    held = {key: qty for key, (qty, _, _) in positions(database).items()}
    assert held == {("main", B.bot_id): Decimal(2)}
    # The same execution again is still a duplicate, not a second execution.
    listen(database, ("main", [deleveraged]))
    assert fill_shares(database, deleveraged["execId"]) == {
        A.bot_id: Decimal(1),
        B.bot_id: Decimal(1),
    }


def test_a_split_execution_stays_one_execution_and_blocks_a_downgrade(database, redis):
    """Two share rows are one execution: the same execId with other facts is a
    conflicting duplicate, a second copy under another bot is refused by the database,
    and going back to 0018's one-row key is refused while a split is in the ledger."""
    from database import bootstrap

    register_bots(database, SHARED)
    deleveraged = adl("2", at=2_000)
    listen(
        database,
        ("main", [buy(A, "1", at=1_000), buy(B, "1", at=1_500)]),
        ("main", [deleveraged]),
    )
    split = {A.bot_id: Decimal(1), B.bot_id: Decimal(1)}
    assert fill_shares(database, deleveraged["execId"]) == split
    listen(database, ("main", [{**deleveraged, "execQty": "3", "execValue": "300"}]))
    assert fill_shares(database, deleveraged["execId"]) == split
    with database.connect("readonly") as conn:
        reasons = conn.execute(
            "SELECT reason FROM trading.fill_rejects WHERE reason LIKE %s",
            (f"%{deleveraged['execId']}%",),
        ).fetchall()
    assert len(reasons) == 1 and "conflicting_duplicate" in reasons[0][0]
    assert "exec_qty 2 → 3" in reasons[0][0]  # the shares' sum is the stored quantity
    refused = pytest.raises(psycopg.errors.UniqueViolation, match="more than once")
    with database.connect("listener") as conn, refused:
        conn.execute(
            "INSERT INTO trading.fills (account, exec_id, bot_id, symbol, side, exec_price,"
            " exec_qty, exec_value, exec_type, exec_time, source, raw, attribution)"
            " SELECT account, exec_id, 'external', symbol, side, exec_price, 2, 200,"
            "  exec_type, exec_time, source, raw, 'no_holder'"
            " FROM trading.fills WHERE exec_id = %s LIMIT 1",
            (deleveraged["execId"],),
        )
    with pytest.raises(Exception, match="fills split between bots: cannot go back to 0018"):
        bootstrap.downgrade(database.settings, "0018", dbname=database.name)
    assert fill_shares(database, deleveraged["execId"]) == split


def test_external_holds_a_manual_position_on_every_account(database, redis):
    """On an account other than ``main``, a bot must not pay a manual position's funding."""
    register_bots(database, ALT)
    pay = funding("0.2", at=3_000, qty="2")
    listen(database, ("alt", [buy(ALT[0], "1", at=1_000)]), ("alt", [buy(None, "1", at=2_000)]))
    listen(database, ("alt", [pay]))
    assert shares(database, pay["execId"]) == {
        "alt_one": Decimal("0.1"),
        "external": Decimal("0.1"),
    }


def test_funding_committed_with_its_holders_opening_fill_is_the_holders(database, redis):
    register_bots(database, SHARED)
    opening, pay = buy(A, "1", at=1_000), funding("0.05", at=2_000)
    listen(database, ("main", [opening, pay]))  # one message: one batch
    assert shares(database, pay["execId"]) == {A.bot_id: Decimal("0.05")}


def test_late_funding_goes_to_who_held_the_symbol_at_its_time(database, redis):
    register_bots(database, SHARED)
    pay = funding("0.05", at=2_000)
    listen(
        database,
        ("main", [buy(A, "1", at=1_000)]),
        ("main", [buy(A, "1", at=3_000, side="Sell")]),  # A flat
        ("main", [buy(B, "1", at=4_000)]),  # B holds now
        ("main", [pay]),  # a catch-up reads the funding of 2_000 only now
    )
    assert shares(database, pay["execId"]) == {A.bot_id: Decimal("0.05")}


def test_a_late_fill_corrects_what_the_holder_rule_decided_after_it(database, redis):
    register_bots(database, SHARED)
    pay, deleveraged, late = funding("0.3", at=2_000, qty="3"), adl("1", at=2_500), buy(B, "2", 500)
    listen(database, ("main", [buy(A, "1", at=1_000)]), ("main", [pay, deleveraged]))
    assert shares(database, pay["execId"]) == {A.bot_id: Decimal("0.3")}
    assert bot_of(database, deleveraged["execId"]) == A.bot_id  # the sole holder then
    raw_before = raw_texts(database, pay["execId"])
    listen(database, ("main", [late]))  # B's fill of 500 arrives last
    assert raw_texts(database, pay["execId"]) == raw_before * 2  # each share keeps the text
    assert shares(database, pay["execId"]) == {A.bot_id: Decimal("0.1"), B.bot_id: Decimal("0.2")}
    # Two longs before the Sell ADL of 1 lot: it goes whole to the larger remainder (B's
    # 2/3 of a lot against A's 1/3); A's position gets its lot back.
    assert fill_shares(database, deleveraged["execId"]) == {B.bot_id: Decimal(1)}
    assert_positions_match(
        database.stack,
        SHARED,
        {(A.bot_id, "BTCUSDT"): Decimal(1), (B.bot_id, "BTCUSDT"): Decimal(1)},
    )


def test_funding_on_a_symbol_several_bots_hold_is_split_exactly(database, redis):
    register_bots(database, SHARED)
    pay, received = funding("0.1", at=2_000, qty="3"), funding("-0.00000007", at=4_000, qty="3")
    listen(
        database,
        ("main", [buy(A, "1", at=1_000), buy(B, "2", at=1_500)]),
        ("main", [pay, received]),
    )
    split = shares(database, pay["execId"])
    assert split == {A.bot_id: Decimal("0.03333333"), B.bot_id: Decimal("0.06666667")}
    assert sum(split.values()) == Decimal("0.1")
    # Rounded toward zero (-0.00000002, -0.00000004); the remainder to the largest holder.
    got = shares(database, received["execId"])
    assert got == {A.bot_id: Decimal("-0.00000002"), B.bot_id: Decimal("-0.00000005")}


def test_a_late_fill_on_a_bound_account_keeps_the_binding_as_the_fallback(database, redis):
    """Rows re-decided by a batch that holds only prepared fills (no execution the writer
    attributed itself) still fall back to the account's bound bot, not to external."""
    register_bots(database, (SOLO,))
    pay = funding("0.05", at=2_000)
    opened, closed = buy(SOLO, "1", at=500), buy(SOLO, "1", at=600, side="Sell")
    # The first message loads the registry; the second is prepared on the feeding thread.
    listen(database, ("solo", [pay]), ("solo", [opened, closed]))
    assert shares(database, pay["execId"]) == {SOLO.bot_id: Decimal("0.05")}
