"""The account's own books through the real pybit client: transaction log and closed P&L.

One history (module-scoped): open a long, close part of it, flip to a short through a
funding settlement, close the short. Every response is checked field by field against
Bybit's documented shape (every number a string) and semantics
(``change = cashFlow + funding − fee``, funding positive when received, the
``cashBalance`` chain ending at the wallet), then paging and the time-window rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from pe_helpers import ACCOUNTS, make_http
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from paper_exchange.testing import RunningExchange, moments_before_a_settlement, running_exchange

HOUR = 3_600_000
DAY = 24 * HOUR
LIN = {"category": "linear"}
TXLOG_FIELDS = {
    "id", "symbol", "category", "side", "transactionTime", "type", "transSubType", "qty",
    "size", "currency", "tradePrice", "funding", "fee", "cashFlow", "change", "cashBalance",
    "feeRate", "bonusChange", "tradeId", "orderId", "orderLinkId", "extraFees",
}  # fmt: skip
CLOSED_FIELDS = {
    "symbol", "orderId", "side", "qty", "orderPrice", "orderType", "execType", "closedSize",
    "cumEntryValue", "avgEntryPrice", "cumExitValue", "avgExitPrice", "closedPnl",
    "fillCount", "leverage", "openFee", "closeFee", "createdTime", "updatedTime",
}  # fmt: skip
D = Decimal


def _code(call: Any, **kwargs: Any) -> int:
    with pytest.raises(InvalidRequestError) as info:
        call(**kwargs)
    return int(info.value.status_code)


@pytest.fixture(scope="module")
def exchange() -> Iterator[RunningExchange]:
    """Started just before a scheduled funding settlement: the history below posts its own
    funding, and must not also meet a scheduled one whatever the time of day."""
    with running_exchange(
        accounts=ACCOUNTS, seed=7, history_minutes=240, start_ms=moments_before_a_settlement()
    ) as ex:
        yield ex


@pytest.fixture(scope="module")
def history(exchange: RunningExchange) -> dict[str, Any]:
    """Long 0.010 → sell 0.004 (partial close) → funding → sell 0.010 (close 0.006, open
    0.004 short) → funding → buy 0.004 (close). Returns the times around it."""
    http = make_http(exchange, "other")
    control = exchange.control
    control.advance_past_scheduled_funding()  # only the two funding events posted below
    t0 = control.state()["now_ms"]
    steps = [("Buy", "0.010", "60000"), ("Sell", "0.004", "62000"), ("Sell", "0.010", "59000"),
             ("Buy", "0.004", "58000")]  # fmt: skip
    for n, (side, qty, price) in enumerate(steps):
        control.price("BTCUSDT", price)
        reply = http.place_order(**LIN, symbol="BTCUSDT", side=side, orderType="Market",
                                 qty=qty, orderLinkId=f"books-{n}")  # fmt: skip
        assert reply["retCode"] == 0
        if n in (1, 2):
            control.post("/paper/funding", rate="0.0001")
        control.advance(60_000)
    t1 = control.state()["now_ms"]
    executions = http.get_executions(**LIN, startTime=t0, endTime=t1, limit=100)["result"]["list"]
    return {"http": http, "t0": t0, "t1": t1, "executions": executions}


def _log(http: HTTP, **query: Any) -> dict[str, Any]:
    reply = http.get_transaction_log(accountType="UNIFIED", **query)
    assert reply["retCode"] == 0
    return reply["result"]  # type: ignore[no-any-return]


def test_transaction_log_is_the_executions_in_bybits_terms(history: dict[str, Any]) -> None:
    http, t0, t1 = history["http"], history["t0"], history["t1"]
    result = _log(http, category="linear", currency="USDT", startTime=t0, endTime=t1, limit=50)
    entries = result["list"]
    assert set(result) == {"list", "nextPageCursor"} and result["nextPageCursor"] == ""
    executions = history["executions"]
    assert len(executions) == 6  # four trades, two funding settlements
    # One entry per execution, newest first, as the execution list orders them.
    assert [e["tradeId"] for e in entries] == [x["execId"] for x in executions]
    for entry in entries:
        assert set(entry) == TXLOG_FIELDS
        assert all(isinstance(v, str) for v in entry.values()), entry  # numbers are strings
    by_id = {x["execId"]: x for x in executions}
    for entry in entries:
        x = by_id[entry["tradeId"]]
        assert (entry["symbol"], entry["side"], entry["orderId"], entry["qty"]) == (
            x["symbol"], x["side"], x["orderId"], x["execQty"])  # fmt: skip
        assert entry["transactionTime"] == x["execTime"] and entry["currency"] == "USDT"
        if x["execType"] == "Funding":
            assert entry["type"] == "SETTLEMENT"
            # Funding is positive when received: the opposite sign of the execution's fee.
            assert D(entry["funding"]) == -D(x["execFee"]) != 0
            assert (entry["fee"], entry["cashFlow"]) == ("0", "0")
            rate = D(x["feeRate"])
            assert D(entry["feeRate"]) == (rate if x["side"] == "Buy" else -rate)
        else:
            assert entry["type"] == "TRADE" and entry["funding"] == ""
            assert D(entry["cashFlow"]) == D(x["execPnl"]) and D(entry["fee"]) == D(x["execFee"])
            assert entry["orderLinkId"] == x["orderLinkId"]
        funding = D(entry["funding"] or "0")
        assert D(entry["change"]) == D(entry["cashFlow"]) + funding - D(entry["fee"])
    # The position after each entry, signed; and the cash balance chain ends at the wallet.
    oldest_first = entries[::-1]
    assert [e["size"] for e in oldest_first] == ["0.010", "0.006", "0.006", "-0.004", "-0.004",
                                                 "0.000"]  # fmt: skip
    assert [e["type"] for e in oldest_first].count("SETTLEMENT") == 2
    # A positive rate: the long pays (negative funding), the short receives.
    assert D(oldest_first[2]["funding"]) < 0 < D(oldest_first[4]["funding"])
    balance = D(oldest_first[0]["cashBalance"]) - D(oldest_first[0]["change"])
    assert balance == D(50_000)  # the account's opening balance (pe_helpers.ACCOUNTS)
    for entry in oldest_first:
        balance += D(entry["change"])
        assert D(entry["cashBalance"]) == balance
    wallet = http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
    assert D(wallet["totalWalletBalance"]) == balance


def test_transaction_log_filters_and_pages(history: dict[str, Any]) -> None:
    http, t0, t1 = history["http"], history["t0"], history["t1"]
    window = {"startTime": t0, "endTime": t1}
    every = [e["tradeId"] for e in _log(http, **window)["list"]]
    walked: list[str] = []
    cursor = ""
    pages = 0
    while True:
        page = _log(http, **window, limit=4, **({"cursor": cursor} if cursor else {}))
        walked += [e["tradeId"] for e in page["list"]]
        pages += 1
        cursor = page["nextPageCursor"]
        if not cursor:
            break
    assert walked == every and pages == 2  # 4 + 2, the last page's cursor empty
    assert [e["tradeId"] for e in _log(http, **window, limit=3)["list"]] == every[:3]
    settlements = _log(http, **window, type="SETTLEMENT")["list"]
    assert [e["type"] for e in settlements] == ["SETTLEMENT", "SETTLEMENT"]
    assert len(_log(http, **window, baseCoin="BTC")["list"]) == 6
    assert _log(http, **window, baseCoin="ETH")["list"] == []
    assert _log(http, **window, currency="USDC")["list"] == []
    assert _log(http, **window, category="spot")["list"] == []
    assert _log(http, **window, transSubType="movePosition")["list"] == []


#: (case, query built from the history's window [t0, t1], list length or retCode). Both
#: ends: at most 7 days (10001, the UTA "request parameter error", past it). Only one end:
#: 24 hours from or up to it for the transaction log, 7 days for closed P&L.
Case = tuple[str, Callable[[int, int], dict[str, Any]], int | str]
TXLOG_TABLE: list[Case] = [
    ("both ends, 7 days", lambda t0, t1: {"startTime": t1 - 7 * DAY, "endTime": t1}, 6),
    (
        "both ends, 7 days + 1 ms",
        lambda t0, t1: {"startTime": t1 - 7 * DAY - 1, "endTime": t1},
        "10001",
    ),
    ("end before start", lambda t0, t1: {"startTime": t1, "endTime": t0}, "10001"),
    ("only start", lambda t0, t1: {"startTime": t0}, 6),
    ("only start, 24 h + 1 ms before", lambda t0, t1: {"startTime": t0 - DAY - 1}, 0),
    ("only end", lambda t0, t1: {"endTime": t1}, 6),
    ("only end, before the trades", lambda t0, t1: {"endTime": t0 - 1}, 0),
    ("limit 50", lambda t0, t1: {"startTime": t0, "limit": 50}, 6),
    ("limit 51", lambda t0, t1: {"limit": 51}, "10001"),
    ("limit 0", lambda t0, t1: {"limit": 0}, "10001"),
    ("accountType CONTRACT", lambda t0, t1: {"accountType": "CONTRACT"}, "10001"),
    ("category futures", lambda t0, t1: {"category": "futures"}, "10001"),
    ("category spot", lambda t0, t1: {"startTime": t0, "category": "spot"}, 0),
    ("cursor garbage", lambda t0, t1: {"cursor": "bogus"}, "10001"),
    ("type SETTLEMENT", lambda t0, t1: {"startTime": t0, "type": "SETTLEMENT"}, 2),
    ("type TRADE", lambda t0, t1: {"startTime": t0, "type": "TRADE"}, 4),
    ("currency USDC", lambda t0, t1: {"startTime": t0, "currency": "USDC"}, 0),
    ("baseCoin BTC", lambda t0, t1: {"startTime": t0, "baseCoin": "BTC"}, 6),
    ("baseCoin ETH", lambda t0, t1: {"startTime": t0, "baseCoin": "ETH"}, 0),
]
CLOSED_TABLE: list[Case] = [
    ("both ends, 7 days", lambda t0, t1: {"startTime": t1 - 7 * DAY, "endTime": t1}, 3),
    (
        "both ends, 7 days + 1 ms",
        lambda t0, t1: {"startTime": t1 - 7 * DAY - 1, "endTime": t1},
        "10001",
    ),
    ("end before start", lambda t0, t1: {"startTime": t1, "endTime": t0}, "10001"),
    ("only start, 6 days before", lambda t0, t1: {"startTime": t0 - 6 * DAY}, 3),
    ("only start, 7 days + 1 ms before", lambda t0, t1: {"startTime": t0 - 7 * DAY - 1}, 0),
    ("only end", lambda t0, t1: {"endTime": t1 + 6 * DAY}, 3),
    ("limit 100", lambda t0, t1: {"startTime": t0, "limit": 100}, 3),
    ("limit 101", lambda t0, t1: {"limit": 101}, "10001"),
    ("symbol ETHUSDT", lambda t0, t1: {"startTime": t0, "symbol": "ETHUSDT"}, 0),
    ("unknown symbol", lambda t0, t1: {"symbol": "NOPEUSDT"}, "10001"),
    ("category inverse", lambda t0, t1: {"category": "inverse"}, 0),
    ("category spot", lambda t0, t1: {"category": "spot"}, "10001"),
    ("no category", lambda t0, t1: {"category": None}, "10001"),
]


def _table_case(call: Any, query: dict[str, Any], expected: int | str) -> None:
    query = {k: v for k, v in query.items() if v is not None}
    if isinstance(expected, str):
        assert str(_code(call, **query)) == expected
    else:
        assert len(call(**query)["result"]["list"]) == expected


@pytest.mark.parametrize(
    ("case", "query", "expected"), TXLOG_TABLE, ids=[c[0] for c in TXLOG_TABLE]
)
def test_transaction_log_table(
    history: dict[str, Any], case: str, query: Any, expected: Any
) -> None:
    http = history["http"]
    _table_case(http.get_transaction_log, query(history["t0"], history["t1"]), expected)


@pytest.mark.parametrize(
    ("case", "query", "expected"), CLOSED_TABLE, ids=[c[0] for c in CLOSED_TABLE]
)
def test_closed_pnl_table(history: dict[str, Any], case: str, query: Any, expected: Any) -> None:
    http = history["http"]
    _table_case(http.get_closed_pnl, {**LIN, **query(history["t0"], history["t1"])}, expected)


def test_defaults_are_24_hours_for_the_log_and_7_days_for_closed_pnl(
    exchange: RunningExchange, history: dict[str, Any]
) -> None:
    http, t0, t1 = history["http"], history["t0"], history["t1"]
    assert len(_log(http)["list"]) == 6 and len(http.get_closed_pnl(**LIN)["result"]["list"]) == 3
    exchange.control.advance(DAY + HOUR)  # the trades are now more than 24 hours old
    assert _log(http)["list"] == []
    assert len(_log(http, startTime=t0, endTime=t1 + DAY)["list"]) == 6
    assert len(http.get_closed_pnl(**LIN)["result"]["list"]) == 3


def test_closed_pnl_one_record_per_closing_order(history: dict[str, Any]) -> None:
    http, t0, t1 = history["http"], history["t0"], history["t1"]
    result = http.get_closed_pnl(**LIN, startTime=t0, endTime=t1)["result"]
    assert set(result) == {"category", "list", "nextPageCursor"}
    assert result["category"] == "linear" and result["nextPageCursor"] == ""
    records = result["list"]
    trades = [x for x in history["executions"] if x["execType"] == "Trade"][::-1]  # oldest first
    opening, partial, flip, final = trades
    for rec in records:
        assert set(rec) == CLOSED_FIELDS
        assert all(isinstance(v, str) for v in rec.values()), rec
    # Newest first: the short's close, the flip's close, the partial close.
    assert [r["orderId"] for r in records] == [x["orderId"] for x in (final, flip, partial)]
    r_final, r_flip, r_partial = records
    open_fee = D(opening["execFee"])
    entry = D(opening["execPrice"])
    # Partial close: 0.004 of 0.010 takes 40 % of the opening fee.
    assert D(r_partial["closedSize"]) == D("0.004") and r_partial["fillCount"] == "1"
    assert D(r_partial["openFee"]) == open_fee * D("0.4")
    assert D(r_partial["closeFee"]) == D(partial["execFee"])
    assert D(r_partial["cumEntryValue"]) == D("0.004") * entry
    assert D(r_partial["cumExitValue"]) == D("0.004") * D(partial["execPrice"])
    assert D(r_partial["avgEntryPrice"]) == entry
    gross = D(partial["execPnl"])
    assert gross == D(r_partial["cumExitValue"]) - D(r_partial["cumEntryValue"])
    assert D(r_partial["closedPnl"]) == gross - D(r_partial["openFee"]) - D(r_partial["closeFee"])
    # The flip closes the remaining 0.006 (the rest of the opening fee) and opens 0.004 short:
    # only 60 % of its own fee is a closing fee; the other 40 % opened the short.
    assert D(r_flip["closedSize"]) == D("0.006") and r_flip["side"] == "Sell"
    assert D(r_flip["openFee"]) == open_fee - D(r_partial["openFee"])
    assert D(r_flip["closeFee"]) == D(flip["execFee"]) * D("0.6")
    assert D(r_flip["closedPnl"]) == D(flip["execPnl"]) - D(r_flip["openFee"]) - D(
        r_flip["closeFee"])  # fmt: skip
    # The short's close: its entry is the flip's price, its open fee the flip's other 40 %.
    assert D(r_final["avgEntryPrice"]) == D(flip["execPrice"])
    assert D(r_final["openFee"]) == D(flip["execFee"]) - D(r_flip["closeFee"])
    assert D(r_final["closedPnl"]) == D(final["execPnl"]) - D(r_final["openFee"]) - D(
        final["execFee"])  # fmt: skip
    assert D(final["execPnl"]) > 0  # shorted near 59000, bought back near 58000
    assert r_final["leverage"] == "10" and r_final["execType"] == "Trade"
    # Every trading fee ends up in exactly one record.
    assert sum(D(r["openFee"]) + D(r["closeFee"]) for r in records) == sum(
        D(x["execFee"]) for x in trades)  # fmt: skip


def test_closed_pnl_pages(history: dict[str, Any]) -> None:
    http, t0, t1 = history["http"], history["t0"], history["t1"]
    first = http.get_closed_pnl(**LIN, startTime=t0, endTime=t1, limit=2)["result"]
    assert len(first["list"]) == 2 and first["nextPageCursor"]
    rest = http.get_closed_pnl(**LIN, startTime=t0, endTime=t1, limit=2,
                               cursor=first["nextPageCursor"])["result"]  # fmt: skip
    assert len(rest["list"]) == 1 and rest["nextPageCursor"] == ""
    every = http.get_closed_pnl(**LIN, startTime=t0, endTime=t1)["result"]["list"]
    assert [r["orderId"] for r in first["list"] + rest["list"]] == [r["orderId"] for r in every]
