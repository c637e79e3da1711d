"""A bot warms up from the market data store when it holds the range, else from REST.

Momentum (120 warm-up bars) on 150 bars of the bundled 5-minute sample, scaled to BTC
prices, served by the paper exchange. ``alpha data download``'s code fills the store
from that exchange; the exchange counts the kline requests it serves.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

from core.exchange.client import AlphaHTTP
from market_data.download import download_candles
from tests.bots.e2e.harness import SYMBOL, T0_MS, bar_start, stack
from tests.bots.e2e.test_e2e_live_vs_backtest import sample_bars

KLINE = "/v5/market/kline"
HISTORY = 150
CONFIG = {"bb_period": 10, "bbw_lookback": 10, "volume_period": 10}


def klines(s) -> int:
    return s.ex.call(lambda: s.ex.exchange.requests[KLINE])


def indicators(host) -> bytes:
    """Everything the strategy computed from its candles, byte for byte."""
    return pickle.dumps(host.strategy.series)


def test_warm_up_from_the_store_then_from_rest_when_it_has_a_hole(database, redis, tmp_path):
    bars = sample_bars()[: HISTORY + 5]
    with stack(database, tmp_path, bars, history=HISTORY, listener=False) as s:
        http = AlphaHTTP(base_url=s.ex.rest_url, retry_delay=0.05, timeout=10)
        start = datetime.fromtimestamp(T0_MS / 1000, tz=UTC)
        now = bar_start(HISTORY)
        with s.database.connect("owner", direct=True) as conn:
            report = download_candles(http, conn, "paper", SYMBOL, "1", start, now, now)
        assert report.written.inserted == HISTORY

        s.register("warm_store", "ws1", "momentum", CONFIG, redis_db=3)
        before = klines(s)
        from_store = s.start_bot("warm_store").host
        assert klines(s) == before, "the store held the range: no kline request to warm up"

        # A hole in the warm-up range: the store is not used, REST is.
        with s.database.connect("owner", direct=True) as conn:
            conn.execute(
                "DELETE FROM market.candles WHERE symbol = %s AND open_time = %s",
                (SYMBOL, bar_start(HISTORY - 7)),
            )
        s.register("warm_rest", "wr1", "momentum", CONFIG, redis_db=4)
        before = klines(s)
        from_rest = s.start_bot("warm_rest").host
        assert klines(s) > before, "a hole in the store: the bot asked the exchange"

        newest = {SYMBOL: bar_start(HISTORY - 1)}
        assert from_store.sequencer.last == from_rest.sequencer.last == newest
        assert indicators(from_store) == indicators(from_rest)
        assert from_store.prices == from_rest.prices
