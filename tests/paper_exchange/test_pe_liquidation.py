"""``liqPrice`` (issue 23): isolated and cross liquidation prices as Bybit's help centre
gives them, worked by hand (the first rows are Bybit's own examples), and the position
view's empty string where Bybit leaves the field empty."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from pe_helpers import make_http
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from paper_exchange.engine.instruments import DEFAULT_INSTRUMENTS
from paper_exchange.engine.liquidation import cross_liq_price, isolated_liq_price, shown
from paper_exchange.testing import RunningExchange, running_exchange

D = Decimal
BTC = next(i for i in DEFAULT_INSTRUMENTS if i.symbol == "BTCUSDT")


@pytest.mark.parametrize(
    ("size", "entry", "leverage", "mmr", "deduction", "extra", "expected"),
    [
        # Bybit's example 1: long 1 BTC at 20,000, 50x, MMR 0.5%: IM 400, MM 100.
        ("1", "20000", "50", "0.005", "0", "0", "19700"),
        # Bybit's example 2: the same short with 3,000 USDT of margin added.
        ("-1", "20000", "50", "0.005", "0", "3000", "23300"),
        # Long 0.5 at 60,000, 10x: IM 3,000, MM 150, (3,000 - 150) / 0.5 = 5,700 below.
        ("0.5", "60000", "10", "0.005", "0", "0", "54300"),
        # Short 2 at 3,000, 20x, MMR 1%, deduction 10: IM 300, MM 50, 250 / 2 = 125 above.
        ("-2", "3000", "20", "0.01", "10", "0", "3125"),
    ],
)
def test_isolated_liquidation_price_by_hand(
    size: str, entry: str, leverage: str, mmr: str, deduction: str, extra: str, expected: str
) -> None:
    got = isolated_liq_price(
        D(size), D(entry), D(leverage), mmr=D(mmr), mm_deduction=D(deduction),
        extra_margin=D(extra),
    )  # fmt: skip
    assert got == D(expected)


@pytest.mark.parametrize(
    ("size", "entry", "wallet", "others_upl", "others_mm", "expected"),
    [
        # Long 1 at 20,000 on 1,000 USDT, alone: 1,000 + (P - 20,000) = 0.005 P, so
        # P = 19,000 / 0.995 = 19,095.477..
        ("1", "20000", "1000", "0", "0", "19095.48"),
        # Short 0.5 at 60,000; 2,000 wallet, another position 500 under water with an MM
        # of 50: 1,500 - 0.5 (P - 60,000) = 50 + 0.0025 P, P = 31,450 / 0.5025.
        ("-0.5", "60000", "2000", "-500", "50", "62587.06"),
        # The other position's profit carries this one further: 18,600 / 0.995.
        ("1", "20000", "1000", "400", "0", "18693.47"),
    ],
)
def test_cross_liquidation_price_by_hand(
    size: str, entry: str, wallet: str, others_upl: str, others_mm: str, expected: str
) -> None:
    got = cross_liq_price(
        D(size), D(entry), wallet=D(wallet), others_upl=D(others_upl), others_mm=D(others_mm)
    )
    assert got.quantize(D("0.01")) == D(expected)
    # At that mark the margin balance is exactly the maintenance margin.
    q = D(size)
    balance = D(wallet) + D(others_upl) + q * (got - D(entry))
    assert abs(balance - (D(others_mm) + abs(q) * got * D("0.005"))) < D("1e-18")


@pytest.mark.parametrize(
    ("raw", "size", "expected"),
    [
        ("19100.04", "1", "19100.10"),  # a long's rounds up: never below the formula's
        ("62600.06", "-1", "62600.00"),  # a short's rounds down
        ("-5", "1", ""),  # at or below the minimum price: Bybit keeps ""
        ("0.10", "1", ""),
        ("1999999800", "-1", ""),  # at or above the maximum price
        ("50000", "0", ""),  # no position
    ],
)
def test_the_shown_liquidation_price(raw: str, size: str, expected: str) -> None:
    assert shown(D(raw), D(size), BTC) == expected


# -- the exchange ----------------------------------------------------------------------

ACCOUNTS = (("small", "key-small", "secret-small", "1000"), ("big", "key-big", "secret-big"))


@pytest.fixture(scope="module")
def exchange() -> Iterator[RunningExchange]:
    with running_exchange(accounts=ACCOUNTS, seed=4, history_minutes=30) as ex:
        yield ex


def _position(http: HTTP, symbol: str = "BTCUSDT") -> dict[str, str]:
    return dict(http.get_positions(category="linear", symbol=symbol)["result"]["list"][0])


def _wallet(http: HTTP) -> Decimal:
    return D(
        http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]["totalWalletBalance"]
    )


def test_a_leveraged_cross_position_shows_its_liquidation_price(exchange: RunningExchange) -> None:
    http = make_http(exchange, "small")
    assert _position(http)["liqPrice"] == ""  # flat
    http.set_leverage(category="linear", symbol="BTCUSDT", buyLeverage="100", sellLeverage="100")
    exchange.control.price("BTCUSDT", "60000")
    http.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market",
                     qty="1.000")  # fmt: skip
    pos = _position(http)
    size, avg = D(pos["size"]), D(pos["avgPrice"])
    raw = (size * avg - _wallet(http)) / (size * D("0.995"))  # the only position
    assert D(pos["liqPrice"]) == (raw / D("0.1")).to_integral_value("ROUND_CEILING") * D("0.1")
    # Its margins are at the mark price.
    mark = D(pos["markPrice"])
    assert D(pos["positionIM"]) == D(pos["positionIMByMp"]) == size * mark / 100
    assert D(pos["positionMM"]) == size * mark * D("0.005")
    assert D(pos["liqPrice"]) < D(pos["markPrice"])
    # Closing it empties the field again.
    http.place_order(category="linear", symbol="BTCUSDT", side="Sell", orderType="Market",
                     qty="1.000", reduceOnly=True)  # fmt: skip
    assert _position(http)["liqPrice"] == ""


def test_a_well_funded_position_has_no_liquidation_price(exchange: RunningExchange) -> None:
    http = make_http(exchange, "big")  # 100,000 USDT behind 0.01 BTC: below price zero
    http.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market",
                     qty="0.010")  # fmt: skip
    assert _position(http)["liqPrice"] == ""
    # A short's on the same account lies beyond the maximum price: also "".
    http.place_order(category="linear", symbol="BTCUSDT", side="Sell", orderType="Market",
                     qty="0.020")  # fmt: skip
    assert _position(http)["side"] == "Sell" and _position(http)["liqPrice"] == ""


def test_a_leveraged_short_shows_its_liquidation_price_above(exchange: RunningExchange) -> None:
    http = make_http(exchange, "small")
    http.set_leverage(category="linear", symbol="ETHUSDT", buyLeverage="100", sellLeverage="100")
    http.place_order(category="linear", symbol="ETHUSDT", side="Sell", orderType="Market",
                     qty="10.00")  # fmt: skip
    pos = _position(http, "ETHUSDT")
    size, avg = D(pos["size"]), D(pos["avgPrice"])
    raw = (-size * avg - _wallet(http)) / (-size * D("1.005"))
    assert D(pos["liqPrice"]) == (raw / D("0.01")).to_integral_value("ROUND_FLOOR") * D("0.01")
    assert D(pos["liqPrice"]) > D(pos["markPrice"])


def test_an_isolated_account_shows_the_isolated_liquidation_price(
    exchange: RunningExchange,
) -> None:
    http = make_http(exchange, "big")
    http.place_order(category="linear", symbol="SOLUSDT", side="Buy", orderType="Market",
                     qty="10.0")  # fmt: skip
    assert _position(http, "SOLUSDT")["liqPrice"] == ""  # cross: 100,000 USDT behind it
    assert http.set_margin_mode(setMarginMode="ISOLATED_MARGIN")["result"] == {"reasons": []}
    assert http.get_account_info()["result"]["marginMode"] == "ISOLATED_MARGIN"
    pos = _position(http, "SOLUSDT")
    avg, leverage = D(pos["avgPrice"]), D(pos["leverage"])
    # Its own margin only: entry - (IM - MM) / size = entry * (1 - 1/leverage + 0.005).
    raw = avg * (1 - 1 / leverage + D("0.005"))
    assert D(pos["liqPrice"]) == (raw / D("0.01")).to_integral_value("ROUND_CEILING") * D("0.01")
    with pytest.raises(InvalidRequestError) as err:
        http.set_margin_mode(setMarginMode="PORTFOLIO_MARGIN")
    assert err.value.status_code == 10001
    http.set_margin_mode(setMarginMode="REGULAR_MARGIN")
    assert _position(http, "SOLUSDT")["liqPrice"] == ""
