"""Live and backtest agree: the same candles through ``Backtest`` and through the live
host on the paper exchange give the same entries and exits.

Order-block with its production parameters (only the candle interval is the harness's
one minute) over 500 bars of the bundled 5-minute sample, scaled to BTC prices: 300
warm them up, 200 play live. What the two fill models make differ, measured here:

- an exit may come one bar earlier live: a stop placed when the entry fills can be
  crossed later in that same bar on the paper exchange, while the backtest arms orders
  placed during a bar from the next bar on (it does not know the path inside a bar);
- prices: the backtest fills a trigger at its price, the paper exchange at the bid or
  ask where its path crosses it (its path visits only open, low, high and close, so a
  stop can fill at the bar's extreme). The test prints the difference and bounds it.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bots.backtest.engine import Backtest
from core import plugins
from core.candles import Candle
from core.instruments import Instrument
from tests.bots.e2e.harness import MINUTE, T0_MS, ZERO, stack

SAMPLE = Path(__file__).resolve().parents[3] / "bots" / "samples" / "btcusdt_5m.csv"
FIRST, WARMUP, LIVE = 800, 300, 200  # a window with take profits and a stop loss
TICK = Decimal("0.1")
#: The paper exchange's BTCUSDT rules, so both round prices and sizes alike.
BTCUSDT = Instrument(
    symbol="BTCUSDT", tick_size=TICK, qty_step=Decimal("0.001"),
    min_order_qty=Decimal("0.001"), min_notional=Decimal(5),
)  # fmt: skip
#: Fill-model difference allowed per fill, in basis points of price.
MAX_BPS = Decimal(5)


def sample_bars(
    first: int = FIRST, scale: int = 600, tick: Decimal = TICK
) -> list[tuple[Decimal, Decimal, Decimal, Decimal]]:
    with SAMPLE.open() as fh:
        rows = list(csv.DictReader(fh))[first : first + WARMUP + LIVE]
    bars = []
    for row in rows:
        o, h, lo, c = (
            (Decimal(row[k]) * scale).quantize(tick) for k in ("open", "high", "low", "close")
        )
        bars.append((o, max(h, o, c), min(lo, o, c), c))
    return bars


def as_candles(bars: list[tuple[Decimal, Decimal, Decimal, Decimal]]) -> list[Candle]:
    return [
        Candle(
            symbol="BTCUSDT",
            interval="1",
            start=datetime.fromtimestamp((T0_MS + i * MINUTE) / 1000, tz=UTC),
            open=o,
            high=h,
            low=lo,
            close=c,
            volume=Decimal(10),
            turnover=Decimal(10) * c,
        )
        for i, (o, h, lo, c) in enumerate(bars)
    ]


def bar_of(moment: datetime) -> int:
    return int((moment.timestamp() * 1000 - T0_MS) // MINUTE)


def test_orderblock_live_and_backtest_agree(database, redis, tmp_path) -> None:
    bars = sample_bars()
    config = plugins.validate_config("orderblock", {"symbols": ["BTCUSDT"], "interval": "1"})
    strategy = plugins.load("orderblock")(config)
    result = Backtest(strategy, {"BTCUSDT": BTCUSDT}).run(as_candles(bars), warmup=WARMUP)
    expected = [(f.side, f.reason.label, bar_of(f.exec_time), f.price) for f in result.fills]
    assert len(result.trades) >= 3, "the window must hold several round trips"

    with stack(database, tmp_path, bars, history=WARMUP) as s:
        s.register("ob_live", "obl", "orderblock", {}, redis_db=4)
        s.start_bot("ob_live")
        s.play(LIVE)
        with s.database.connect("readonly") as conn:
            rows = conn.execute(
                "SELECT side, reason, exec_time, exec_price FROM trading.fills"
                " WHERE bot_id = 'ob_live' ORDER BY exec_time, seq, exec_id"
            ).fetchall()
    live = [(side, reason, bar_of(t), price) for side, reason, t, price in rows]

    assert [f[:2] for f in live] == [f[:2] for f in expected], (live, expected)
    early = 0
    for lv, bt in zip(live, expected, strict=True):
        if lv[1] == "entry":
            assert lv[2] == bt[2], f"entry in bar {lv[2]} live, {bt[2]} in the backtest"
        else:
            assert bt[2] - 1 <= lv[2] <= bt[2], f"exit in bar {lv[2]} live, {bt[2]} backtested"
            early += lv[2] < bt[2]
    gaps = [abs(lv[3] - bt[3]) / bt[3] * 10_000 for lv, bt in zip(live, expected, strict=True)]
    print(f"\n{len(live)} fills agree in side and reason; entries in the same bar, "
          f"{early} exit(s) one bar earlier live; price difference max {max(gaps):.2f} bps, "
          f"mean {sum(gaps) / len(gaps):.2f} bps")  # fmt: skip
    assert max(gaps) <= MAX_BPS


#: The portfolio case: ETHUSDT from another window of the sample, at ETH prices.
ETH_FIRST, ETH_SCALE, ETH_TICK = 2400, 30, Decimal("0.01")


def round_trips(fills: list[tuple[str, str, str, datetime, Decimal, Decimal]]) -> dict:
    """Per symbol, the live fills folded flat to flat as the backtest's trades are:
    (side, entry bar, exit bar, average entry, average exit)."""
    out: dict[str, list[tuple[str, int, int, Decimal, Decimal]]] = {}
    book: dict[str, list] = {}
    for symbol, side, _reason, when, price, qty in fills:
        signed = qty if side == "Buy" else -qty
        open_ = book.get(symbol)
        if open_ is None:
            book[symbol] = [side, when, signed, price * qty, qty, ZERO, ZERO, when]
            continue
        if (signed > 0) == (open_[2] > 0):
            open_[2] += signed
            open_[3] += price * qty
            open_[4] += qty
        else:
            open_[2] += signed
            open_[5] += price * qty
            open_[6] += qty
            open_[7] = when
        if open_[2] == 0:
            out.setdefault(symbol, []).append(
                (open_[0], bar_of(open_[1]), bar_of(open_[7]), open_[3] / open_[4],
                 open_[5] / open_[6])
            )  # fmt: skip
            del book[symbol]
    return out


def test_a_portfolio_live_and_alpha_backtest_from_the_store_agree(
    database, redis, tmp_path
) -> None:
    """Order-block on BTCUSDT and ETHUSDT as one bot (one equity): live on the paper
    exchange, then ``alpha backtest --from-store BTCUSDT,ETHUSDT`` on the same candles,
    downloaded from that exchange into the store after the run. The backtest warms up on
    the stored bars before ``--from`` as the live bot did on the exchange's history."""
    import os
    import subprocess

    from core.exchange.client import AlphaHTTP
    from market_data.download import download_candles
    from tests.bots.e2e.harness import SYMBOL, bar_start, env_for
    from tests.harness.services import alpha_command

    btc = sample_bars()
    eth = sample_bars(ETH_FIRST, ETH_SCALE, ETH_TICK)
    with stack(database, tmp_path, btc, history=WARMUP, others={"ETHUSDT": eth}) as s:
        s.register("ob_pf", "obp", "orderblock", {"symbols": [SYMBOL, "ETHUSDT"]}, redis_db=4)
        s.start_bot("ob_pf")
        s.play(LIVE)
        s.ex.control.advance(MINUTE)  # the last live bar is closed for the download too
        with s.database.connect("readonly") as conn:
            live_fills = conn.execute(
                "SELECT symbol, side, reason, exec_time, exec_price, exec_qty"
                " FROM trading.fills WHERE bot_id = 'ob_pf' ORDER BY exec_time, seq, exec_id"
            ).fetchall()
        http = AlphaHTTP(base_url=s.ex.rest_url, retry_delay=0.05, timeout=10)
        now = bar_start(WARMUP + LIVE + 1)
        with s.database.connect("owner", direct=True) as conn:
            for symbol in (SYMBOL, "ETHUSDT"):
                download_candles(
                    http, conn, "paper", symbol, "1", bar_start(0), bar_start(WARMUP + LIVE), now
                )
        start, end = bar_start(WARMUP), bar_start(WARMUP + LIVE)
        done = subprocess.run(
            [*alpha_command(), "backtest", "orderblock", "--from-store", "BTCUSDT,ETHUSDT",
             "--from", f"{start:%Y-%m-%dT%H:%M}", "--to", f"{end:%Y-%m-%dT%H:%M}",
             "--interval", "1", "--save", "--quiet"],
            env={**env_for(s), "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert f"warm-up       {2 * WARMUP} stored bar(s)" in done.stdout, done.stdout
        run_id = int(done.stdout.rsplit("saved as run ", 1)[1].split()[0])
        with s.database.connect("readonly") as conn:
            rows = conn.execute(
                "SELECT symbol, side, entry_time, exit_time, entry_price, exit_price"
                " FROM analytics.backtest_trades WHERE run_id = %s ORDER BY seq",
                (run_id,),
            ).fetchall()
    backtest: dict[str, list[tuple[str, int, int, Decimal, Decimal]]] = {}
    for symbol, side, opened, closed, entry, exit_ in rows:
        backtest.setdefault(symbol, []).append((side, bar_of(opened), bar_of(closed), entry, exit_))
    live = round_trips(live_fills)
    assert set(live) == set(backtest) == {SYMBOL, "ETHUSDT"}, "both symbols trade"
    gaps: list[Decimal] = []
    early = 0
    for symbol in live:
        lv, bt = live[symbol], backtest[symbol]
        assert [t[0] for t in lv] == [t[0] for t in bt], (symbol, lv, bt)
        for a, b in zip(lv, bt, strict=True):
            assert a[1] == b[1], f"{symbol}: entry in bar {a[1]} live, {b[1]} backtested"
            assert b[2] - 1 <= a[2] <= b[2], f"{symbol}: exit in bar {a[2]} live, {b[2]}"
            early += a[2] < b[2]
            gaps += [abs(a[3] - b[3]) / b[3] * 10_000, abs(a[4] - b[4]) / b[4] * 10_000]
    print(f"\n{sum(map(len, live.values()))} round trips on {len(live)} symbols agree in side "
          f"and entry bar, {early} exit(s) one bar earlier live; average entry/exit price "
          f"difference max {max(gaps):.2f} bps, mean {sum(gaps) / len(gaps):.2f} bps")  # fmt: skip
    assert max(gaps) <= MAX_BPS
