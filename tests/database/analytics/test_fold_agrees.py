"""The SQL fold agrees with ``core.positions`` to the last decimal, fill by fill.

Random sequences with long/short flips, partial closes whose cost share needs the
1e-12 rounding (thirds, sevenths), fee rebates, exec_time ties broken by seq, and
insertion out of ledger order in several statements (so late fills re-fold).
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from ledger import Fill, add_bot, insert_fills

from core import fills as core_fills
from core.config import Role
from core.ids import AccountName, BotId, Symbol
from core.positions import Position

START = datetime(2026, 5, 30, 20, tzinfo=UTC)
PAIRS = [("bot_x", "BTCUSDT"), ("bot_x", "ETHUSDT"), ("bot_y", "BTCUSDT")]


def random_fills(rng: random.Random, n: int) -> list[Fill]:
    out: list[Fill] = []
    net: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    t = START
    for i in range(n):
        bot, symbol = rng.choice(PAIRS)
        held = net[(bot, symbol)]
        kind = rng.random()
        if held and kind < 0.35:
            qty = abs(held) * Decimal(rng.choice([1, 2, 3, 5])) / Decimal(rng.choice([3, 7, 2, 1]))
            qty = qty.quantize(Decimal("0.001")) or Decimal("0.001")
            side = "Sell" if held > 0 else "Buy"  # reduce, close or flip
        else:
            qty = Decimal(rng.randint(1, 9000)) / 1000
            side = rng.choice(["Buy", "Sell"])
        price = Decimal(rng.randint(90_000, 110_000)) / 1000
        fee = (qty * price * Decimal(rng.choice(["0.00055", "0.0002", "-0.0001"]))).quantize(
            Decimal("0.00000001")
        )
        if rng.random() > 0.2:  # ties on exec_time (20%) are ordered by seq
            t += timedelta(minutes=rng.randint(1, 400))
        out.append(Fill(f"x{i:04d}", bot, symbol, side, price, qty, fee, t, seq=i))
        net[(bot, symbol)] += qty if side == "Buy" else -qty
    return out


def as_core(f: Fill) -> core_fills.Fill:
    return core_fills.Fill(
        account=AccountName("main"), category="linear", exec_id=f.exec_id,
        symbol=Symbol(f.symbol), order_id="", order_link_id="",
        side=core_fills.Side(f.side), exec_price=f.price, exec_qty=f.qty,
        exec_value=f.price * f.qty, exec_fee=f.fee, fee_currency="USDT", is_maker=False,
        exec_type="Trade", exec_time=f.time, seq=f.seq, source="ws", raw={},
        bot_id=BotId(f.bot_id),
    )  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_fold_matches_core_positions(database: Any, seed: int) -> None:
    rng = random.Random(seed)
    fills = random_fills(rng, 150)
    add_bot(database, "bot_x")
    add_bot(database, "bot_y")
    shuffled = fills[:]
    rng.shuffle(shuffled)
    for start in range(0, len(shuffled), 30):
        insert_fills(database, shuffled[start : start + 30])

    expected: dict[str, Position] = {}
    state: dict[tuple[str, str], Position] = defaultdict(Position)
    for f in sorted(fills, key=lambda f: (f.time, f.seq, f.exec_id)):
        key = (f.bot_id, f.symbol)
        state[key] = state[key].apply(as_core(f))
        expected[f.exec_id] = state[key]

    with database.connect(Role.READONLY, True) as conn:
        per_fill = conn.execute(
            "SELECT exec_id, qty_after, cost_after,"
            " sum(gross_pnl - exec_fee) OVER w, sum(exec_fee) OVER w"
            " FROM analytics.fill_pnl"
            " WINDOW w AS (PARTITION BY bot_id, symbol ORDER BY exec_time, seq, exec_id)"
        ).fetchall()
        positions = conn.execute(
            "SELECT bot_id, symbol, qty, avg_price, realized_pnl, fees, fills"
            " FROM analytics.bot_positions"
        ).fetchall()
        daily_total = conn.execute(
            "SELECT sum(realized_pnl) FROM analytics.bot_daily_pnl"
        ).fetchone()
    assert len(per_fill) == len(fills)
    for exec_id, qty, cost, realized, fees in per_fill:
        want = expected[exec_id]
        assert (qty, cost, realized, fees) == (want.qty, want.cost, want.realized_pnl, want.fees)
    got = {(b, s): (q, a, r, fe, n) for b, s, q, a, r, fe, n in positions}
    assert got == {
        key: (p.qty, p.avg_price, p.realized_pnl, p.fees, p.fills) for key, p in state.items()
    }
    assert daily_total[0] == sum((p.realized_pnl for p in state.values()), Decimal(0))
    # The incremental fold's state is core.positions' Position, field for field.
    with database.connect(Role.READONLY, True) as conn:
        folded = conn.execute(
            "SELECT bot_id, symbol, qty, cost, realized, fees, fills, last_time, last_seq, last_id"
            " FROM analytics.fold_state"
        ).fetchall()
    assert {
        (b, s): Position(q, c, r, fe, n, (t, sq, i)) for b, s, q, c, r, fe, n, t, sq, i in folded
    } == dict(state)
    # The sequences really exercise the interesting cases.
    with database.connect(Role.READONLY, True) as conn:
        flips, partial_rounded = conn.execute(
            "SELECT count(*) FILTER (WHERE closed_qty > 0 AND opened_qty > 0),"
            " count(*) FILTER (WHERE removed_cost <> 0 AND removed_cost <> cost_before"
            "   AND scale(removed_cost) = 12)"
            " FROM analytics.fill_pnl"
        ).fetchone()
    assert flips > 0 and partial_rounded > 0
