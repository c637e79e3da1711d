"""One daily turnover per symbol (``paper_exchange/engine/turnover.py``) drives the
generated volume, the tickers' ``turnover24h``, the traded flow resting limits fill from
and the realistic book's depth: BTC trades billions a day and fills a production-size
entry in a few pieces within minutes; a thin alt fills the same USDT slowly."""

from __future__ import annotations

from decimal import Decimal

from pe_helpers import ACCOUNTS, make_http
from pybit.unified_trading import HTTP

from paper_exchange.engine.orderbook import touch_usdt
from paper_exchange.engine.turnover import DAILY_TURNOVER_USDT, daily_turnover
from paper_exchange.testing import running_exchange

LIN = {"category": "linear"}
#: Order-block's 1 %-risk entry on its production account (100,000 USDT) in a quiet
#: market, where a 15-minute block is about 70 USDT deep: 1,000 / 70 ≈ 14 BTC; 20 BTC
#: (1.3M USDT) is a generous upper end.
ENTRY_USDT = Decimal(1_300_000)


def _last(http: HTTP, symbol: str) -> Decimal:
    return Decimal(http.get_tickers(**LIN, symbol=symbol)["result"]["list"][0]["lastPrice"])


def _rest_buy(http: HTTP, symbol: str, usdt: Decimal, step: Decimal) -> tuple[str, Decimal]:
    http.set_leverage(**LIN, symbol=symbol, buyLeverage="20", sellLeverage="20")
    last = _last(http, symbol)
    qty = (usdt / last).quantize(step)
    r = http.place_order(**LIN, symbol=symbol, side="Buy", orderType="Limit", qty=str(qty),
                         price=str(last))  # fmt: skip
    return str(r["result"]["orderId"]), qty


def _pieces(http: HTTP, symbol: str, oid: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = http.get_executions(**LIN, symbol=symbol, orderId=oid,
                                                      limit=100)["result"]["list"]  # fmt: skip
    return rows


def test_the_tickers_turnover_is_the_symbols_daily_figure() -> None:
    with running_exchange(accounts=ACCOUNTS, history_minutes=1440, liquidity="realistic") as ex:
        rows = make_http(ex).get_tickers(**LIN)["result"]["list"]
        turnover = {r["symbol"]: Decimal(r["turnover24h"]) for r in rows}
    assert set(DAILY_TURNOVER_USDT) <= set(turnover)
    for symbol, daily in DAILY_TURNOVER_USDT.items():
        assert abs(turnover[symbol] / daily - 1) < Decimal("0.1"), (symbol, turnover[symbol])
    assert turnover["BTCUSDT"] > 1000 * Decimal(1_000_000)  # billions a day
    assert turnover["LTCUSDT"] < turnover["BTCUSDT"] / 50


def test_the_realistic_touch_is_a_share_of_a_minutes_turnover() -> None:
    btc, ltc = touch_usdt("realistic", "BTCUSDT"), touch_usdt("realistic", "LTCUSDT")
    assert btc == daily_turnover("BTCUSDT") / 1440 / 20 == Decimal(250_000)
    assert ltc < btc / 50
    assert touch_usdt("flat", "LTCUSDT") == Decimal(2_000_000)  # flat: deep everywhere


def test_a_production_size_btc_entry_fills_in_a_few_pieces_and_a_thin_alt_waits() -> None:
    """In the production scenario's opening squeeze (a fifth of the usual volume), the
    BTC entry fills in a few maker pieces within minutes; the same USDT resting on
    LTCUSDT (100M a day) has filled a small part in the same time."""
    accounts = (("main", "key-main", "secret-main", "1000000"),)
    with running_exchange(accounts=accounts, scenario="production", history_minutes=60,
                          liquidity="realistic") as ex:  # fmt: skip
        http = make_http(ex)
        btc, btc_qty = _rest_buy(http, "BTCUSDT", ENTRY_USDT, Decimal("0.001"))
        ltc, ltc_qty = _rest_buy(http, "LTCUSDT", ENTRY_USDT, Decimal("0.1"))
        start = ex.call(lambda: ex.exchange.market.now_ms)
        ex.control.advance(5 * 60_000)
        pieces = _pieces(http, "BTCUSDT", btc)
        filled = sum(Decimal(p["execQty"]) for p in pieces)
        assert filled == btc_qty, f"{filled} of {btc_qty} BTC in 5 minutes"
        assert 2 <= len(pieces) <= 6 and all(p["isMaker"] for p in pieces)
        took = max(int(p["execTime"]) for p in pieces) - start
        assert took <= 4 * 60_000
        alt = sum(Decimal(p["execQty"]) for p in _pieces(http, "LTCUSDT", ltc))
        assert alt < ltc_qty / 10, f"{alt} of {ltc_qty} LTC in 5 minutes"
