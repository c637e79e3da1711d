"""0003's append path: in-order batches fold from ``analytics.fold_state`` without re-reading
anything already folded, and end exactly where a full re-fold (``repair(true)``) ends.

Which path ran is observed, not assumed: the database tracks PL/pgSQL function calls
(``track_functions = 'pl'``, set by the superuser for the test database), and the
listener's own transaction reads its call counts of ``analytics.refold`` (the re-fold
path) and ``analytics.fold_append`` (the append path) before committing.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from ledger import FILL_COLUMNS, Fill, add_bot, insert_fills
from psycopg import sql
from test_fold_agrees import START, as_core, random_fills

from core.config import Role
from core.positions import Position

REFOLD = "analytics.refold(text, text, text, timestamptz, bigint, text)"
APPEND = "analytics.fold_append(analytics.fill_pnl[])"


def track_functions(database: Any) -> None:
    with database.connect("superuser", True, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET track_functions = 'pl'").format(
                sql.Identifier(database.name)
            )
        )


FILL_TYPES = (
    "text", "text", "text", "text", "text", "numeric", "numeric", "numeric", "numeric",
    "timestamptz", "bigint", "text", "jsonb",
)  # fmt: skip


def insert_counting(
    database: Any, fills: list[Fill], notices: list[str] | None = None
) -> tuple[int, int]:
    """One INSERT as the listener, from arrays as the listener writes; returns the
    (refold calls, fold_append calls) it caused in its transaction."""
    cols = ", ".join(FILL_COLUMNS)
    arrays = ", ".join(f"%s::{t}[]" for t in FILL_TYPES)
    with database.connect(Role.LISTENER, True) as conn:
        if notices is not None:
            conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute(
            f"INSERT INTO trading.fills ({cols}) SELECT * FROM unnest({arrays})",
            [list(col) for col in zip(*(f.row() for f in fills), strict=True)],
        )
        refolds, appends = conn.execute(
            "SELECT coalesce(pg_stat_get_xact_function_calls(%s::regprocedure), 0),"
            " coalesce(pg_stat_get_xact_function_calls(%s::regprocedure), 0)",
            (REFOLD, APPEND),
        ).fetchone()
        conn.commit()
    return refolds, appends


def derived(database: Any) -> dict[str, list[tuple[Any, ...]]]:
    with database.connect(Role.READONLY, True) as conn:
        return {
            table: conn.execute(f"SELECT * FROM analytics.{table} ORDER BY 1, 2, 3").fetchall()
            for table in ("fill_pnl", "daily_rollup", "fold_state", "fold_dirty")
        }


def states(database: Any) -> dict[tuple[str, str], Position]:
    with database.connect(Role.READONLY, True) as conn:
        got = conn.execute(
            "SELECT bot_id, symbol, qty, cost, realized, fees, fills, last_time, last_seq,"
            " last_id FROM analytics.fold_state"
        ).fetchall()
    return {
        (b, s): Position(qty=q, cost=c, realized_pnl=r, fees=fe, fills=n, last_key=(t, sq, i))
        for b, s, q, c, r, fe, n, t, sq, i in got
    }


def expected_states(fills: list[Fill]) -> dict[tuple[str, str], Position]:
    state: dict[tuple[str, str], Position] = defaultdict(Position)
    for f in sorted(fills, key=lambda f: (f.time, f.seq, f.exec_id)):
        state[(f.bot_id, f.symbol)] = state[(f.bot_id, f.symbol)].apply(as_core(f))
    return dict(state)


def refold_everything(database: Any) -> None:
    with database.connect(Role.OWNER, True, autocommit=True) as conn:
        conn.execute("SELECT analytics.repair(true)")


@pytest.mark.parametrize("seed", [4, 5])
def test_in_order_batches_append_and_equal_a_full_refold(database: Any, seed: int) -> None:
    track_functions(database)
    add_bot(database, "bot_x")
    add_bot(database, "bot_y")
    fills = sorted(random_fills(random.Random(seed), 240), key=lambda f: (f.time, f.seq, f.exec_id))
    # Batches of uneven size; the random walk crosses UTC days inside batches.
    cuts = [0, 1, 7, 40, 41, 90, 160, 240]
    for a, b in itertools.pairwise(cuts):
        refolds, appends = insert_counting(database, fills[a:b])
        assert (refolds, appends) == (0, 1), (a, b)

    assert states(database) == expected_states(fills)
    incremental = derived(database)
    assert len(incremental["fill_pnl"]) == 240
    assert len({r[2] for r in incremental["daily_rollup"]}) > 5  # several days
    refold_everything(database)
    assert derived(database) == incremental


def test_late_fill_refolds_and_later_appends_continue(database: Any) -> None:
    track_functions(database)
    add_bot(database, "bot_x")
    add_bot(database, "bot_y")
    fills = sorted(random_fills(random.Random(6), 120), key=lambda f: (f.time, f.seq, f.exec_id))
    late = fills[30]
    first = [f for f in fills[:80] if f is not late]
    assert insert_counting(database, first) == (0, 1)
    # The late fill's pair re-folds from it; a batch mixing it with an in-order fill of
    # another pair re-folds one pair and appends the other.
    other = next(f for f in fills[80:] if (f.bot_id, f.symbol) != (late.bot_id, late.symbol))
    assert insert_counting(database, [late, other]) == (1, 1)
    assert insert_counting(database, [f for f in fills[80:] if f is not other]) == (0, 1)

    assert states(database) == expected_states(fills)
    incremental = derived(database)
    refold_everything(database)
    assert derived(database) == incremental


def test_a_batch_larger_than_one_chunk(database: Any) -> None:
    """Over 10,000 rows the fold is written in chunks (both paths); the chunks compose."""
    track_functions(database)
    add_bot(database, "bot_x")
    rng = random.Random(7)
    fills: list[Fill] = []
    held = Decimal(0)
    for i in range(10_100):
        qty = Decimal(rng.randint(1, 3000)) / 1000
        side = "Sell" if held > 0 and rng.random() < 0.55 else rng.choice(["Buy", "Sell"])
        price = Decimal(rng.randint(90_000, 110_000)) / 1000
        fee = (qty * price * Decimal("0.00055")).quantize(Decimal("0.00000001"))
        fills.append(
            Fill(f"c{i:05d}", "bot_x", "BTCUSDT", side, price, qty, fee,
                 START + timedelta(seconds=37 * i), seq=i)
        )  # fmt: skip
        held += qty if side == "Buy" else -qty
    assert insert_counting(database, fills[:50]) == (0, 1)
    assert insert_counting(database, fills[50:]) == (0, 2)  # 10,050 rows: 2 chunks

    assert states(database) == expected_states(fills)
    incremental = derived(database)
    refold_everything(database)  # the re-fold path chunks too
    assert derived(database) == incremental


def test_a_failing_pair_does_not_stop_the_batch(database: Any) -> None:
    """A real failure inside the batch (a cost share beyond NUMERIC's range): the batch's
    append is rolled back, each pair is folded on its own, the failing one is marked dirty
    with a WARNING, the others are folded, and every fill commits."""
    add_bot(database, "bot_x")
    huge = Decimal("1e131060")  # cost·closed·2·10¹² of the partial close overflows NUMERIC
    t = START
    bad = [
        Fill("h1", "bot_x", "ETHUSDT", "Buy", huge, Decimal(3), Decimal(0), t),
        Fill("h2", "bot_x", "ETHUSDT", "Sell", huge, Decimal(1), Decimal(0), t, seq=1),
    ]
    good = [
        Fill("g1", "bot_x", "BTCUSDT", "Buy", Decimal(100), Decimal(3), Decimal("0.1"), t),
        Fill("g2", "bot_x", "BTCUSDT", "Sell", Decimal(110), Decimal(1), Decimal("0.1"), t, seq=1),
    ]
    warnings: list[str] = []
    insert_counting(database, bad + good, warnings)
    with database.connect(Role.READONLY, True) as conn:
        assert conn.execute("SELECT count(*) FROM trading.fills").fetchone() == (4,)
        dirty = conn.execute("SELECT bot_id, symbol, error FROM analytics.fold_status").fetchall()
        positions = conn.execute(
            "SELECT bot_id, symbol, qty, avg_price, realized_pnl FROM analytics.bot_positions"
        ).fetchall()
    assert [(b, s) for b, s, _ in dirty] == [("bot_x", "ETHUSDT")]
    assert "overflow" in dirty[0][2]
    assert positions == [("bot_x", "BTCUSDT", 2, 100, Decimal("9.8"))]
    assert any("batch fold failed" in w for w in warnings)
    assert any("analytics fold of bot_x/ETHUSDT failed" in w for w in warnings)
    assert states(database) == expected_states(good)


def test_listener_has_no_rights_on_the_state_or_the_append(database: Any) -> None:
    for role in (Role.LISTENER, Role.READONLY, Role.APP):
        with (
            database.connect(role, True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("UPDATE analytics.fold_state SET qty = 0")
        with (
            database.connect(role, True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("SELECT analytics.fold_append('{}')")
    with (
        database.connect(Role.LISTENER, True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT * FROM analytics.fold_state")


def test_downgrade_to_0002_and_back_keeps_the_fold(database: Any) -> None:
    """0003 derives fold_state from fill_pnl on upgrade; 0002's trigger works after downgrade."""
    from database import bootstrap

    add_bot(database, "bot_x")
    add_bot(database, "bot_y")
    fills = sorted(random_fills(random.Random(8), 90), key=lambda f: (f.time, f.seq, f.exec_id))
    insert_fills(database, fills[:60])
    bootstrap.downgrade(database.settings, "0002", dbname=database.name)
    with database.connect(Role.OWNER, True) as conn:
        assert conn.execute("SELECT to_regclass('analytics.fold_state')").fetchone() == (None,)
    insert_fills(database, fills[60:75])  # folded by 0002's trigger
    bootstrap.upgrade(database.settings, dbname=database.name)
    insert_fills(database, fills[75:])  # and by 0003's
    assert states(database) == expected_states(fills)
    folded = derived(database)
    refold_everything(database)
    assert derived(database) == folded
