"""Mark and index price derived from the last price (issue 23): Bybit's
``median(index * (1 + funding * time to funding / 8h), index + basis average, last)``
over an index that lags the last price. The table is worked by hand from the formulas
in ``paper_exchange/engine/marks.py``; the exchange tests use a flat CSV market, so the
index and mark at rest are known exactly."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pe_helpers import ACCOUNTS, make_http
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from paper_exchange.engine.marks import MarkIndex
from paper_exchange.testing import RunningExchange, running_exchange

D = Decimal
HOUR = 3_600_000
T0 = 1_700_006_400_000  # a funding time (a multiple of 8 h)


def _walk(steps: list[tuple[str, int]], funding: str = "0") -> MarkIndex:
    mi = MarkIndex.start(D("0.1"), D(100), T0)
    for last, at in steps:
        mi.on_trade(D(last), T0 + at, D(funding))
    return mi


@pytest.mark.parametrize(
    ("steps", "funding", "now", "index", "mark"),
    [
        # At rest all three prices agree; the funding premium cannot pull the median.
        ([], "0.0001", 4 * HOUR, "100.0", "100.0"),
        # A jump with no time passed moves neither index nor mark.
        ([("110", 0)], "0", 0, "100.0", "100.0"),
        # 10 s at 110: index += 10 * 10/(10+10) = 105; basis 5, its average 5 * 10/160
        # = 0.3125; mark = median(105, 105.3125, 110) = 105.3 at the tick.
        ([("110", 0), ("110", 10_000)], "0", 10_000, "105.0", "105.3"),
        # 10 s more at 110, then a trade at 100: index 107.5, basis 2.5, average
        # 0.3125 + 2.1875/16 = 0.44921875; median(107.5, 107.949.., 100) = 107.5.
        ([("110", 0), ("110", 10_000), ("100", 20_000)], "0", 20_000, "107.5", "107.5"),
        # Funding 1% with 4 h to go: price1 = 105 * 1.005 = 105.525, the median, 105.5
        # at the tick (half to even).
        ([("110", 0), ("110", 10_000)], "0.01", 4 * HOUR, "105.0", "105.5"),
        # A fall mirrors a rise: index 95, average -0.3125, median(95, 94.6875, 90)
        # = 94.6875, 94.7 at the tick.
        ([("90", 0), ("90", 10_000)], "0", 10_000, "95.0", "94.7"),
    ],
)
def test_index_and_mark_by_hand(
    steps: list[tuple[str, int]], funding: str, now: int, index: str, mark: str
) -> None:
    mi = _walk(steps, funding)
    assert (str(mi.index), str(mi.mark(T0 + now))) == (index, mark)


def test_the_index_converges_on_a_price_that_holds() -> None:
    mi = _walk([("110", 0)] + [("110", s * 1000) for s in range(1, 601)])
    assert mi.index == D("110.0") and mi.mark(T0 + 600_000) == D("110.0")


# -- the exchange ----------------------------------------------------------------------

START = 1_700_000_000_000 - 1_700_000_000_000 % HOUR


@pytest.fixture(scope="module")
def flat_market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningExchange]:
    """BTCUSDT trading at 60000 for three hours of one-minute candles; now is the second
    hour's start, so index and mark have come to rest at 60000."""
    path: Path = tmp_path_factory.mktemp("marks") / "BTCUSDT_1.csv"
    rows = ["start,open,high,low,close,volume,turnover"]
    rows += [f"{START + i * 60_000},60000,60000,60000,60000,10,600000" for i in range(180)]
    path.write_text("\n".join(rows) + "\n")
    with running_exchange(
        accounts=ACCOUNTS, market_files=[path], start_ms=START + HOUR, history_minutes=60
    ) as ex:
        yield ex


@pytest.fixture
def btc(flat_market: RunningExchange) -> Iterator[HTTP]:
    http = make_http(flat_market)
    yield http
    http.cancel_all_orders(category="linear", symbol="BTCUSDT")
    pos = _position(http)
    if D(pos["size"]):
        side = "Sell" if pos["side"] == "Buy" else "Buy"
        http.place_order(category="linear", symbol="BTCUSDT", side=side, orderType="Market",
                         qty=pos["size"], reduceOnly=True)  # fmt: skip
    flat_market.control.price("BTCUSDT", "60000")


def _ticker(http: HTTP) -> dict[str, Any]:
    return dict(http.get_tickers(category="linear", symbol="BTCUSDT")["result"]["list"][0])


def _position(http: HTTP) -> dict[str, Any]:
    return dict(http.get_positions(category="linear", symbol="BTCUSDT")["result"]["list"][0])


def _funding_mark(index: Decimal, now_ms: int) -> Decimal:
    """price1 of the median when the index is also the basis-adjusted price."""
    until = 8 * HOUR - now_ms % (8 * HOUR)
    raw = index * (1 + D("0.0001") * D(until) / (8 * HOUR))
    return (raw / D("0.1")).quantize(D(1)) * D("0.1")


def test_at_rest_mark_and_index_are_the_last_price(btc: HTTP) -> None:
    t = _ticker(btc)
    assert (t["lastPrice"], t["indexPrice"], t["markPrice"]) == ("60000.00",) * 3


def test_a_sudden_trade_moves_the_last_price_only(flat_market: RunningExchange, btc: HTTP) -> None:
    flat_market.control.price("BTCUSDT", "61000")
    t = _ticker(btc)
    now = flat_market.control.state()["now_ms"]
    assert t["lastPrice"] == "61000.00" and t["indexPrice"] == "60000.00"
    # median(index with the funding premium, index, last) is the premium one.
    assert D(t["markPrice"]) == _funding_mark(D(60000), now) < D(61000)


