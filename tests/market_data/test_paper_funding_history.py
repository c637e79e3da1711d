"""The paper exchange's ``/v5/market/funding/history``, shaped as Bybit documents it
(docs/bybit.md#funding-rate-history), through the real pybit client."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pybit.exceptions import InvalidRequestError

from core.exchange.client import AlphaHTTP
from paper_exchange.testing import RunningExchange


def _history(http: AlphaHTTP, **params: object) -> list[dict[str, str]]:
    reply = http.get_funding_rate_history(category="linear", symbol="BTCUSDT", **params)
    assert reply["result"]["category"] == "linear"
    return list(reply["result"]["list"])


def test_settlements_are_served_newest_first_within_the_bounds(
    exchange: RunningExchange, http: AlphaHTTP
) -> None:
    exchange.control.advance_past_scheduled_funding()  # only the rates posted here
    for rate in ("0.0003", "-0.00025", "0.0001"):
        exchange.control.advance(60_000)
        exchange.control.post("/paper/funding", rate=rate)
    rows = _history(http)
    assert [r["fundingRate"] for r in rows[:3]] == ["0.0001", "-0.00025", "0.0003"]
    stamps = [int(r["fundingRateTimestamp"]) for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert {r["symbol"] for r in rows} == {"BTCUSDT"}
    newest, middle, oldest = stamps[:3]
    assert middle == newest - 60_000 and oldest == middle - 60_000

    between = _history(http, startTime=oldest, endTime=middle)
    assert [int(r["fundingRateTimestamp"]) for r in between] == [middle, oldest]
    assert [r["fundingRate"] for r in _history(http, endTime=middle, limit=1)] == ["-0.00025"]
    assert Decimal(rows[0]["fundingRate"]) == Decimal("0.0001")


@pytest.mark.parametrize(
    "params",
    [
        {"startTime": 1},  # Bybit: startTime without endTime is an error
        {"limit": 201},
        {"limit": 0},
    ],
)
def test_bad_parameters_are_refused_with_10001(http: AlphaHTTP, params: dict[str, int]) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _history(http, **params)
    assert info.value.status_code == 10001


def test_an_unknown_symbol_is_refused(http: AlphaHTTP) -> None:
    with pytest.raises(InvalidRequestError) as info:
        http.get_funding_rate_history(category="linear", symbol="NOPEUSDT")
    assert info.value.status_code == 10001
