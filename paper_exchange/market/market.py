"""The market: every symbol's series walked in time order, feeding the engine.

``advance_to(t)`` plays every intra-candle point up to simulated time ``t`` across all
symbols in time order, settles funding at each 8-hour boundary, and then tells its
listeners (the public WebSocket) that prices moved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from pathlib import Path

from paper_exchange.engine.exchange import Engine
from paper_exchange.engine.instruments import (
    DEFAULT_INSTRUMENTS,
    Instrument,
    instrument_for_price,
)
from paper_exchange.engine.turnover import minute_turnover
from paper_exchange.market.csvfeed import CsvCandle, base_interval_ms, load_csv
from paper_exchange.market.generator import MEAN_VOLUME_FACTOR, Candle, Generator
from paper_exchange.market.series import Series

MINUTE_MS = 60_000
FUNDING_MS = 8 * 3_600_000


def to_ticks(price: Decimal, tick: Decimal) -> int:
    return max(1, int((price / tick).to_integral_value(ROUND_HALF_UP)))


def base_volume_steps(inst: Instrument) -> int:
    """The generator's base volume (qty steps a minute) for ``inst``: what makes an
    ordinary minute trade the symbol's ``turnover.minute_turnover`` at its start price,
    so the tickers' ``turnover24h`` and the flow resting limits fill from agree."""
    usdt = minute_turnover(inst.symbol) / Decimal(str(MEAN_VOLUME_FACTOR))
    return max(1, int(usdt / inst.start_price / inst.qty_step))


class _GeneratedSource:
    def __init__(self, gen: Generator) -> None:
        self._gen = gen

    def next_candle(self, index: int, start: int, open_ticks: int) -> Candle:
        return self._gen.next_candle(index, open_ticks)


class _CsvSource:
    """Replays the file; after its last candle a random walk carries on from the close."""

    def __init__(self, rows: dict[int, Candle], fallback: Generator) -> None:
        self._rows = rows
        self._fallback = fallback

    def next_candle(self, index: int, start: int, open_ticks: int) -> Candle:
        row = self._rows.get(start)
        if row is not None:
            return row
        return self._fallback.next_candle(index, open_ticks)


@dataclass(slots=True)
class MarketConfig:
    seed: int = 1
    scenario: str = "random_walk"
    history_minutes: int = 1440
    market_files: tuple[Path, ...] = ()
    start_ms: int | None = None  # None: now (generator) or the file's history point (CSV)


class Market:
    def __init__(self, engine: Engine, config: MarketConfig, now_ms: int) -> None:
        self.engine = engine
        self.series: dict[str, Series] = {}
        self.listeners: list[Callable[[], None]] = []
        csv_data: dict[str, list[CsvCandle]] = {}
        for path in config.market_files:
            csv_data.update(load_csv(path))
        start = config.start_ms
        if start is None:
            if csv_data:
                # Start after up to history_minutes of the file, so bots can warm up on it.
                first = min(rows[0].start for rows in csv_data.values())
                longest = max(csv_data.values(), key=len)
                base = base_interval_ms(longest)
                bars = min(len(longest) - 1, max(1, config.history_minutes * MINUTE_MS // base))
                start = first + bars * base
            else:
                start = now_ms
        known = {i.symbol: i for i in DEFAULT_INSTRUMENTS}
        for symbol, rows in csv_data.items():
            if symbol not in known:
                inst = instrument_for_price(symbol, rows[0].open)
                known[symbol] = inst
                engine.add_instrument(inst)
        for inst in known.values():
            if inst.symbol not in engine.instruments:
                engine.add_instrument(inst)
        for symbol, inst in known.items():
            rows = csv_data.get(symbol, [])
            base_ms = base_interval_ms(rows) if rows else MINUTE_MS
            aligned = start - start % base_ms
            history = max(0, config.history_minutes * MINUTE_MS // base_ms)
            first_start = aligned - history * base_ms
            volume = base_volume_steps(inst)
            gen = Generator(config.seed, symbol, config.scenario, history, volume)
            if rows:
                tick = inst.tick_size
                first_start = max(first_start, rows[0].start - rows[0].start % base_ms)
                data = {
                    r.start: (
                        to_ticks(r.open, tick),
                        to_ticks(r.high, tick),
                        to_ticks(r.low, tick),
                        to_ticks(r.close, tick),
                        max(0, int(r.volume / inst.qty_step)),
                    )
                    for r in rows
                }
                first_open = data.get(first_start, (to_ticks(rows[0].open, tick),))[0]
                source: _CsvSource | _GeneratedSource = _CsvSource(data, gen)
            else:
                first_open = to_ticks(inst.start_price, inst.tick_size)
                source = _GeneratedSource(gen)
            series = Series(inst, base_ms, source, first_start, first_open)
            self.series[symbol] = series
        # Pre-generate the history silently: nobody can have orders before "now".
        self.now_ms = min(s.start for s in self.series.values())
        self._next_funding = (self.now_ms // FUNDING_MS + 1) * FUNDING_MS
        self._replay_history(start)
        self.now_ms = start
        self._next_funding = (start // FUNDING_MS + 1) * FUNDING_MS

    def _replay_history(self, until: int) -> None:
        for series in self.series.values():
            while series.next_point_time() <= until:
                series.step(_ignore)
            self.engine.reset_price(series.symbol, series.last_price, until)

    # -- time --------------------------------------------------------------------------

    @property
    def next_funding_ms(self) -> int:
        """When the next scheduled funding settlement falls (every 8 hours from 00:00 UTC)."""
        return self._next_funding

    def advance_to(self, target: int, *, notify: bool = True) -> bool:
        """Play the market up to ``target``; returns whether anything happened."""
        if target <= self.now_ms:
            return False
        engine = self.engine
        series_list = list(self.series.values())
        while True:
            nxt = min(s.next_point_time() for s in series_list)
            if self._next_funding <= target and self._next_funding <= nxt:
                self.now_ms = self._next_funding
                engine.apply_funding()
                self._next_funding += FUNDING_MS
                continue
            if nxt > target:
                break
            self.now_ms = nxt
            for s in series_list:
                if s.next_point_time() == nxt:
                    s.step(partial(_trade, engine, s))
        self.now_ms = target
        if notify:
            self.notify()
        return True

    def notify(self) -> None:
        for listener in self.listeners:
            listener()

    def next_event_time(self) -> int:
        return min(s.next_point_time() for s in self.series.values())

    def set_price(self, symbol: str, price: Decimal, qty: Decimal | None = None) -> None:
        """Trade at ``price`` now: fills and triggers whatever the move crosses. ``qty``
        is the traded quantity resting limits can fill from (``Liquidity.flow_limited``);
        without it they fill as if the move had no volume limit."""
        series = self.series[symbol]
        ticks = to_ticks(price, series.inst.tick_size)
        series.force_price(ticks)
        self.engine.on_trade(symbol, series.price(ticks), qty)
        self.notify()


def _ignore(_t: int, _ticks: int, _vol: int) -> None:
    return None


def _trade(engine: Engine, series: Series, _time: int, ticks: int, vol: int) -> None:
    """One point of a series' path is a market trade the engine matches against; its
    volume is the flow resting limits can fill from."""
    engine.on_trade(series.symbol, series.price(ticks), vol * series.inst.qty_step)
