"""ShortSeller (docs/strategies.md) on hand-built 5-minute candles: regime, crosses, every
entry gate, sizing, per-asset SL/TP, trailing, software exits in order, sibling cancel.

Most tests use EMA(2)/EMA(3): the rules are period-independent and the EMAs stay
hand-computable; one test runs the spec defaults (EMA 240/600, 1,800 warm-up bars).
Expected EMAs come from :func:`ema_ref`, an independent re-statement of the spec's
definition (seed = SMA of the first ``period`` closes, then α = 2/(period+1)).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots.shortseller import ShortSeller
from core.candles import Candle
from core.instruments import Instrument
from core.strategy import (
    AmendStop,
    CancelOrder,
    EnterMarket,
    ExitMarket,
    Intent,
    PlaceStop,
    PlaceTakeProfit,
    PositionView,
    Reason,
    StrategyContext,
    TriggerDirection,
)

from .helpers import T0, D, candle, ctx, fill_for

BTC, ETH, SOL = "BTCUSDT", "ETHUSDT", "SOLUSDT"
SMALL = {"symbols": [BTC, ETH, SOL], "ema_fast": 2, "ema_slow": 3}


def ema_ref(closes: list[Decimal], period: int) -> list[Decimal | None]:
    out: list[Decimal | None] = []
    alpha = Decimal(2) / (period + 1)
    value: Decimal | None = None
    for i, x in enumerate(closes):
        if i + 1 == period:
            value = sum(closes[:period], Decimal(0)) / period
        elif value is not None:
            value = alpha * x + (1 - alpha) * value
        out.append(value)
    return out


def events_ref(closes: list[Decimal], fast: int, slow: int) -> list[tuple[int, bool]]:
    """Per bar: (number of downward crosses of the two EMAs, regime ACTIVE)."""
    ef, es = ema_ref(closes, fast), ema_ref(closes, slow)
    out = []
    for i, c in enumerate(closes):
        n = 0
        for e in (ef, es):
            if i > 0 and e[i - 1] is not None and e[i] is not None:
                n += closes[i - 1] >= e[i - 1] and c < e[i]  # type: ignore[operator]
        active = ef[i] is not None and es[i] is not None and c < ef[i] and c < es[i]  # type: ignore[operator]
        out.append((n, active))
    return out


def bar(i: int, close: object, low: object | None = None, symbol: str = BTC) -> Candle:
    lo = close if low is None else low
    hi = max(D(close), D(lo))
    return candle(i, close, hi, lo, close, symbol=symbol)


def context(equity: object = 10_000) -> StrategyContext:
    return ctx(T0, equity, (BTC, ETH, SOL))


def feed(s: ShortSeller, c: StrategyContext, k: Candle) -> list[Intent]:
    c.now = k.end
    return s.on_candle(k, c)


def open_short(
    symbol: str = BTC, fill_price: object = 99, **config: object
) -> tuple[ShortSeller, StrategyContext, EnterMarket, PlaceStop, PlaceTakeProfit]:
    """Flat 100 for bars 0–2, bar 3 closes at 99 (crosses both EMAs: entry), filled at
    ``fill_price`` at bar 3's close (00:20)."""
    s, c = ShortSeller(SMALL | config), context()
    s.warm_up([bar(i, 100, symbol=symbol) for i in range(3)])
    (entry,) = feed(s, c, bar(3, 99, symbol=symbol))
    assert isinstance(entry, EnterMarket)
    stop, tp = s.on_fill(fill_for(entry, fill_price, c.now), c)
    assert isinstance(stop, PlaceStop) and isinstance(tp, PlaceTakeProfit)
    return s, c, entry, stop, tp


# -- regime and crosses ---------------------------------------------------------------------


