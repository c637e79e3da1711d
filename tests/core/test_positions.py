"""The position fold against an independent exact-arithmetic reference
(docs/ledger.md invariant 4)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from core.fills import Fill, Side
from core.ids import AccountName, BotId, Symbol
from core.positions import COST_SCALE, Position, fold

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_fill(
    side: str, qty: str, price: str, fee: str = "0", *, n: int = 0, seq: int | None = None
) -> Fill:
    return Fill(
        account=AccountName("main"),
        category="linear",
        exec_id=f"e{n:06d}",
        symbol=Symbol("BTCUSDT"),
        order_id=f"o{n}",
        order_link_id="",
        side=Side(side),
        exec_price=Decimal(price),
        exec_qty=Decimal(qty),
        exec_value=Decimal(qty) * Decimal(price),
        exec_fee=Decimal(fee),
        fee_currency="USDT",
        is_maker=False,
        exec_type="Trade",
        exec_time=T0 + timedelta(seconds=n),
        seq=n if seq is None else seq,
        source="ws",
        raw={},
        bot_id=BotId("bot_one"),
    )


def reference(fills: list[Fill]) -> tuple[Fraction, Fraction, Fraction]:
    """Average-cost accounting in exact rationals, written the textbook way."""
    qty = avg = pnl = Fraction(0)
    for fill in fills:
        q, p = Fraction(fill.exec_qty) * fill.side.sign, Fraction(fill.exec_price)
        pnl -= Fraction(fill.exec_fee)
        if qty == 0 or (qty > 0) == (q > 0):
            avg = (abs(qty) * avg + abs(q) * p) / (abs(qty) + abs(q))
            qty += q
            continue
        closed = min(abs(q), abs(qty))
        pnl += (p - avg) * closed * (1 if qty > 0 else -1)
        qty += q
        if qty == 0:
            avg = Fraction(0)
        elif (qty > 0) == (q > 0):
            avg = p  # flipped
    return qty, avg, pnl


def test_long_round_trip_with_fees() -> None:
    position = fold(
        [
            make_fill("Buy", "2", "100", "0.11", n=1),
            make_fill("Sell", "2", "110", "0.121", n=2),
        ]
    )
    assert position.qty == 0 and position.cost == 0 and position.avg_price == 0
    assert position.realized_pnl == Decimal("20") - Decimal("0.231")
    assert position.fees == Decimal("0.231")


def test_short_partial_close_keeps_the_average() -> None:
    position = fold(
        [
            make_fill("Sell", "1", "100", n=1),
            make_fill("Sell", "1", "110", n=2),
            make_fill("Buy", "0.5", "90", n=3),
        ]
    )
    assert position.qty == Decimal("-1.5")
    assert position.avg_price == Decimal("105")
    assert position.realized_pnl == Decimal("7.5")  # (105 - 90) * 0.5


def test_flip_in_one_fill_closes_and_reopens_at_the_fill_price() -> None:
    position = fold(
        [
            make_fill("Buy", "1", "100", n=1),
            make_fill("Sell", "3", "120", "0.3", n=2),
        ]
    )
    assert position.qty == Decimal("-2")
    assert position.avg_price == Decimal("120")
    assert position.realized_pnl == Decimal("20") - Decimal("0.3")


def test_fills_are_folded_in_ledger_order_whatever_order_they_arrive_in() -> None:
    fills = [
        make_fill("Buy", "1", "100", n=1),
        make_fill("Sell", "1", "90", n=2),
        make_fill("Sell", "1", "95", n=3),
    ]
    assert fold(reversed(fills)) == fold(fills)


def test_same_time_orders_by_seq_then_exec_id() -> None:
    a = make_fill("Buy", "1", "100", n=1, seq=7)
    b = make_fill("Sell", "2", "100", n=1, seq=3)  # same exec_time, lower seq: first
    assert fold([a, b]).last_key == a.ledger_key
    assert fold([b, a]).qty == Decimal("-1")


def test_a_late_fill_is_detected() -> None:
    position = Position().apply(make_fill("Buy", "1", "100", n=5))
    assert position.is_late(make_fill("Buy", "1", "100", n=3))
    assert not position.is_late(make_fill("Buy", "1", "100", n=6))


steps = st.lists(
    st.tuples(
        st.sampled_from(["Buy", "Sell"]),
        st.decimals(min_value=Decimal("0.001"), max_value=Decimal("50"), places=3),
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2),
        st.decimals(min_value=Decimal("-0.5"), max_value=Decimal("5"), places=6),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_fold_agrees_with_the_exact_reference(raw_steps: list[tuple]) -> None:
    fills = [make_fill(s, str(q), str(p), str(f), n=i) for i, (s, q, p, f) in enumerate(raw_steps)]
    position = fold(fills)
    qty, avg, pnl = reference(fills)
    assert Fraction(position.qty) == qty  # quantities are exact, always
    # The only rounding is the cost share of a partial close, at most half a unit of
    # COST_SCALE per fill: P&L is off by no more than that sum, and the average price
    # (cost / |qty|) by that sum divided by the open quantity, plus its own rounding.
    tolerance = Fraction(COST_SCALE) * len(fills)
    assert abs(Fraction(position.realized_pnl) - pnl) <= tolerance
    if qty:
        avg_tolerance = tolerance / abs(qty) + Fraction(COST_SCALE)
        assert abs(Fraction(position.avg_price) - avg) <= avg_tolerance
    assert position.fees == sum((f.exec_fee for f in fills), Decimal(0))
    assert position.fills == len(fills)


@given(steps)
def test_every_intermediate_state_is_consistent(raw_steps: list[tuple]) -> None:
    position = Position()
    for i, (s, q, p, f) in enumerate(raw_steps):
        position = position.apply(make_fill(s, str(q), str(p), str(f), n=i))
        assert position.cost >= 0
        assert (position.cost == 0) == (position.qty == 0) or position.avg_price == 0


def test_many_digit_numbers_fold_exactly_beyond_the_default_decimal_context() -> None:
    fee = "987.123456789012345678901234567891"  # 33 significant digits
    fills = [
        make_fill("Buy", "3.000000001", "60000.123456789012", fee, n=1),
        make_fill("Sell", "1.000000001", "61000.987654321098", fee, n=2),
        make_fill("Sell", "7.5", "59999.000000000001", "-" + fee, n=3),
    ]
    position = fold(fills)
    assert position.fees == Decimal(fee)  # fee + fee − fee, to the last digit
    assert Fraction(position.fees) == Fraction(fee)
    # The partial close removes round_half_up(cost · closed / |qty|, 12), exactly.
    cost = Fraction("3.000000001") * Fraction("60000.123456789012")
    share = cost * Fraction("1.000000001") / Fraction("3.000000001")
    removed = Fraction(int(share * 10**12 + Fraction(1, 2)), 10**12)
    gross = Fraction("1.000000001") * Fraction("61000.987654321098") - removed
    rest = cost - removed
    gross += Fraction(2) * Fraction("59999.000000000001") - rest  # the flip closes the rest
    assert Fraction(position.realized_pnl) == gross - Fraction(fee)
    assert position.qty == Decimal("-5.5")
    assert position.cost == Decimal("5.5") * Decimal("59999.000000000001")


def test_a_fee_in_another_coin_is_not_counted() -> None:
    usdt = make_fill("Buy", "1", "100", "0.06", n=1)
    btc = Fill.of(dataclasses.replace(usdt, exec_id="e2", fee_currency="BTC"), BotId("bot_one"))
    position = fold([usdt, dataclasses.replace(btc, exec_time=T0 + timedelta(seconds=2))])
    assert position.fees == Decimal("0.06") and position.realized_pnl == Decimal("-0.06")
    assert position.qty == 2 and position.fills == 2
