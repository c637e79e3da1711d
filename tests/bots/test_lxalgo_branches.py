"""LXAlgo (docs/strategies.md#lxalgo) on hand-built 5-minute candles: the pump gate, each score
component, Rule 8 / Rule 6 / none, every entry gate, sizing with the weekly multiplier, the
exits (TP, SL, break-even, trailing, 8 h negative, 72 h) and the account risk rules.

Most tests shrink the periods (RSI 2, volatility 3, change 4, pump look-back 2, 5 bars)
so the indicator values can be worked out by hand; the rules do not depend on them. One
test runs the spec defaults on 150 bars.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots.lxalgo import LXAlgo
from core.candles import Candle
from core.strategy import (
    AmendStop,
    CancelOrder,
    EnterMarket,
    ExitMarket,
    Intent,
    PlaceStop,
    PlaceTakeProfit,
    Reason,
    StrategyContext,
    TriggerDirection,
)

from .helpers import T0, D, candle, ctx, fill_for

X = "XUSDT"
SMALL: dict[str, object] = {
    "symbols": [X],
    "rsi_period": 2,
    "volatility_period": 3,
    "change_period": 4,
    "pump_lookback": 2,
    "min_bars": 5,
}
#: Every pump is a signal: rule 8 when the bar's spread < 4 %, else rule 6.
GATES = SMALL | {"rule8_min_score": 0, "rule6_rsi": -1, "rule6_volatility": -1}
FIVE = timedelta(minutes=5)

# (open, high, low, close, volume). Closes 100, 101, 100, 104, 110.
BASE = [
    (100, 100, 100, 100, 100),
    (100, 102, 99, 101, 100),
    (101, 101, 99, 100, 100),
    (100, 104, 100, 104, 120),
]
PUMP = (109, 111, 108, 110, 300)
# By hand, for BASE + PUMP:
#   pump gate: (110 − open[t−2] = 101) / 101 = 8.91 % ≥ 8
#   RSI(2) Wilder: changes +1, −1 → avg gain 0.5, loss 0.5; +4 → 2.25, 0.25; +6 → 4.125,
#     0.125 → RSI = 100 − 100 / (1 + 33) = 97.0588…
#   spread = (111 − 108) / 110 = 2.7272… %; price change = (110 − 100) / 100 = 10 %;
#   volume change = (300 − 100) / 100 = 200 %
#   volatility = stdev(100/101 − 1, 104/100 − 1, 110/104 − 1) × 100 = 3.5052… %
RSI = 100 - Decimal(100) / 34
VOLATILITY = (
    statistics.stdev([D(100) / 101 - 1, D(104) / 100 - 1, D(110) / 104 - 1]) * 100  # type: ignore[type-var]
)


def bars(
    rows: list[tuple[object, ...]], symbol: str = X, start: int = 0, t0: datetime = T0
) -> list[Candle]:
    return [candle(start + i, *r, symbol=symbol, t0=t0) for i, r in enumerate(rows)]  # type: ignore[misc]


def context(equity: object = 10_000, symbols: tuple[str, ...] = (X,)) -> StrategyContext:
    return ctx(T0, equity, symbols)


def feed(s: LXAlgo, c: StrategyContext, k: Candle, equity: object | None = None) -> list[Intent]:
    c.now = k.end
    if equity is not None:
        c.equity = D(equity)
    return s.on_candle(k, c)


def decide(
    config: dict[str, object], pump: tuple[object, ...] = PUMP
) -> tuple[LXAlgo, list[Intent]]:
    s, c = LXAlgo(config), context()
    s.warm_up(bars(BASE))  # type: ignore[arg-type]
    return s, feed(s, c, bars([pump], start=4)[0])


def entry(qty: str, symbol: str = X, intent_id: str = "i1") -> list[Intent]:
    return [EnterMarket(intent_id, symbol, "Buy", D(qty))]


# -- the signal ------------------------------------------------------------------------------


def test_rule_8_with_every_component_true() -> None:
    assert RSI > 60 and D("0.005") < VOLATILITY
    s, out = decide(SMALL)
    assert out == entry("1.8181")  # 200 USDT / 110, floored to 0.0001
    assert s.book.get(f"{X}/8") is not None


@pytest.mark.parametrize(
    ("close", "enters"), [("109.08", True), ("109.07", False)]
)  # 101 × 1.08 = 109.08
def test_pump_gate_is_required(close: str, enters: bool) -> None:
    _s, out = decide(SMALL, (109, 111, 108, close, 300))
    assert out == (entry(str(D(200) / D(close) // D("0.0001") * D("0.0001"))) if enters else [])


def test_not_before_min_bars() -> None:
    _s, out = decide(SMALL | {"min_bars": 6})
    assert out == []


DISABLED: dict[str, object] = {
    "score_rsi": 100,
    "score_volume_change": 10**6,
    "score_spread": 0,
    "score_volatility": 10**6,
    "score_price_change": 10**6,
    "rule8_min_score": 1,
    "rule8_max_spread": 100,
    "rule6_rsi": 100,  # no rule 6: only the one enabled component can make a signal
}


@pytest.mark.parametrize(
    ("field", "passes", "fails"),
    [
        ("score_rsi", "97.05", "97.06"),  # RSI 97.0588 > threshold
        ("score_volume_change", "199", "200"),  # 200 % > threshold (strict)
        ("score_spread", "2.73", "2.72"),  # 2.7272 % < threshold
        ("score_volatility", "3.50", "3.51"),  # 3.5052 % > threshold
        ("score_price_change", "9.99", "10"),  # 10 % > threshold (strict)
    ],
)
def test_each_score_component(field: str, passes: str, fails: str) -> None:
    assert D("3.50") < VOLATILITY < D("3.51") and D("97.05") < RSI < D("97.06")
    s, out = decide(SMALL | DISABLED | {field: passes})
    assert out == entry("1.8181") and s.book.get(f"{X}/8") is not None  # score 1 ≥ 1
    _s, out = decide(SMALL | DISABLED | {field: fails})
    assert out == []  # score 0


def test_rule_6_when_spread_too_wide_for_rule_8() -> None:
    # spread = (113 − 108) / 110 = 4.545 % ≥ 4: not rule 8; RSI 97 > 55, volatility > 0.008.
    s, out = decide(SMALL, (109, 113, 108, 110, 300))
    assert out == entry("1.8181") and s.book.get(f"{X}/6") is not None


def test_rule_8_spread_bound_is_strict() -> None:
    # spread = 4.4 / 110 = exactly 4 %: rule 8 refused, rule 6 taken.
    s, _out = decide(SMALL, (109, "112.4", 108, 110, 300))
    assert s.book.get(f"{X}/6") is not None and s.book.get(f"{X}/8") is None


def test_no_signal_when_rule_6_rsi_fails() -> None:
    _s, out = decide(SMALL | {"rule6_rsi": 98}, (109, 113, 108, 110, 300))
    assert out == []


def test_score_below_2_and_rule_6_volatility_fails() -> None:
    # Only spread < 3 counts (score 1 < 2); rule 6 needs volatility > 4 (3.5052): none.
    config = SMALL | {
        "score_rsi": 100,
        "score_volume_change": 10**6,
        "score_volatility": 10**6,
        "score_price_change": 10**6,
        "rule6_volatility": 4,
    }
    _s, out = decide(config)
    assert out == []
    # With the rule 6 volatility threshold below 3.5052 the same bar is a rule 6 entry.
    s, out = decide(config | {"rule6_volatility": "3.5"})
    assert out == entry("1.8181") and s.book.get(f"{X}/6") is not None


def test_spec_defaults_150_bars() -> None:
    # 138 flat bars at 100, then +1 per bar: bar 149 closes 112, open[t−12] = 100 (+12 %).
    rows: list[tuple[object, ...]] = [(100, 100, 100, 100, 100)] * 138
    rows += [(99 + k, 100 + k, 99 + k, 100 + k, 100) for k in range(1, 12)]
    rows += [(111, 112, 111, 112, 200)]  # spread 0.89 %, volume +100 % vs bar 5
    assert len(rows) == 150
    candles = bars(rows)
    s, c = LXAlgo({"symbols": [X]}), context()
    s.warm_up(candles[:148])
    assert feed(s, c, candles[148]) == []  # 149 bars: +11 % pump, but < 150 bars
    # RSI 100 (no losses), volatility > 0, spread < 3, +12 % price, +100 % volume: rule 8.
    assert feed(s, c, candles[149]) == entry("1.7857")  # 200 / 112 = 1.78571…


# -- gates ------------------------------------------------------------------------------------


FLAT = (100, 100, 100, 100, 100)
RULE8 = (109, 110, 109, 110, 100)  # spread 0.91 %
RULE6 = (109, 110, 100, 110, 100)  # spread 9.09 %


def at(i: int) -> datetime:
    return T0 + FIVE * (i + 1)  # close time of bar i


def test_one_entry_per_symbol_per_4h_bucket_and_per_symbol_rule() -> None:
    s, c = LXAlgo(GATES), context()
    rows = {i: FLAT for i in range(96)} | {4: RULE8, 46: RULE6, 47: RULE6, 95: RULE8}
    got = {i: feed(s, c, k) for i, k in enumerate(bars([rows[i] for i in range(96)]))}
    assert at(4) == datetime(2024, 1, 1, 0, 25, tzinfo=UTC)
    assert got[4] == entry("1.8181")
    assert at(46) == datetime(2024, 1, 1, 3, 55, tzinfo=UTC)
    assert got[46] == []  # rule 6 is not open, but the 00–04 bucket already has an entry
    assert at(47) == datetime(2024, 1, 1, 4, 0, tzinfo=UTC)
    assert got[47] == entry("1.8181", intent_id="i2")  # 04–08 bucket: (X, 6) enters
    assert got[95] == []  # 08–12 bucket, but (X, 8) is still open
    assert {k for k in s.book.trades} == {f"{X}/8", f"{X}/6"}
    assert all(got[i] == [] for i in got if i not in (4, 47))


def test_at_most_20_open_trades() -> None:
    symbols = [f"S{n:02}USDT" for n in range(21)]
    s, c = LXAlgo(GATES | {"symbols": symbols}), context(symbols=tuple(symbols))
    for sym in symbols:
        s.warm_up(bars([FLAT] * 4, symbol=sym))
    outs = [feed(s, c, bars([RULE8], symbol=sym, start=4)[0]) for sym in symbols]
    assert outs[:20] == [entry("1.8181", sym, f"i{n + 1}") for n, sym in enumerate(symbols[:20])]
    assert outs[20] == []
    assert len(s.book) == 20


def pump_at(
    s: LXAlgo,
    c: StrategyContext,
    symbol: str,
    end: datetime,
    equity: object,
    row: tuple[object, ...] = RULE8,
) -> list[Intent]:
    """Four flat warm-up bars of ``symbol`` then a pump bar closing at ``end``."""
    t0 = end - 5 * FIVE
    s.warm_up(bars([FLAT] * 4, symbol=symbol, t0=t0))
    return feed(s, c, bars([row], symbol=symbol, start=4, t0=t0)[0], equity)


SYMS = ("AUSDT", "BUSDT", "CUSDT", "DUSDT")
MON = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def test_weekly_drawdown_4pct_halves_size_until_half_recovered() -> None:
    s, c = LXAlgo(GATES | {"symbols": list(SYMS)}), context(symbols=SYMS)
    assert pump_at(s, c, "AUSDT", MON + timedelta(hours=1), 10_000) == entry("1.8181", "AUSDT")
    # Tuesday: −4 % on the week → 100 USDT / 110.
    tue = MON + timedelta(days=1, hours=1)
    assert pump_at(s, c, "BUSDT", tue, 9_600) == entry("0.9090", "BUSDT", "i2")
    # 9,700: loss 300 > half of 400: still halved.
    assert pump_at(s, c, "CUSDT", tue + timedelta(hours=4), 9_700) == entry("0.9090", "CUSDT", "i3")
    # 9,800: loss 200 ≤ 200: full size again.
    assert pump_at(s, c, "DUSDT", tue + timedelta(hours=8), 9_800) == entry("1.8181", "DUSDT", "i4")


def _filled(
    s: LXAlgo, c: StrategyContext, out: list[Intent], price: object = 110
) -> tuple[PlaceStop, PlaceTakeProfit]:
    (ent,) = out
    stop, tp = s.on_fill(fill_for(ent, price, c.now), c)
    assert isinstance(stop, PlaceStop) and isinstance(tp, PlaceTakeProfit)
    return stop, tp


def test_daily_drawdown_2pct_closes_all_and_pauses_until_0001() -> None:
    s, c = LXAlgo(GATES | {"symbols": ["AUSDT", "BUSDT"]}), context(symbols=("AUSDT", "BUSDT"))
    stop, tp = _filled(s, c, pump_at(s, c, "AUSDT", MON + timedelta(hours=1), 10_000))
    # 9,800 the same day (−2 % from the day's first equity): close all, no entry.
    out = pump_at(s, c, "BUSDT", MON + timedelta(hours=12), 9_800)
    assert out == [
        CancelOrder(stop.intent_id, "AUSDT", Reason.EXIT),
        CancelOrder(tp.intent_id, "AUSDT", Reason.EXIT),
        ExitMarket("i4", "AUSDT", "Sell", D("1.8181"), Reason.EXIT),
    ]
    # Paused through the bar closing at 00:00 next day; the 00:05 bar may enter.
    tue = MON + timedelta(days=1)
    quiet, pump0, pump1 = bars([FLAT, FLAT, RULE8, RULE8], symbol="BUSDT", t0=tue - 3 * FIVE)[1:]
    s.warm_up([quiet])
    assert pump0.end == tue and feed(s, c, pump0) == []
    assert feed(s, c, pump1) == entry("1.8181", "BUSDT", "i5")


def test_weekly_drawdown_6pct_closes_all_and_halts_until_monday_0001() -> None:
    s, c = LXAlgo(GATES | {"symbols": list(SYMS)}), context(symbols=SYMS)
    stop, tp = _filled(s, c, pump_at(s, c, "AUSDT", MON + timedelta(hours=1), 10_000))
    # Wednesday's first equity is 9,400: 0 % on the day, 6 % on the week: close all.
    wed = MON + timedelta(days=2, hours=1)
    assert pump_at(s, c, "BUSDT", wed, 9_400) == [
        CancelOrder(stop.intent_id, "AUSDT", Reason.EXIT),
        CancelOrder(tp.intent_id, "AUSDT", Reason.EXIT),
        ExitMarket("i4", "AUSDT", "Sell", D("1.8181"), Reason.EXIT),
    ]
    next_monday = MON + timedelta(days=7)
    assert pump_at(s, c, "CUSDT", next_monday - FIVE, 9_400) == []  # Sunday 23:55
    assert pump_at(s, c, "DUSDT", next_monday, 9_400) == []  # closes 00:00: still halted
    # 00:05 Monday: a new week anchored at 9,400, full size.
    assert feed(
        s, c, bars([RULE8], symbol="DUSDT", start=5, t0=next_monday - 5 * FIVE)[0]
    ) == entry("1.8181", "DUSDT", "i5")


# -- exits -------------------------------------------------------------------------------------


def opened(
    config: dict[str, object] = SMALL,
) -> tuple[LXAlgo, StrategyContext, PlaceStop, PlaceTakeProfit]:
    """Entry on bar 4 (closes 00:25), filled at 100: stop 92, take profit 130."""
    s, c = LXAlgo(config), context()
    s.warm_up(bars(BASE))  # type: ignore[arg-type]
    out = feed(s, c, bars([PUMP], start=4)[0])
    stop, tp = _filled(s, c, out, 100)
    return s, c, stop, tp


def flat(i: int, close: object, high: object | None = None) -> Candle:
    h = close if high is None else high
    return candle(i, close, h, close, close, 100, symbol=X)


def _exit(reason: Reason) -> list[Intent]:
    return [
        CancelOrder("i2", X, reason),
        CancelOrder("i3", X, reason),
        ExitMarket("i4", X, "Sell", D("1.8181"), reason),
    ]


def test_stop_and_take_profit_placed_after_entry_fill() -> None:
    _s, _c, stop, tp = opened()
    qty = D("1.8181")
    assert stop == PlaceStop("i2", X, "Sell", qty, D(92), TriggerDirection.FALL, Reason.SL, "i3")
    assert tp == PlaceTakeProfit(
        "i3", X, "Sell", qty, D(130), TriggerDirection.RISE, Reason.TP, "i2"
    )


def test_take_profit_30pct() -> None:
    s, c, *_ = opened()
    # 129.99: break-even and trailing (10 % under 129.99) move the stop, no exit yet.
    assert feed(s, c, flat(5, "129.99")) == [
        AmendStop("i2", X, D(100), reason=Reason.BREAK_EVEN),
        AmendStop("i2", X, D("116.991"), reason=Reason.TRAIL),
    ]
    assert feed(s, c, flat(6, 130)) == _exit(Reason.TP)


def test_stop_loss_8pct() -> None:
    s, c, *_ = opened()
    assert feed(s, c, flat(5, "92.01")) == []
    assert feed(s, c, flat(6, 92)) == _exit(Reason.SL)


def test_sibling_cancel() -> None:
    s, c, stop, tp = opened()
    assert s.on_fill(fill_for(stop, 92, c.now), c) == [CancelOrder("i3", X, Reason.SL)]
    s, c, stop, tp = opened()
    assert s.on_fill(fill_for(tp, 130, c.now), c) == [CancelOrder("i2", X, Reason.TP)]


def test_break_even_at_8pct() -> None:
    s, c, *_ = opened()
    assert feed(s, c, flat(5, "107.99")) == []
    assert feed(s, c, flat(6, 108)) == [AmendStop("i2", X, D(100), reason=Reason.BREAK_EVEN)]
    assert feed(s, c, flat(7, 109)) == []  # already at break-even
    assert feed(s, c, flat(8, 100)) == _exit(Reason.BREAK_EVEN)  # close ≤ the moved stop


def test_trailing_10pct_activates_at_20pct() -> None:
    s, c, *_ = opened()
    assert feed(s, c, flat(5, 110)) == [AmendStop("i2", X, D(100), reason=Reason.BREAK_EVEN)]
    assert feed(s, c, flat(6, "119.99", high=121)) == []  # +19.99 %: not active yet
    # +20 %: the stop trails 10 % under the highest high since entry (121): 108.9.
    assert feed(s, c, flat(7, 120)) == [AmendStop("i2", X, D("108.9"), reason=Reason.TRAIL)]
    assert feed(s, c, flat(8, 124, high=125)) == [
        AmendStop("i2", X, D("112.5"), reason=Reason.TRAIL)
    ]
    assert feed(s, c, flat(9, 122, high=123)) == []  # never lowered
    assert feed(s, c, flat(10, "112.5")) == _exit(Reason.TRAIL)


def test_close_if_negative_after_8h() -> None:
    s, c, *_ = opened()  # filled at 00:25
    for i in range(5, 101):
        assert feed(s, c, flat(i, 99)) == []
    assert at(100) - at(4) == timedelta(hours=8)  # exactly 8 h: kept
    assert feed(s, c, flat(101, 99)) == _exit(Reason.TIME)


def test_positive_trade_kept_after_8h_and_closed_after_72h() -> None:
    s, c, *_ = opened()
    for i in range(5, 869):
        assert feed(s, c, flat(i, 101)) == []
    assert at(868) - at(4) == timedelta(hours=72)
    assert feed(s, c, flat(869, 101)) == _exit(Reason.TIME)


def test_flatten() -> None:
    s, c, *_ = opened()
    assert s.flatten(c) == _exit(Reason.KILL)
