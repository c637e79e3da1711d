"""The scheduled funding settlements (every 8 hours from 00:00 UTC) as a test sees them:
``/paper/state`` names the next one, the ticker announces the same time, and
``advance_past_scheduled_funding`` moves just past it, which settles it once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pe_helpers import ACCOUNTS, make_http

from paper_exchange.market.market import FUNDING_MS
from paper_exchange.testing import RunningExchange, moments_before_a_settlement, running_exchange


@pytest.fixture(scope="module")
def exchange() -> Iterator[RunningExchange]:
    with running_exchange(accounts=ACCOUNTS, start_ms=moments_before_a_settlement(30)) as ex:
        yield ex


def test_the_next_settlement_is_announced_and_passing_it_settles_once(
    exchange: RunningExchange,
) -> None:
    http = make_http(exchange)
    control = exchange.control
    before = control.state()
    due = before["next_funding_ms"]
    assert due % FUNDING_MS == 0 and due - before["now_ms"] == 30_000
    ticker = http.get_tickers(category="linear", symbol="BTCUSDT")["result"]["list"][0]
    assert int(ticker["nextFundingTime"]) == due

    control.advance_past_scheduled_funding()
    after = control.state()
    assert after["now_ms"] == due + 1
    assert after["next_funding_ms"] == due + FUNDING_MS
    rows = http.get_funding_rate_history(
        category="linear", symbol="BTCUSDT", startTime=before["now_ms"], endTime=after["now_ms"]
    )["result"]["list"]
    assert [int(r["fundingRateTimestamp"]) for r in rows] == [due]
