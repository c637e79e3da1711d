"""A bot's universe from the exchange's tickers (LXAlgo's 24 h turnover ranking), against
the real paper exchange and Redis; and the host refusing entries outside it."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pybit.unified_trading import HTTP

from bots.lxalgo.strategy import LXAlgo
from bots.runtime.notify import Notifier
from bots.runtime.service import build_host
from bots.runtime.universe import Universe
from core import redis_keys
from core.ids import BotId
from core.notify import NotifySettings
from paper_exchange.testing import running_exchange
from tests.bots.e2e.harness import flat_bars, stack
from tests.bots.e2e.test_e2e_lxalgo import CONFIG

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def exchange():
    with running_exchange(scenario="production", history_minutes=1440) as ex:
        http = HTTP(testnet=False, timeout=10)
        http.endpoint = ex.rest_url
        yield ex, http


def _turnover(http: HTTP) -> dict[str, Decimal]:
    rows = http.get_tickers(category="linear")["result"]["list"]
    return {r["symbol"]: Decimal(r["turnover24h"]) for r in rows}


def test_the_universe_is_the_turnover_ranking_and_is_published(exchange, redis) -> None:
    _, http = exchange
    turnover = _turnover(http)
    assert len(turnover) >= 10
    ranked = sorted(turnover, key=lambda s: -turnover[s])
    # A threshold between the 4th and 5th: exactly the four most traded qualify.
    cut = (turnover[ranked[3]] + turnover[ranked[4]]) / 2
    lx = LXAlgo({"symbols": ["DOGEUSDT"], "min_turnover_24h": str(cut)})
    universe = Universe(lx, http, redis, BotId("lx_universe"))
    assert universe.dynamic and universe.current == ["DOGEUSDT"]
    assert universe.due(NOW)

    joined = universe.refresh(NOW)
    assert universe.current == ranked[:4]
    assert joined == [s for s in ranked[:4] if s != "DOGEUSDT"]
    published = json.loads(redis.get(redis_keys.universe(BotId("lx_universe"))))
    assert published["symbols"] == ranked[:4]
    assert not universe.due(NOW + timedelta(hours=3, minutes=59))
    assert universe.due(NOW + timedelta(hours=4))


def test_the_production_ranking_leaves_the_thin_alts_out(redis) -> None:
    """LXAlgo's production threshold (10M USDT a day) against the production market:
    the two thin alts (``paper_exchange/engine/turnover.py``) stay out through the whole
    scenario, quiet days and pumps alike, and every other symbol is in."""
    lx = LXAlgo({"symbols": ["BTCUSDT"]})
    assert lx.config.min_turnover_24h == Decimal(10_000_000)
    with running_exchange(scenario="production", history_minutes=1440) as ex:
        http = HTTP(testnet=False, timeout=10)
        http.endpoint = ex.rest_url
        universe = Universe(lx, http, redis, BotId("lx_production"))
        for day in range(16):
            universe.refresh(NOW + timedelta(days=day))
            turnover = _turnover(http)
            thin = {s for s, t in turnover.items() if t < lx.config.min_turnover_24h}
            assert thin == {"ZILUSDT", "KSMUSDT"}, (day, turnover)
            assert set(universe.current) == set(turnover) - thin
            ex.control.advance(86_400_000)
    published = json.loads(redis.get(redis_keys.universe(BotId("lx_production"))))
    assert "ZILUSDT" not in published["symbols"] and "BTCUSDT" in published["symbols"]


def test_a_failed_tickers_request_keeps_the_last_universe(exchange, redis) -> None:
    ex, http = exchange
    lx = LXAlgo({"symbols": ["BTCUSDT"], "min_turnover_24h": "0"})
    universe = Universe(lx, http, redis, BotId("lx_universe"))
    universe.refresh(NOW)
    before = list(universe.current)
    ex.control.post("/paper/faults/rest", count=1, ret_code=10016, path="/v5/market/tickers")
    later = NOW + timedelta(hours=4)
    assert universe.refresh(later) == []
    assert universe.current == before
    assert not universe.due(later + timedelta(minutes=4))
    assert universe.due(later + timedelta(minutes=5))  # tried again soon, not in 4 hours


class _Picker:
    """A strategy whose universe is whatever the test says next (tickers still fetched)."""

    def __init__(self, *picks: list[str]) -> None:
        self.symbols = ["BTCUSDT"]
        self.picks = list(picks)

    def universe_refresh(self) -> timedelta:
        return timedelta(hours=1)

    def select_universe(self, turnover: dict[str, Decimal]) -> list[str]:
        assert turnover  # the exchange's ranking was read
        return self.picks.pop(0)


def test_a_change_of_universe_is_announced_but_not_the_first_selection(exchange, redis) -> None:
    _, http = exchange
    sent: list[dict[str, str]] = []
    notify = Notifier("lx_universe", NotifySettings(), sent.append)
    picker = _Picker(["BTCUSDT", "ETHUSDT"], ["ETHUSDT", "SOLUSDT"], ["ETHUSDT", "SOLUSDT"])
    universe = Universe(picker, http, redis, BotId("lx_universe"), notify.universe)  # type: ignore[arg-type]
    universe.refresh(NOW)  # at start: the first selection is no news
    assert sent == []
    universe.refresh(NOW + timedelta(hours=1))
    universe.refresh(NOW + timedelta(hours=2))  # unchanged: nothing
    assert [(s["kind"], s["symbols"], s["joined"], s["left"]) for s in sent] == [
        ("universe", "ETHUSDT,SOLUSDT", "SOLUSDT", "BTCUSDT")
    ]
    assert sent[0]["text"] == "lx_universe: universe now 2 symbols; joined SOLUSDT; left BTCUSDT"


def test_registered_universe_is_fixed() -> None:
    lx = LXAlgo({"symbols": ["BTCUSDT"], "universe": "registered"})
    assert lx.universe_refresh() is None


def test_no_entry_outside_the_universe(database, redis, tmp_path) -> None:
    """The pump of test_e2e_lxalgo, on a symbol whose turnover is below the bot's minimum:
    before the universe existed, the bot entered it."""
    history = flat_bars(60000, 25)
    live = [(60000, 61300, 60000, 61300, 100), *flat_bars(61300, 5)]
    with stack(database, tmp_path, history + live, len(history)) as s:
        config = CONFIG | {"min_turnover_24h": "1000000000000"}
        s.register("lx_small", "lx2", "lxalgo", config, redis_db=2)
        bot = s.start_bot("lx_small")
        s.play(3)
        assert s.fills("lx_small") == []
        assert s.qty("lx_small") == 0
        assert bot.host.universe.current == []
        assert (
            json.loads(s.bot_redis("lx_small").get(redis_keys.universe(BotId("lx_small"))))[
                "symbols"
            ]
            == []
        )


def test_a_symbol_the_universe_adds_trades_by_its_own_rules(database, redis, tmp_path) -> None:
    """Registered on BTCUSDT only, the bot's universe takes LTCUSDT in (its turnover is
    above the minimum) and LTCUSDT pumps. LTCUSDT's quantity step is 0.1 and its tick
    0.01: the host fetched the rules of the registered symbols only, so the entry went out
    at the permissive fallback's 0.001 step and the exchange refused it (10001 "Qty
    invalid"), as it did for every symbol LXAlgo's production universe added."""
    btc = flat_bars(60000, 25 + 6)
    history = flat_bars(80, 25, volume=20000)  # 80 × 20,000 a minute: 40 M in 25 minutes
    live = [(80, "81.8", 80, "81.8", 200000), *flat_bars("81.8", 5, volume=20000)]
    with stack(database, tmp_path, btc, 25, others={"LTCUSDT": history + live}) as s:
        config = CONFIG | {"symbols": ["BTCUSDT"]}
        s.register("lx_joined", "lx3", "lxalgo", config, redis_db=2)
        bot = s.start_bot("lx_joined")
        assert "LTCUSDT" in bot.host.universe.current
        s.play(3)
        assert s.qty("lx_joined", "LTCUSDT") == Decimal("7.3")  # 600 / 81.8x, 0.1 step
        stop = next(o for o in s.open_orders("lx_joined") if "-sl-" in o["orderLinkId"])
        assert Decimal(stop["triggerPrice"]) % Decimal("0.01") == 0  # LTCUSDT's tick


