"""Momentum (docs/strategies.md#momentum) on hand-built 4-hour candles: BBW percentile, upper band,
volume ratio, SMA20, ranking into 3 slots, sizing (5 % risk / 10 % stop capped at 20 %,
halved after the weekly limit), the trailing stop, the SMA20 exit and the risk rules.

Most tests use Bollinger(5, 1), 3 band widths and SMA5(volume) so a whole setup is 11
bars: flat 100, one spike (its band widths stay in the percentile window, larger than the
breakout's), four flat bars, the breakout. With 4 values of 100 and a close of 100 + d the
window has mean 100 + d/5 and sample stdev d·√0.2; with a spike S in place of the breakout,
S·√0.2 around 100 + S/5. One test runs the defaults, Bollinger(20, 2) over 90 widths.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bots.momentum import Momentum
from core.candles import Candle
from core.strategy import (
    AmendStop,
    CancelOrder,
    EnterMarket,
    ExitMarket,
    FillEvent,
    Intent,
    PlaceStop,
    PositionView,
    Reason,
    StrategyContext,
    TriggerDirection,
)

from .helpers import T0, D, candle, ctx, fill_for

A, B, C, E = "AUSDT", "BUSDT", "CUSDT", "EUSDT"
SYMS = (A, B, C, E)
SMALL: dict[str, object] = {
    "symbols": list(SYMS),
    "bb_period": 5,
    "bb_std": 1,
    "bbw_lookback": 3,
    "volume_period": 5,
}
H4 = timedelta(hours=4)


def setup_rows(
    breakout: object = 110, volume: object = 50, spike: object = 120
) -> list[tuple[object, ...]]:
    """(open, high, low, close, volume): bars 0–4 flat, 5 spike, 6–9 flat, 10 breakout."""
    flat = (100, 100, 100, 100, 10)
    return [flat] * 5 + [(100, spike, 100, spike, 10)] + [flat] * 4 + [
        (100, breakout, 100, breakout, volume)
    ]  # fmt: skip


def bars(rows: list[tuple[object, ...]], symbol: str, t0: datetime = T0) -> list[Candle]:
    return [candle(i, *r, symbol=symbol, interval="240", t0=t0) for i, r in enumerate(rows)]  # type: ignore[misc]


def context(equity: object = 10_000) -> StrategyContext:
    return ctx(T0, equity, SYMS)


def breakout(
    s: Momentum,
    c: StrategyContext,
    symbol: str,
    rows: list[tuple[object, ...]] | None = None,
    end: datetime | None = None,
) -> list[Intent]:
    """Warm the setup up to bar 9, then decide on its last bar (closing at ``end``)."""
    rows = setup_rows() if rows is None else rows
    t0 = T0 if end is None else end - len(rows) * H4
    candles = bars(rows, symbol, t0)
    s.warm_up(candles[:-1])
    c.now = candles[-1].end
    return s.on_candle(candles[-1], c)


def signal(config: dict[str, object], rows: list[tuple[object, ...]]) -> list[Intent]:
    s, c = Momentum(config), context()
    assert breakout(s, c, A, rows) == []  # entries are ranked in on_timer
    return s.on_timer(c)


def enter(qty: str, symbol: str = A, intent_id: str = "i1") -> EnterMarket:
    return EnterMarket(intent_id, symbol, "Buy", D(qty))


# -- entry conditions -------------------------------------------------------------------------


def test_breakout_from_squeeze_enters_with_20pct_of_equity() -> None:
    # Breakout window: mean 102, stdev √0.2·10 = 4.472 → upper 106.47 < 110; width
    # 8.944/102 = 0.0877 below both earlier widths (spike: 17.89/104 = 0.172): percentile
    # 0/2 = 0. Volume 50 / SMA5 (40 + 50)/5 = 18 → 2.78. Close 110 > SMA 102.
    # Size: min(5 % / 10 %, 20 %) = 20 % of 10,000 = 2,000 / 110 = 18.1818…
    assert signal(SMALL, setup_rows()) == [enter("18.1818")]


def test_bbw_percentile_not_below_035_blocks() -> None:
    # A spike of 5 leaves widths 2·√0.2·5/101 = 0.044 < 0.0877: 2 of 2 below → 1.0.
    assert signal(SMALL, setup_rows(spike=105)) == []


@pytest.mark.parametrize(("k", "enters"), [("1.78", True), ("1.79", False)])
def test_close_must_be_above_upper_band(k: str, enters: bool) -> None:
    # upper = 102 + k·4.4721; 110 > upper ⇔ k < 8/4.4721 = 1.7889 (the percentile is a
    # ranking of widths, the same for every k).
    assert signal(SMALL | {"bb_std": k}, setup_rows()) == ([enter("18.1818")] if enters else [])


@pytest.mark.parametrize(("volume", "enters"), [(27, True), (26, False)])
def test_volume_ratio_above_2(volume: int, enters: bool) -> None:
    # ratio = V / ((40 + V) / 5): 27 → 2.0149, 26 → 1.9697.
    rows = setup_rows(volume=volume)
    assert signal(SMALL, rows) == ([enter("18.1818")] if enters else [])


def test_close_below_sma_never_enters() -> None:
    # A close below SMA20 (here a drop to 90) is below the upper band too: no entry.
    assert signal(SMALL, setup_rows(breakout=90)) == []


def test_spec_defaults_percentile_over_90_widths() -> None:
    """Bollinger(20, 2), 90 widths, ÷ 89. 109 bars of 100 with single spikes of 120: a
    width is 0 when its 20-bar window holds no spike, larger than the breakout's when it
    holds one. Breakout on bar 108 (19 flat bars + 110 in its window)."""

    def rows(spikes: set[int]) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for i in range(108):
            p = 120 if i in spikes else 100
            out.append((100, p, 100, p, 10))
        return [*out, (100, 110, 100, 110, 50)]  # volume 50 / ((19·10 + 50)/20) = 4.17

    # Spikes at 50, 68, 88 touch the windows ending 50 … 107: the 31 windows ending
    # 19 … 49 are flat (width 0 < current): 31/89 = 0.348 < 0.35.
    cfg: dict[str, object] = {"symbols": [A]}
    assert signal(cfg, rows({50, 68, 88})) == [enter("18.1818")]
    # Spike at 51 instead of 50: 32 flat windows, 32/89 = 0.3596: no entry.
    assert signal(cfg, rows({51, 68, 88})) == []


# -- ranking and slots ---------------------------------------------------------------------------


def test_ranked_by_strength_into_three_slots() -> None:
    # Same prices, volumes 27, 30, 40, 50: volume ratios 2.01, 2.14, 2.67, 2.78; strength
    # = mean(1 − 0, ratio/5, min(((110 − 102)/102)/0.10, 1)) grows with the volume.
    s, c = Momentum(SMALL), context()
    for sym, vol in zip(SYMS, (50, 27, 40, 30), strict=True):
        assert breakout(s, c, sym, setup_rows(volume=vol)) == []
    assert s.on_timer(c) == [
        enter("18.1818", A, "i1"),
        enter("18.1818", C, "i2"),
        enter("18.1818", E, "i3"),
    ]


def test_open_positions_use_up_slots() -> None:
    s, c = Momentum(SMALL), context()
    assert breakout(s, c, A) == []
    assert s.on_timer(c) == [enter("18.1818", A, "i1")]
    # Next setups a day later: A is held (no signal on it), 2 slots left for 3 signals.
    end = bars(setup_rows(), A)[-1].end + timedelta(days=2)
    for sym, vol in ((B, 30), (C, 40), (E, 50)):
        breakout(s, c, sym, setup_rows(volume=vol), end)
    assert s.on_timer(c) == [enter("18.1818", E, "i2"), enter("18.1818", C, "i3")]


def test_ledger_position_skips_the_symbol() -> None:
    s, c = Momentum(SMALL), context()
    c.positions = {A: PositionView(A, D(1), D(100))}
    breakout(s, c, A)
    breakout(s, c, B, setup_rows(volume=30))
    assert s.on_timer(c) == [enter("18.1818", B, "i1")]


# -- sizing ----------------------------------------------------------------------------------


def test_risk_sizing_below_the_cap() -> None:
    # 1 % risk with a 10 % stop = 10 % of equity (below the 20 % cap): 1,000 / 110.
    assert signal(SMALL | {"risk_pct": 1}, setup_rows()) == [enter("9.0909")]


# -- exits ---------------------------------------------------------------------------------------


def opened() -> tuple[Momentum, StrategyContext, PlaceStop]:
    s, c = Momentum(SMALL), context()
    breakout(s, c, A)
    (ent,) = s.on_timer(c)
    (stop,) = s.on_fill(fill_for(ent, 110, c.now), c)
    assert isinstance(stop, PlaceStop)
    return s, c, stop


def nxt(i: int, high: object, close: object) -> Candle:
    return candle(i, close, high, close, close, 10, symbol=A, interval="240")


def test_stop_10pct_below_entry_after_fill() -> None:
    _s, _c, stop = opened()
    qty = D("18.1818")
    assert stop == PlaceStop("i2", A, "Sell", qty, D(99), TriggerDirection.FALL, Reason.SL, None)


def test_trailing_stop_follows_the_high_and_sma_close_exit() -> None:
    s, c, _stop = opened()

    def feed(k: Candle) -> list[Intent]:
        c.now = k.end
        return s.on_candle(k, c)

    # High 120: stop 10 % under it = 108 (SMA5 105.6 < close 118).
    assert feed(nxt(11, 120, 118)) == [AmendStop("i2", A, D(108), reason=Reason.TRAIL)]
    # Lower high: the stop stays (SMA5 109 < 117).
    assert feed(nxt(12, 119, 117)) == []
    # Close 109 < SMA5 (100 + 110 + 118 + 117 + 109)/5 = 110.8, above the stop 108.
    assert feed(nxt(13, 109, 109)) == [
        CancelOrder("i2", A, Reason.EXIT),
        ExitMarket("i3", A, "Sell", D("18.1818"), Reason.EXIT),
    ]


def test_stop_fill_ends_the_trade() -> None:
    s, c, stop = opened()
    assert s.on_fill(fill_for(stop, 99, c.now), c) == []
    assert s.book.get(A) is None


def test_flatten_only_on_command() -> None:
    s, c, _stop = opened()
    assert s.flatten(c) == [
        CancelOrder("i2", A, Reason.KILL),
        ExitMarket("i3", A, "Sell", D("18.1818"), Reason.KILL),
    ]


# -- account risk --------------------------------------------------------------------------------

MON = datetime(2024, 1, 1, tzinfo=UTC)
ROOMY = SMALL | {"max_positions": 10}


def decide_at(
    s: Momentum, c: StrategyContext, symbol: str, end: datetime, equity: object
) -> list[Intent]:
    breakout(s, c, symbol, end=end)
    c.equity = D(equity)
    return s.on_timer(c)


def test_daily_loss_3pct_blocks_entries_that_day() -> None:
    s, c = Momentum(ROOMY), context()
    assert decide_at(s, c, A, MON + 2 * H4, 10_000) == [enter("18.1818", A)]
    assert decide_at(s, c, B, MON + 4 * H4, 9_700) == []  # −3 % since the day's first equity
    # Tuesday: new day anchored at 9,700 (−3 % on the week only): 1,940 / 110.
    assert decide_at(s, c, C, MON + 7 * H4, 9_700) == [enter("17.6363", C, "i2")]


def test_weekly_loss_8pct_halves_size() -> None:
    s, c = Momentum(ROOMY), context()
    assert decide_at(s, c, A, MON + 2 * H4, 10_000) == [enter("18.1818", A)]
    # Tuesday at 9,200: −8 % on the week → 9,200 × 20 % × 0.5 = 920 / 110.
    assert decide_at(s, c, B, MON + 7 * H4, 9_200) == [enter("8.3636", B, "i2")]
    # Next Monday: a new week, full size again: 1,840 / 110.
    assert decide_at(s, c, C, MON + timedelta(days=7, hours=8), 9_200) == [
        enter("16.7272", C, "i3")
    ]


def test_monthly_loss_15pct_halts_for_the_month() -> None:
    s, c = Momentum(ROOMY), context()
    assert decide_at(s, c, A, MON + 2 * H4, 10_000) == [enter("18.1818", A)]
    # 15 January (a new week and day): −15 % on the month.
    assert decide_at(s, c, B, datetime(2024, 1, 15, 8, tzinfo=UTC), 8_500) == []
    # 1 February: new month: 1,700 / 110.
    feb = datetime(2024, 2, 1, 8, tzinfo=UTC)
    assert decide_at(s, c, C, feb, 8_500) == [enter("15.4545", C, "i2")]


def test_no_timer_entries_without_fresh_signals() -> None:
    s, c = Momentum(SMALL), context()
    assert s.on_timer(c) == []


def test_loss_before_the_first_signal_of_the_day_counts() -> None:
    # The day starts at 10,000 (the 00:00 candle closes with no signal), drops to 9,650
    # by 04:00, still no signal; the 08:00 breakout must be refused: −3.5 % on the day.
    # Anchoring at the first *signal* (9,650 → 9,600 is −0.5 %) would let it through.
    s, c = Momentum(ROOMY), context()
    for hours, equity in ((0, 10_000), (4, 9_650)):
        c.now, c.equity = MON + timedelta(hours=hours), D(equity)
        assert s.on_timer(c) == []
    assert decide_at(s, c, A, MON + 2 * H4, 9_600) == []


def test_a_loss_between_fills_counts_without_a_candle() -> None:
    # Equity seen on a fill counts too: a fill at 10:00 at 9,650 after 10,000 at 00:00.
    s, c = Momentum(ROOMY), context()
    c.now, c.equity = MON, D(10_000)
    s.on_timer(c)
    c.now, c.equity = MON + timedelta(hours=10), D(9_650)
    s.on_fill(FillEvent(B, "Sell", D(100), D(1), D(0), Reason.EXIT, "manual", c.now), c)
    assert decide_at(s, c, A, MON + 3 * H4, 9_660) == []