def test_cross_of_both_emas_in_active_regime_enters_short() -> None:
    closes = [D(100)] * 3 + [D(99)]
    # EMA2: 100 → 100 + (99−100)·2/3 = 99.333…; EMA3: 100 → 99.5. Close 99 below both.
    assert events_ref(closes, 2, 3)[3] == (2, True)
    s, c = ShortSeller(SMALL), context()
    s.warm_up([bar(i, 100) for i in range(3)])
    out = feed(s, c, bar(3, 99))
    # margin 7 % of 10,000 = 700, × 10 = 7,000 notional / 99 = 70.70707… → floored to 0.0001
    assert out == [EnterMarket("i1", BTC, "Sell", D("70.7070"))]


def test_cross_of_fast_ema_only_enters() -> None:
    closes = [D(x) for x in (100, 100, 100, 90, 94, 93)]
    ef, es = ema_ref(closes, 2), ema_ref(closes, 3)
    # Bar 4 closes between the EMAs (above EMA2 93.78, below EMA3 94.5); bar 5 falls below
    # EMA2 (93.26) from above it: only the fast EMA is crossed (94 < EMA3 94.5 before).
    assert ef[4] < closes[4] < es[4]  # type: ignore[operator]
    assert events_ref(closes, 2, 3)[5] == (1, True)
    s, c = ShortSeller(SMALL), context()
    s.warm_up([bar(i, x) for i, x in enumerate(closes[:5])])
    out = feed(s, c, bar(5, 93))
    assert out == [EnterMarket("i1", BTC, "Sell", D(7000) / 93 // D("0.0001") * D("0.0001"))]


def test_cross_of_slow_ema_only_enters() -> None:
    closes = [D(x) for x in (100, 100, 100, 110, 106, 100)]
    ef, es = ema_ref(closes, 2), ema_ref(closes, 3)
    # Bar 4 (106) sits between EMA3 105.5 and EMA2 106.22; bar 5 (100) falls below EMA3
    # from above it, while it was already below EMA2.
    assert es[4] <= closes[4] < ef[4]  # type: ignore[operator]
    assert events_ref(closes, 2, 3)[5] == (1, True)
    s, c = ShortSeller(SMALL), context()
    s.warm_up([bar(i, x) for i, x in enumerate(closes[:5])])
    assert feed(s, c, bar(5, 100)) == [EnterMarket("i1", BTC, "Sell", D(70))]


def test_cross_in_inactive_regime_does_not_enter() -> None:
    closes = [D(x) for x in (100, 100, 100, 110, 106)]
    # Bar 4 crosses below EMA2 (110 ≥ 106.67, 106 < 106.22) but stays above EMA3 (105.5).
    assert events_ref(closes, 2, 3)[4] == (1, False)
    s, c = ShortSeller(SMALL), context()
    s.warm_up([bar(i, x) for i, x in enumerate(closes[:4])])
    assert feed(s, c, bar(4, 106)) == []


def test_active_regime_without_cross_does_not_enter() -> None:
    closes = [D(x) for x in (100, 100, 100, 90, 89)]
    assert events_ref(closes, 2, 3)[4] == (0, True)  # already below both: no new cross
    s, c = ShortSeller(SMALL), context()
    s.warm_up([bar(i, x) for i, x in enumerate(closes[:4])])
    assert feed(s, c, bar(4, 89)) == []


def test_spec_defaults_ema_240_600_with_1800_bar_warm_up() -> None:
    s, c = ShortSeller({"symbols": [BTC]}), context()
    assert s.warmup_bars >= 1800
    s.warm_up([bar(i, 100) for i in range(1800)])
    # Both EMAs are exactly 100 after the flat warm-up: a close of 100 is no cross.
    assert feed(s, c, bar(1800, 100)) == []
    # 99 is below EMA240 = 100 − 2/241 and EMA600 = 100 − 2/600: two crosses, ACTIVE.
    assert feed(s, c, bar(1801, 99)) == [EnterMarket("i1", BTC, "Sell", D("70.7070"))]


# -- entry gates ------------------------------------------------------------------------------


def test_open_trade_blocks_a_new_entry_until_its_exit_fills() -> None:
    # No cooldown, so only the open trade can block the entry.
    s, c, _entry, _stop, _tp = open_short(cooldown_minutes=0)
    # Bar 4 (99.9) is above EMA2: INACTIVE, the regime exit goes out (no cooldown).
    (_, _, exit_) = feed(s, c, bar(4, "99.9"))
    assert isinstance(exit_, ExitMarket) and exit_.reason == Reason.REGIME
    closes = [D(x) for x in (100, 100, 100, 99, "99.9", "97.5")]
    assert events_ref(closes, 2, 3)[5] == (2, True)  # crosses in an ACTIVE regime …
    assert feed(s, c, bar(5, "97.5")) == []  # … but the trade is still open (exiting)
    assert s.on_fill(fill_for(exit_, "97.5", c.now), c) == []
    assert feed(s, c, bar(6, 110)) == []
    assert feed(s, c, bar(7, 90)) == [EnterMarket("i5", BTC, "Sell", D("77.7777"))]


def test_ledger_position_blocks_entry() -> None:
    s, c = ShortSeller(SMALL), context()
    c.positions = {BTC: PositionView(BTC, D(-1), D(100))}
    s.warm_up([bar(i, 100) for i in range(3)])
    assert feed(s, c, bar(3, 99)) == []


def test_cooldown_one_hour_after_entry() -> None:
    s, c, _entry, stop, _tp = open_short()  # entered at 00:20
    s.on_fill(fill_for(stop, "99.99", c.now + timedelta(minutes=1)), c)  # stopped out
    closes = {4: 99, 5: 110, 6: 90, **{i: 110 for i in range(7, 14)}, 14: 90, 15: 110, 16: 90}
    got = {i: feed(s, c, bar(i, x)) for i, x in closes.items()}
    ref = events_ref([D(100)] * 3 + [D(99)] + [D(closes[i]) for i in range(4, 17)], 2, 3)
    for i in (6, 14, 16):
        assert ref[i][0] > 0 and ref[i][1]  # crosses in an active regime each time
    assert bar(14, 90).end == datetime(2024, 1, 1, 1, 15, tzinfo=UTC)  # < 00:20 + 1 h
    assert got[6] == [] and got[14] == []
    assert bar(16, 90).end == datetime(2024, 1, 1, 1, 25, tzinfo=UTC)
    assert got[16] == [EnterMarket("i4", BTC, "Sell", D("77.7777"))]


def _oscillate(start: int, pairs: int) -> list[Candle]:
    """Up to 110, down to 90, ``pairs`` times: each down bar crosses both EMAs (every close
    so far is ≤ 110, so 110 ≥ both EMAs; 90 is below any average with a value > 90)."""
    out = []
    for p in range(pairs):
        out += [bar(start + 2 * p, 110), bar(start + 2 * p + 1, 90)]
    return out


@pytest.mark.parametrize(("down_bars_before", "enters"), [(5, True), (6, False)])
def test_daily_cross_count_limit_12(down_bars_before: int, enters: bool) -> None:
    s, c = ShortSeller({"symbols": [BTC], "ema_fast": 2, "ema_slow": 3}), context()
    s.warm_up([bar(i, 100) for i in range(3)] + _oscillate(3, down_bars_before))
    # 2 crosses per down bar: 10 (< 12, enters) or 12 (blocked) before this one.
    i = 3 + 2 * down_bars_before
    assert feed(s, c, bar(i, 110)) == []
    out = feed(s, c, bar(i + 1, 90))
    assert out == ([EnterMarket("i1", BTC, "Sell", D("77.7777"))] if enters else [])


def test_daily_cross_counter_resets_at_0001_utc() -> None:
    s, c = ShortSeller({"symbols": [BTC], "ema_fast": 2, "ema_slow": 3}), context()
    # 12 crosses on 1 Jan between 23:00 and 23:45.
    s.warm_up([bar(i, 100) for i in range(273)] + _oscillate(273, 6))
    assert bar(284, 90).end == datetime(2024, 1, 1, 23, 45, tzinfo=UTC)
    assert feed(s, c, bar(285, 110)) == []
    assert feed(s, c, bar(286, 110)) == []
    # The bar closing at 00:00 still belongs to 1 Jan (the day starts at 00:01): blocked.
    assert bar(287, 90).end == datetime(2024, 1, 2, tzinfo=UTC)
    assert feed(s, c, bar(287, 90)) == []
    # 00:05 starts the new counter; the cross closing at 00:10 enters.
    assert feed(s, c, bar(288, 110)) == []
    assert feed(s, c, bar(289, 90)) == [EnterMarket("i1", BTC, "Sell", D("77.7777"))]


# -- sizing -------------------------------------------------------------------------------------


def test_size_floored_to_qty_step_and_skipped_below_minimums() -> None:
    def run(inst: Instrument, equity: object = 10_000) -> list[Intent]:
        s, c = ShortSeller(SMALL), context(equity)
        c.instruments = {BTC: inst}
        s.warm_up([bar(i, 100) for i in range(3)])
        return feed(s, c, bar(3, 99))

    step = Instrument(BTC, D("0.1"), D("0.001"), D("0.001"), D(5))
    assert run(step) == [EnterMarket("i1", BTC, "Sell", D("70.707"))]  # 70.7070… floored
    assert run(step, 20_000) == [EnterMarket("i1", BTC, "Sell", D("141.414"))]
    big_min = Instrument(BTC, D("0.1"), D("0.001"), D("71"), D(5))
    assert run(big_min) == []  # 70.707 < minOrderQty 71: skipped, never rounded up
    notional = Instrument(BTC, D("0.1"), D("0.001"), D("0.001"), D(7000))
    assert run(notional) == []  # 70.707 × 99 = 6,999.993 < 7,000 minNotional


# -- protective orders --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "entry", "stop", "tp"),
    [
        (BTC, "99", "99.99", "96.03"),  # SL 1.0 %, TP 3.0 %
        (ETH, "2000", "2030", "1910"),  # SL 1.5 %, TP 4.5 %
        (SOL, "100", "101.5", "94"),  # SL 1.5 %, TP 6.0 %
    ],
)
def test_stop_and_take_profit_after_entry_fill(symbol: str, entry: str, stop: str, tp: str) -> None:
    _s, _c, ent, st, tk = open_short(symbol, entry)
    qty = ent.qty
    assert st == PlaceStop(
        "i2", symbol, "Buy", qty, D(stop), TriggerDirection.RISE, Reason.SL, "i3"
    )
    fall = TriggerDirection.FALL
    assert tk == PlaceTakeProfit("i3", symbol, "Buy", qty, D(tp), fall, Reason.TP, "i2")


def test_no_protection_before_the_entry_fills() -> None:
    s, c = ShortSeller(SMALL), context()
    s.warm_up([bar(i, 100) for i in range(3)])
    out = feed(s, c, bar(3, 99))
    assert [type(i) for i in out] == [EnterMarket]


def test_sibling_cancel_on_stop_fill_and_on_take_profit_fill() -> None:
    s, c, _e, stop, tp = open_short()
    assert s.on_fill(fill_for(stop, "99.99", c.now), c) == [CancelOrder("i3", BTC, Reason.SL)]
    assert s.book.get(BTC) is None
    s, c, _e, stop, tp = open_short()
    assert s.on_fill(fill_for(tp, "96.03", c.now), c) == [CancelOrder("i2", BTC, Reason.TP)]
    assert s.book.get(BTC) is None


# -- trailing ----------------------------------------------------------------------------------


def test_trailing_activates_at_2pct_and_only_moves_down() -> None:
    s, c, _e, stop, _tp = open_short()  # BTC, entry 99: activation 2 %, distance 1 %
    # 97.1 is 1.92 % in profit: not yet.
    assert feed(s, c, bar(4, "97.1")) == []
    # 97.02 = 99 × 0.98: exactly 2 %: the stop goes to 97.02 × 1.01 = 97.9902.
    assert feed(s, c, bar(5, "97.02")) == [
        AmendStop("i2", BTC, trigger_price=D("97.9902"), reason=Reason.TRAIL)
    ]
    # A new low of 96.5 (close 97): 96.5 × 1.01 = 97.465.
    assert feed(s, c, bar(6, "97.0", low="96.5")) == [
        AmendStop("i2", BTC, trigger_price=D("97.465"), reason=Reason.TRAIL)
    ]
    # Price up again (low 96.8 > 96.5): the stop never moves up.
    assert feed(s, c, bar(7, "97.2", low="96.8")) == []
    # A close through the trailed stop exits in software with the trailing reason.
    assert feed(s, c, bar(8, "97.5")) == [
        CancelOrder("i2", BTC, Reason.TRAIL),
        CancelOrder("i3", BTC, Reason.TRAIL),
        ExitMarket("i4", BTC, "Buy", D("70.7070"), Reason.TRAIL),
    ]
    assert stop.trigger_price == D("99.99")


# -- software exits ------------------------------------------------------------------------------


def _exit(reason: Reason, exit_id: str = "i4") -> list[Intent]:
    return [
        CancelOrder("i2", BTC, reason),
        CancelOrder("i3", BTC, reason),
        ExitMarket(exit_id, BTC, "Buy", D("70.7070"), reason),
    ]


def test_take_profit_reached_on_close() -> None:
    s, c, *_ = open_short()
    assert feed(s, c, bar(4, "96.03")) == _exit(Reason.TP)


def test_stop_loss_reached_on_close() -> None:
    s, c, *_ = open_short()
    assert feed(s, c, bar(4, "99.98")) == []  # 99.98 < stop 99.99 (and in cooldown)
    assert feed(s, c, bar(5, "99.99")) == _exit(Reason.SL)


def _declining(s: ShortSeller, c: StrategyContext, upto: int) -> None:
    """Bars 4 … upto−1 close a little lower each time: strictly below both EMAs (ACTIVE),
    far from the stop, take profit and trailing activation."""
    for i in range(4, upto):
        assert feed(s, c, bar(i, D(99) - D("0.0001") * (i - 3))) == []


def test_held_over_24_hours_exits() -> None:
    s, c, *_ = open_short()  # filled at 00:20
    _declining(s, c, 292)  # bar 291 closes at 00:20 next day: held exactly 24 h, kept
    assert bar(291, 1).end - bar(3, 1).end == timedelta(hours=24)
    assert feed(s, c, bar(292, "98.97")) == _exit(Reason.TIME)


@pytest.mark.parametrize(
    ("close", "reason"),
    [("96", Reason.TP), ("100", Reason.SL), ("99.9", Reason.TIME)],
)
def test_software_exit_order_tp_sl_time_regime(close: str, reason: Reason) -> None:
    # After 24 h: TP beats time, SL beats time, time beats the (INACTIVE) regime.
    s, c, *_ = open_short()
    _declining(s, c, 292)
    assert feed(s, c, bar(292, close)) == _exit(reason)


def test_regime_inactive_exits_only_after_cooldown() -> None:
    s, c, *_ = open_short()  # entered at 00:20: cooldown until 01:20
    # 99.9 is above EMA2 (99.33 → rising toward 99.9): INACTIVE, below the stop 99.99.
    for i in range(4, 15):
        assert feed(s, c, bar(i, "99.9")) == []
    assert bar(15, 1).end == datetime(2024, 1, 1, 1, 20, tzinfo=UTC)
    assert feed(s, c, bar(15, "99.9")) == _exit(Reason.REGIME)


def test_no_new_exit_while_the_exit_order_is_in_flight() -> None:
    s, c, *_ = open_short()
    assert feed(s, c, bar(4, "96")) == _exit(Reason.TP)
    assert feed(s, c, bar(5, "95")) == []


def test_flatten_closes_own_position() -> None:
    s, c, *_ = open_short()
    assert s.flatten(c, Reason.KILL) == _exit(Reason.KILL)


def test_quiet_bars_produce_nothing() -> None:
    s, c = ShortSeller(SMALL), context()
    assert feed(s, c, bar(0, 100)) == []
    assert feed(s, c, bar(1, 100, symbol="OTHERUSDT")) == []  # not a configured symbol