def test_a_refresh_the_exchange_fails_leaves_the_symbol_for_the_next_one(
    database, redis, tmp_path, caplog
) -> None:
    """A universe refresh whose new symbol's history cannot be read: the bot goes on and
    takes the symbol up at the next refresh. Before, the exchange's error escaped the
    refresh and ended the bot."""
    btc = flat_bars(60000, 31)
    ltc = flat_bars(80, 31, volume=20000)
    with stack(database, tmp_path, btc, 25, others={"LTCUSDT": ltc}) as s:
        s.register("lx_retry", "lx4", "lxalgo", CONFIG | {"symbols": ["BTCUSDT"]}, redis_db=2)
        host = build_host(s.settings, "lx_retry")
        host._stream_factory = None  # no public stream: this test calls the host itself
        host.start()
        assert "LTCUSDT" in host.symbols
        # As if LTCUSDT had joined after the start: not followed, no rules yet.
        host.symbols.remove("LTCUSDT")
        del host.orders.instruments["LTCUSDT"]
        s.ex.control.post("/paper/faults/rest", count=1, ret_code=10016, path="/v5/market/kline")
        with caplog.at_level(logging.WARNING):
            host._refresh_universe()
        assert "LTCUSDT" not in host.symbols
        assert "LTCUSDT not followed yet" in caplog.text
        host._refresh_universe()
        assert "LTCUSDT" in host.symbols
        assert host.orders.instruments["LTCUSDT"].qty_step == Decimal("0.1")
        host.close()