def test_position_shows_mark_and_unrealised_pnl_at_mark(
    flat_market: RunningExchange, btc: HTTP
) -> None:
    btc.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market",
                    qty="0.100")  # fmt: skip
    flat_market.control.price("BTCUSDT", "61000")
    pos = _position(btc)
    mark = D(_ticker(btc)["markPrice"])
    assert D(pos["markPrice"]) == mark < D(61000)
    assert D(pos["unrealisedPnl"]) == D("0.100") * (mark - D(pos["avgPrice"]))
    wallet = btc.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
    assert D(wallet["totalPerpUPL"]) == D(pos["unrealisedPnl"])


def test_conditional_orders_trigger_on_the_price_they_name(
    flat_market: RunningExchange, btc: HTTP
) -> None:
    base = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market",
            "qty": "0.001", "triggerDirection": 1}  # fmt: skip
    by_last = btc.place_order(**base, triggerPrice="60500", triggerBy="LastPrice")
    by_mark = btc.place_order(**base, triggerPrice="60500", triggerBy="MarkPrice")
    by_index = btc.place_order(**base, triggerPrice="60500", triggerBy="IndexPrice")
    flat_market.control.price("BTCUSDT", "61000")

    def status(placed: dict[str, Any]) -> str:
        oid = placed["result"]["orderId"]
        found = btc.get_open_orders(category="linear", symbol="BTCUSDT", orderId=oid)
        return str(found["result"]["list"][0]["orderStatus"])

    assert status(by_last) == "Filled"
    assert status(by_mark) == status(by_index) == "Untriggered"  # mark, index still 60000


def test_a_trigger_is_checked_against_the_price_it_names(
    flat_market: RunningExchange, btc: HTTP
) -> None:
    flat_market.control.price("BTCUSDT", "61000")  # last 61000, mark and index ~60000
    with pytest.raises(InvalidRequestError) as err:
        btc.place_order(category="linear", symbol="BTCUSDT", side="Sell", orderType="Market",
                        qty="0.001", triggerPrice="60500", triggerDirection=2,
                        triggerBy="MarkPrice")  # fmt: skip
    assert err.value.status_code == 110093  # falling to 60500: the mark is already below
    placed = btc.place_order(category="linear", symbol="BTCUSDT", side="Sell",
                             orderType="Market", qty="0.001", triggerPrice="60500",
                             triggerDirection=2)  # fmt: skip
    assert placed["retCode"] == 0  # by last price (61000) it is a fall to come


def test_the_same_seed_gives_the_same_marks() -> None:
    def marks() -> list[str]:
        with running_exchange(seed=11, history_minutes=30, start_ms=START) as ex:
            http = make_http(ex)
            out = []
            for _ in range(3):
                ex.control.advance(90_000)
                t = http.get_tickers(category="linear", symbol="ETHUSDT")["result"]["list"][0]
                out += [t["markPrice"], t["indexPrice"], t["lastPrice"]]
            return out

    first = marks()
    assert first == marks()
    assert first[0::3] != first[2::3]  # and the mark is not simply the last price


def test_an_index_trigger_fires_as_the_index_catches_up_without_a_new_last_price() -> None:
    """The engine alone, on a hand-driven clock: the last price jumps and then holds;
    the index follows it over seconds and fires the order when it crosses."""
    from paper_exchange.engine.exchange import Engine
    from paper_exchange.engine.instruments import DEFAULT_INSTRUMENTS

    clock = [T0]
    engine = Engine(DEFAULT_INSTRUMENTS, now=lambda: clock[0])
    engine.reset_price("BTCUSDT", D(60000), T0)
    acct = engine.add_account("main", "k", "s", D(100000))
    placed = engine.create_order(acct, {
        "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market",
        "qty": "0.001", "triggerPrice": "60500", "triggerDirection": 1,
        "triggerBy": "IndexPrice",
    })  # fmt: skip
    order = acct.orders[str(placed["orderId"])]
    engine.on_trade("BTCUSDT", D(61000))  # the jump: the index has not moved
    assert order.status == "Untriggered"
    # 61000 holds; after 9 s the index is 60000 + 1000 * 9/19 = 60473.7: not yet.
    clock[0] += 9_000
    engine.on_trade("BTCUSDT", D(61000))
    assert engine.index_price("BTCUSDT") == D("60473.7") and order.status == "Untriggered"
    # 2 s more: 60473.68.. + 526.31.. * 2/12 = 60561.4: crossed, and it fires.
    clock[0] += 2_000
    engine.on_trade("BTCUSDT", D(61000))
    assert engine.index_price("BTCUSDT") == D("60561.4") and order.status == "Filled"


def test_a_trading_stop_by_mark_ignores_a_spike_of_the_last_price(
    flat_market: RunningExchange, btc: HTTP
) -> None:
    btc.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market",
                    qty="0.010")  # fmt: skip
    btc.set_trading_stop(category="linear", symbol="BTCUSDT", tpslMode="Full", positionIdx=0,
                         stopLoss="59500", slTriggerBy="MarkPrice")  # fmt: skip
    flat_market.control.price("BTCUSDT", "59000")  # a spike down: the mark stays ~60000
    pos = _position(btc)
    assert pos["size"] == "0.010" and pos["stopLoss"] == "59500.00"
    # The same stop by last price fires at once.
    btc.set_trading_stop(category="linear", symbol="BTCUSDT", tpslMode="Full", positionIdx=0,
                         stopLoss="58900", slTriggerBy="LastPrice")  # fmt: skip
    flat_market.control.price("BTCUSDT", "58800")
    assert _position(btc)["size"] == "0.000"
