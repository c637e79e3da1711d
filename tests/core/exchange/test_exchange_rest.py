"""REST helpers with the real pybit against the paper exchange: paging, windows, errors."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from paper_helpers import ACCOUNTS, exchange_settings

from core.exchange import make_http, rest
from paper_exchange.testing import RunningExchange, running_exchange

DAY = 86_400_000


def _past_start(days: int) -> int:
    now = int(time.time() * 1000)
    return (now - days * DAY) // 60_000 * 60_000


def _emit(ex: RunningExchange, at_ms: int, count: int) -> None:
    ex.control.post("/paper/clock", set_ms=at_ms)
    ex.control.post("/paper/synthetic", account="main", count=count, wait=True)


def _rest_fault(ex: RunningExchange, **body: object) -> None:
    # ``path`` is also ControlClient.post's own first parameter: send the body directly.
    ex.control._request("POST", "/paper/faults/rest", dict(body))


def test_windows_are_contiguous_and_within_seven_days() -> None:
    start = rest.from_ms(_past_start(40))
    end = start + timedelta(days=40, minutes=7)
    ws = rest.windows(start, end)
    assert ws[0].start == start and ws[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(ws))
    assert all(w.end - w.start <= timedelta(days=7) for w in ws)


def test_execution_paging_across_window_edges_and_cursors() -> None:
    t0 = _past_start(10)
    with running_exchange(accounts=ACCOUNTS, start_ms=t0) as ex:
        http = make_http(exchange_settings(ex), "main")
        for k in range(5):
            _emit(ex, t0 + k * DAY, 3)  # exactly on a window edge
            _emit(ex, t0 + k * DAY + 1, 1)  # one ms after it
            _emit(ex, t0 + k * DAY + DAY // 2, 130)  # more than one page (limit 100)
        _emit(ex, t0 + 5 * DAY, 2)  # exactly on the range's end
        _emit(ex, t0 + 5 * DAY + 1, 2)  # just outside it
        rows = ex.control.dump("main")["executions"]
        expected = {r["execId"] for r in rows if t0 <= int(r["execTime"]) <= t0 + 5 * DAY}
        assert len(expected) == 5 * 134 + 2

        got = list(
            rest.iter_executions(
                http, rest.from_ms(t0), rest.from_ms(t0 + 5 * DAY), width=timedelta(days=1)
            )
        )
        ids = [g["execId"] for g in got]
        assert len(ids) == len(set(ids)), "an execution was yielded twice"
        assert set(ids) == expected
        # The raw items are Bybit's: strings for numbers, untouched.
        assert all(isinstance(g["execQty"], str) for g in got)

        # The default (~7-day) windows see exactly the same set.
        wide = [g["execId"] for g in rest.iter_executions(
            http, rest.from_ms(t0), rest.from_ms(t0 + 5 * DAY))]  # fmt: skip
        assert sorted(wide) == sorted(ids)


def test_rate_limit_is_slept_off_then_reported(exchange: RunningExchange) -> None:
    http = make_http(exchange_settings(exchange), "main", retry_delay=0.05)
    _rest_fault(exchange, count=2, ret_code=10006, path="/v5/position")
    t0 = time.monotonic()
    assert rest.positions(http) is not None  # two 10006, then success on pybit's 3rd try
    assert time.monotonic() - t0 < 15
    _rest_fault(exchange, count=5, ret_code=10006, path="/v5/position")
    with pytest.raises(Exception) as info:
        rest.positions(http)
    err = rest.classify(info.value)
    assert err is not None and err.kind == "rate_limit"


def test_decimals_and_numbers_go_out_as_strings(exchange: RunningExchange) -> None:
    http = make_http(exchange_settings(exchange), "main")
    reply = http.set_leverage(category="linear", symbol="BTCUSDT", buyLeverage=5, sellLeverage=5)
    assert reply["retCode"] == 0
    again = http.set_leverage(category="linear", symbol="BTCUSDT", buyLeverage=5, sellLeverage=5)
    assert again["retCode"] == 110043  # "not modified" comes back, it does not raise
    order = http.place_order(category="linear", symbol="BTCUSDT", side="Buy",
                             orderType="Market", qty=Decimal("0.001"))  # fmt: skip
    assert order["retCode"] == 0
    assert any(p["symbol"] == "BTCUSDT" and Decimal(p["size"]) == Decimal("0.001")
               for p in rest.positions(http))  # fmt: skip


def test_wrong_secret_is_classified_as_auth(exchange: RunningExchange) -> None:
    settings = exchange_settings(exchange, {"main": ("main-key-0001", "not-the-secret")})
    with pytest.raises(Exception) as info:
        rest.wallet(make_http(settings, "main"))
    err = rest.classify(info.value)
    assert err is not None and err.kind == "auth", err
    assert "not-the-secret" not in str(err)
