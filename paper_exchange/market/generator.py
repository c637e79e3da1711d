"""Seeded, deterministic candle generation with named scenarios.

Prices are integers of ticks so generation is exact and fast; a scenario is a list of
segments (minutes, drift per minute, volatility multiplier) played from the start of the
simulation, after the pre-generated history, so bots see it happen live.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

BASE_SIGMA = 0.0008  # per-minute volatility of the random walk
#: The mean of a candle's volume over the base volume on an ordinary minute (no drift,
#: volatility 1): ``0.3 + random()`` averages 0.8.
MEAN_VOLUME_FACTOR = 0.8


@dataclass(frozen=True, slots=True)
class Segment:
    minutes: int
    drift: float  # fraction of price per minute
    vol: float = 1.0


SCENARIOS: dict[str, tuple[Segment, ...]] = {
    "random_walk": (),
    "trend_up": (Segment(2880, 0.0003, 0.8),),
    "trend_down": (Segment(2880, -0.0003, 0.8),),
    "pump": (Segment(60, 0.0, 0.5), Segment(20, 0.004, 2.0), Segment(90, -0.0005, 1.5)),
    "squeeze_breakout": (
        Segment(180, 0.0, 0.2),
        Segment(30, 0.002, 2.5),
        Segment(240, 0.0003, 1.0),
    ),
    "order_block": (
        Segment(90, -0.0006, 1.0),  # down leg to a swing low
        Segment(15, -0.0001, 0.4),  # the last down candles before the impulse: the order block
        Segment(40, 0.0025, 1.5),  # impulse up, breaking the previous swing high
        Segment(60, -0.0009, 0.8),  # retrace into the order block zone
        Segment(240, 0.0008, 1.0),  # continuation
    ),
    # ``alpha demo``: one short session in which every bundled strategy (with the demo's
    # short-interval configs, demo/services.py) finds an entry and an exit, on every symbol.
    "demo": (
        Segment(30, 0.0, 1.0),  # ordinary noise: swings for order-block, EMA crosses
        Segment(35, 0.0, 0.15),  # squeeze: Bollinger width collapses (Momentum)
        Segment(15, 0.003, 2.0),  # breakout on heavy volume: +4-5 % (Momentum, LXAlgo pump)
        Segment(20, 0.0, 1.0),  # top: momentum fades
        Segment(90, -0.0008, 1.2),  # down-trend: closes below both EMAs (ShortSeller),
        #                             longs stop out or fall below SMA20
        Segment(60, 0.0006, 1.0),  # recovery: the shorts' regime ends
    ),
}

# Production parameters decide on 5-minute (ShortSeller, LXAlgo), 15-minute (order-block)
# and 4-hour (Momentum) candles. One cycle of "production" gives each its moves, on every
# symbol at once; it expects ~20 days of history (``--history-minutes 28800``) so that
# Momentum's 110 four-hour bars are warm before it starts.
_PRODUCTION_CYCLE = (
    Segment(5040, 0.0, 0.2),  # 3.5 days of squeeze: 4-hour Bollinger width collapses
    Segment(240, 0.00015, 1.0),  # a 4-hour breakout bar, +3.6 % on heavy volume (Momentum)
    Segment(1440, 0.00003, 0.8),  # a day of follow-through
    Segment(60, 0.0015, 2.0),  # a pump, +9 % in an hour on heavy volume (LXAlgo)
    Segment(720, 0.0, 1.0),  # the top: swings and pivots (order-block)
    Segment(2880, -0.00005, 1.2),  # two days down: closes below both EMAs (ShortSeller),
    #                                the longs trail out or close below SMA20 (Momentum)
    Segment(1440, 0.00003, 1.0),  # recovery
)
SCENARIOS["production"] = _PRODUCTION_CYCLE * 2


Candle = tuple[int, int, int, int, int]  # open, high, low, close (ticks), volume (qty steps)


class Generator:
    def __init__(
        self,
        seed: int,
        symbol: str,
        scenario: str,
        start_index: int,
        base_volume_steps: int,
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        self._rng = random.Random(f"{seed}:{symbol}")
        self._segments = SCENARIOS[scenario]
        self._start_index = start_index  # candle index at which the scenario begins
        self._volume = max(1, base_volume_steps)

    def _segment(self, index: int) -> Segment | None:
        offset = index - self._start_index
        if offset < 0:
            return None
        for seg in self._segments:
            if offset < seg.minutes:
                return seg
            offset -= seg.minutes
        return None

    def next_candle(self, index: int, open_ticks: int) -> Candle:
        rng = self._rng
        seg = self._segment(index)
        drift, vol = (seg.drift, seg.vol) if seg else (0.0, 1.0)
        sigma = BASE_SIGMA * vol
        move = open_ticks * (drift + sigma * rng.gauss(0.0, 1.0))
        close = max(10, open_ticks + round(move))
        top = max(open_ticks, close)
        bottom = min(open_ticks, close)
        high = top + round(abs(rng.gauss(0.0, 1.0)) * open_ticks * sigma * 0.5)
        low = max(1, bottom - round(abs(rng.gauss(0.0, 1.0)) * open_ticks * sigma * 0.5))
        volume = max(1, round(self._volume * (0.3 + rng.random()) * (1 + abs(drift) * 500) * vol))
        return open_ticks, high, low, close, volume
