"""ccxt's Bybit client, unmodified, against the paper exchange (issue 23).

ccxt is a reference the paper exchange's authors did not write: it parses every answer
its own way and calls endpoints Alpha never uses (the start-up account queries, every
product type's instruments). The client here gets nothing but the exchange's URLs, an
API key and the linear market type; each call must succeed and return the values the
exchange holds, read independently through pybit or the control dump.

ccxt hands back floats; each is compared as ``Decimal(str(value))`` against the
exchange's decimal string, which is exact for the few significant digits involved
(an average price over several levels is compared as the float nearest to it).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, TypeVar

import ccxt
import ccxt.pro
import pytest
from pe_helpers import ACCOUNTS, make_http
from pybit.exceptions import InvalidRequestError

from paper_exchange.testing import RunningExchange, running_exchange

T = TypeVar("T")
SYMBOL = "BTC/USDT:USDT"  # ccxt's name for the USDT perpetual BTCUSDT
LIN = {"category": "linear", "symbol": "BTCUSDT"}
#: Every call is awaited with this timeout: a watcher the exchange never feeds fails.
CALL_TIMEOUT = 10.0


def on_paper(urls: Any, ex: RunningExchange) -> Any:
    """ccxt's own ``urls["api"]`` with each Bybit host swapped for the paper exchange's.

    Only the scheme and host change: every path stays ccxt's (``bybit.py`` for REST,
    ``pro/bybit.py`` for ``ws``), since the paper exchange serves REST and both
    WebSockets on one port under Bybit's paths.
    """
    if isinstance(urls, dict):
        return {name: on_paper(value, ex) for name, value in urls.items()}
    if urls.startswith("https://"):
        return re.sub(r"^https://[^/]+", ex.rest_url, urls)
    if urls.startswith("wss://"):
        return re.sub(r"^wss://[^/]+", ex.ws_url, urls)
    raise AssertionError(f"a ccxt URL of an unexpected form: {urls}")


@asynccontextmanager
async def bybit(ex: RunningExchange, account: str = "main") -> AsyncIterator[Any]:
    key, secret = ex.accounts[account]
    client = ccxt.pro.bybit({"apiKey": key, "secret": secret, "options": {"defaultType": "linear"}})
    client.urls["api"] = on_paper(client.urls["api"], ex)
    try:
        await within(client.load_markets())
        yield client
    finally:
        await client.close()


async def within(call: Awaitable[T]) -> T:
    return await asyncio.wait_for(call, CALL_TIMEOUT)


def run(ex: RunningExchange, scenario: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``scenario(client)`` on a fresh event loop with a fresh ccxt client."""

    async def main() -> None:
        async with bybit(ex) as client:
            await scenario(client)

    asyncio.run(main())


def dec(value: object) -> Decimal:
    return Decimal(str(value))


@pytest.fixture(scope="module")
def exchange() -> Iterator[RunningExchange]:
    # The simulated clock stands still (speed None), so prices only move when a test
    # moves them and REST, WebSocket and the dump agree on one price.
    with running_exchange(accounts=ACCOUNTS, seed=11, history_minutes=60) as ex:
        yield ex


@pytest.fixture(autouse=True)
def flat_account(exchange: RunningExchange) -> Iterator[None]:
    """Each test starts and ends without BTC orders or position."""
    yield
    http = make_http(exchange)
    http.cancel_all_orders(**LIN)
    for pos in http.get_positions(**LIN)["result"]["list"]:
        if Decimal(pos["size"]):
            side = "Sell" if pos["side"] == "Buy" else "Buy"
            http.place_order(**LIN, side=side, orderType="Market", qty=pos["size"], reduceOnly=True)


# --- what ccxt needed from the paper exchange: other product types, fee rates -------------


@pytest.mark.parametrize("category", ["spot", "inverse", "option"])
def test_instruments_of_other_categories_are_an_empty_list(
    exchange: RunningExchange, category: str
) -> None:
    """ccxt loads spot, linear, inverse and option instruments on start; Bybit lists each
    product type, the paper exchange has none but linear (before: 10001, load failed)."""
    reply = make_http(exchange).get_instruments_info(category=category)
    assert reply["retCode"] == 0
    assert reply["result"] == {"category": category, "list": [], "nextPageCursor": ""}


def test_an_unknown_category_is_still_refused(exchange: RunningExchange) -> None:
    with pytest.raises(InvalidRequestError) as info:
        make_http(exchange).get_instruments_info(category="futures")
    assert info.value.status_code == 10001


def test_fee_rate_endpoint(exchange: RunningExchange) -> None:
    """``GET /v5/account/fee-rate`` (ccxt's fetch_trading_fee; was 10017)."""
    http = make_http(exchange)
    [row] = http.get_fee_rates(**LIN)["result"]["list"]
    assert row == {"symbol": "BTCUSDT", "takerFeeRate": "0.00055", "makerFeeRate": "0.0002"}
    every = http.get_fee_rates(category="linear")["result"]["list"]
    instruments = http.get_instruments_info(category="linear")["result"]["list"]
    assert [r["symbol"] for r in every] == [i["symbol"] for i in instruments]
    assert http.get_fee_rates(category="inverse")["result"] == {"list": []}
    for category in ("spot", "option"):  # these two name their category, as documented
        assert http.get_fee_rates(category=category)["result"] == {
            "category": category,
            "list": [],
        }
    for bad in ({}, {"category": "linear", "symbol": "NOPEUSDT"}, {"category": "futures"}):
        with pytest.raises(InvalidRequestError) as info:
            http.get_fee_rates(**bad)
        assert info.value.status_code == 10001, bad


# --- markets, balance, leverage ------------------------------------------------------------


def test_markets_are_the_instruments(exchange: RunningExchange) -> None:
    instruments = make_http(exchange).get_instruments_info(category="linear")["result"]["list"]

    async def scenario(client: Any) -> None:
        assert {m["id"] for m in client.markets.values()} == {i["symbol"] for i in instruments}
        for inst in instruments:
            market = client.markets_by_id[inst["symbol"]][0]
            assert market["swap"] and market["linear"] and market["settle"] == "USDT"
            assert dec(market["precision"]["price"]) == Decimal(inst["priceFilter"]["tickSize"])
            lots = inst["lotSizeFilter"]
            assert dec(market["precision"]["amount"]) == Decimal(lots["qtyStep"])
            assert dec(market["limits"]["amount"]["min"]) == Decimal(lots["minOrderQty"])
            assert dec(market["limits"]["amount"]["max"]) == Decimal(lots["maxOrderQty"])
            leverage = inst["leverageFilter"]
            assert dec(market["limits"]["leverage"]["max"]) == Decimal(leverage["maxLeverage"])

    run(exchange, scenario)


def test_balance_is_the_wallet(exchange: RunningExchange) -> None:
    async def scenario(client: Any) -> None:
        await within(client.create_order(SYMBOL, "market", "buy", 0.02))  # margin in use
        balance = await within(client.fetch_balance())
        coin = exchange.control.dump("main")["wallet"]["coin"][0]
        assert coin["coin"] == "USDT"
        usdt = balance["USDT"]
        assert dec(usdt["total"]) == Decimal(coin["walletBalance"])
        used = Decimal(coin["totalPositionIM"]) + Decimal(coin["totalOrderIM"])
        assert used > 0 and dec(usdt["used"]) == used
        assert dec(usdt["free"]) == Decimal(coin["walletBalance"]) - used

    run(exchange, scenario)


def test_set_leverage_changes_the_position(exchange: RunningExchange) -> None:
    async def scenario(client: Any) -> None:
        for leverage in (7, 3):
            await within(client.set_leverage(leverage, SYMBOL))
            [pos] = make_http(exchange).get_positions(**LIN)["result"]["list"]
            assert pos["leverage"] == str(leverage)
            [seen] = await within(client.fetch_positions([SYMBOL]))
            assert seen["leverage"] == leverage
        # The same value again is Bybit's 110043, which ccxt raises as BadRequest.
        with pytest.raises(ccxt.BadRequest, match="110043"):
            await within(client.set_leverage(3, SYMBOL))

    run(exchange, scenario)


def test_refusals_are_the_errors_ccxt_maps(exchange: RunningExchange) -> None:
    """ccxt maps Bybit's retCodes to its exception classes; the codes must be Bybit's."""

    async def scenario(client: Any) -> None:
        unknown = "00000000-0000-0000-0000-000000000000"
        with pytest.raises(ccxt.OrderNotFound, match="110001"):
            await within(client.cancel_order(unknown, SYMBOL))
        with pytest.raises(ccxt.OrderNotFound, match="110001"):
            await within(client.edit_order(unknown, SYMBOL, "limit", "buy", 0.01, 50_000))
        with pytest.raises(ccxt.InsufficientFunds, match="110007"):
            await within(client.create_order(SYMBOL, "market", "buy", 100))  # 6M USDT
        positions = exchange.control.dump("main")["positions"]
        assert all(Decimal(p["size"]) == 0 for p in positions)  # nothing was placed

    run(exchange, scenario)


# --- orders and trades -----------------------------------------------------------------


def _order(exchange: RunningExchange, order_id: str) -> dict[str, Any]:
    [order] = [o for o in exchange.control.dump("main")["orders"] if o["orderId"] == order_id]
    return order


def test_limit_amend_cancel(exchange: RunningExchange) -> None:
    async def scenario(client: Any) -> None:
        last = (await within(client.fetch_ticker(SYMBOL)))["last"]
        price = client.price_to_precision(SYMBOL, last * 0.9)
        placed = await within(client.create_order(SYMBOL, "limit", "buy", 0.01, price))
        [open_order] = await within(client.fetch_open_orders(SYMBOL))
        held = _order(exchange, placed["id"])
        assert open_order["id"] == placed["id"] and open_order["status"] == "open"
        assert dec(open_order["price"]) == Decimal(held["price"]) == Decimal(price)
        assert dec(open_order["amount"]) == Decimal(held["qty"]) == Decimal("0.01")
        assert open_order["side"] == "buy" and open_order["type"] == "limit"
        assert dec(open_order["remaining"]) == Decimal(held["leavesQty"])
        assert open_order["timestamp"] == int(held["createdTime"])
        assert open_order["timeInForce"] == held["timeInForce"] == "GTC"

        new_price = client.price_to_precision(SYMBOL, last * 0.85)
        await within(client.edit_order(placed["id"], SYMBOL, "limit", "buy", 0.02, new_price))
        [amended] = await within(client.fetch_open_orders(SYMBOL))
        held = _order(exchange, placed["id"])
        assert dec(amended["price"]) == Decimal(held["price"]) == Decimal(new_price)
        assert dec(amended["amount"]) == Decimal(held["qty"]) == Decimal("0.02")

        await within(client.cancel_order(placed["id"], SYMBOL))
        assert await within(client.fetch_open_orders(SYMBOL)) == []
        assert _order(exchange, placed["id"])["orderStatus"] == "Cancelled"
        canceled = await within(client.fetch_canceled_orders(SYMBOL))
        assert [o["status"] for o in canceled if o["id"] == placed["id"]] == ["canceled"]

    run(exchange, scenario)


def test_post_only(exchange: RunningExchange) -> None:
    async def scenario(client: Any) -> None:
        ticker = await within(client.fetch_ticker(SYMBOL))
        away = client.price_to_precision(SYMBOL, ticker["last"] * 1.1)
        resting = await within(
            client.create_order(SYMBOL, "limit", "sell", 0.01, away, {"postOnly": True})
        )
        [seen] = await within(client.fetch_open_orders(SYMBOL))
        assert seen["id"] == resting["id"] and seen["postOnly"] is True
        assert _order(exchange, resting["id"])["timeInForce"] == "PostOnly"
        # A post-only buy above the ask would take liquidity: Bybit cancels it unfilled.
        crossing = client.price_to_precision(SYMBOL, ticker["ask"] * 1.01)
        taker = await within(
            client.create_order(SYMBOL, "limit", "buy", 0.01, crossing, {"postOnly": True})
        )
        held = _order(exchange, taker["id"])
        assert held["orderStatus"] == "Cancelled" and held["cumExecQty"] == "0.000"
        canceled = await within(client.fetch_canceled_orders(SYMBOL))
        [gone] = [o for o in canceled if o["id"] == taker["id"]]
        assert gone["status"] == "canceled" and gone["filled"] == 0

    run(exchange, scenario)


def test_market_order_trades_and_position(exchange: RunningExchange) -> None:
    async def scenario(client: Any) -> None:
        placed = await within(client.create_order(SYMBOL, "market", "buy", 0.03))
        dump = exchange.control.dump("main")
        fills = [e for e in dump["executions"] if e["orderId"] == placed["id"]]
        assert fills

        order = await within(client.fetch_closed_order(placed["id"], SYMBOL))
        held = _order(exchange, placed["id"])
        assert order["status"] == "closed" and held["orderStatus"] == "Filled"
        assert dec(order["filled"]) == Decimal(held["cumExecQty"]) == Decimal("0.03")
        assert dec(order["average"]) == Decimal(held["avgPrice"])
        assert dec(order["fee"]["cost"]) == Decimal(held["cumExecFee"])
        # fetch_order needs ccxt's own "acknowledged" flag: it warns that Bybit keeps
        # only the last 500 orders on the endpoint it reads.
        fetched = await within(client.fetch_order(placed["id"], SYMBOL, {"acknowledged": True}))
        assert fetched["status"] == "closed" and dec(fetched["filled"]) == Decimal("0.03")
        closed = await within(client.fetch_closed_orders(SYMBOL))
        assert placed["id"] in [o["id"] for o in closed]

        trades = await within(client.fetch_my_trades(SYMBOL))
        mine = {t["id"]: t for t in trades if t["order"] == placed["id"]}
        assert set(mine) == {e["execId"] for e in fills}
        for fill in fills:
            trade = mine[fill["execId"]]
            assert dec(trade["price"]) == Decimal(fill["execPrice"])
            assert dec(trade["amount"]) == Decimal(fill["execQty"])
            assert dec(trade["fee"]["cost"]) == Decimal(fill["execFee"])
            assert trade["fee"]["currency"] == fill["feeCurrency"] == "USDT"
            assert trade["takerOrMaker"] == "taker" and trade["side"] == "buy"
            assert trade["timestamp"] == int(fill["execTime"])

        fee = await within(client.fetch_trading_fee(SYMBOL))
        assert {dec(fee["taker"])} == {Decimal(f["feeRate"]) for f in fills}  # what it charged

        [position] = await within(client.fetch_positions([SYMBOL]))
        [held_pos] = make_http(exchange).get_positions(**LIN)["result"]["list"]
        assert held_pos == next(p for p in dump["positions"] if p["symbol"] == "BTCUSDT")
        assert position["side"] == "long" and held_pos["side"] == "Buy"
        assert dec(position["contracts"]) == Decimal(held_pos["size"]) == Decimal("0.03")
        assert dec(position["entryPrice"]) == Decimal(held_pos["avgPrice"])
        assert dec(position["notional"]) == Decimal(held_pos["positionValue"])
        assert dec(position["unrealizedPnl"]) == Decimal(held_pos["unrealisedPnl"])
        assert dec(position["leverage"]) == Decimal(held_pos["leverage"])
        assert dec(position["initialMargin"]) == Decimal(held_pos["positionIM"])
        assert dec(position["maintenanceMargin"]) == Decimal(held_pos["positionMM"])
        assert dec(position["markPrice"]) == Decimal(held_pos["markPrice"])
        assert dec(position["realizedPnl"]) == Decimal(held_pos["curRealisedPnl"])
        assert position["timestamp"] == int(held_pos["createdTime"])

    run(exchange, scenario)


def test_market_order_walking_a_thin_book(exchange: RunningExchange) -> None:
    """Several executions of one order: ccxt's trades are the executions, its order's
    fill and average price are the order's (the book is thinned for this test only)."""
    ctl = exchange.control
    before = ctl.post("/paper/liquidity", symbol="BTCUSDT")  # answers the current shape
    ctl.post("/paper/liquidity", symbol="BTCUSDT", qty_per_level="0.01", growth="0")
    try:

        async def scenario(client: Any) -> None:
            placed = await within(client.create_order(SYMBOL, "market", "buy", 0.035))
            fills = [e for e in ctl.dump("main")["executions"] if e["orderId"] == placed["id"]]
            assert len(fills) >= 3  # the order walked the book
            held = _order(exchange, placed["id"])
            order = await within(client.fetch_closed_order(placed["id"], SYMBOL))
            assert dec(order["filled"]) == Decimal(held["cumExecQty"]) == Decimal("0.035")
            # An average over levels has more digits than a float: ccxt's is the nearest.
            assert order["average"] == float(held["avgPrice"])
            assert dec(order["cost"]) == Decimal(held["cumExecValue"])
            trades = await within(client.fetch_my_trades(SYMBOL))
            mine = sorted(
                (dec(t["price"]), dec(t["amount"])) for t in trades if t["order"] == placed["id"]
            )
            assert mine == sorted((Decimal(f["execPrice"]), Decimal(f["execQty"])) for f in fills)
            assert len({price for price, _ in mine}) == len(mine)  # one price per level

        run(exchange, scenario)
    finally:
        ctl.post(
            "/paper/liquidity",
            symbol="BTCUSDT",
            qty_per_level=before["qty_per_level"],
            growth=before["growth"],
        )


# --- market data -----------------------------------------------------------------------


def test_order_book_and_ticker(exchange: RunningExchange) -> None:
    http = make_http(exchange)

    async def scenario(client: Any) -> None:
        book = await within(client.fetch_order_book(SYMBOL, 50))
        held = http.get_orderbook(**LIN, limit=50)["result"]
        assert book["bids"] == [[float(p), float(q)] for p, q in held["b"]]
        assert book["asks"] == [[float(p), float(q)] for p, q in held["a"]]
        assert book["timestamp"] == held["ts"] and len(book["bids"]) == 50

        ticker = await within(client.fetch_ticker(SYMBOL))
        [raw] = http.get_tickers(**LIN)["result"]["list"]
        assert dec(ticker["last"]) == Decimal(raw["lastPrice"])
        assert dec(ticker["bid"]) == Decimal(raw["bid1Price"]) == dec(book["bids"][0][0])
        assert dec(ticker["ask"]) == Decimal(raw["ask1Price"]) == dec(book["asks"][0][0])
        assert dec(ticker["high"]) == Decimal(raw["highPrice24h"])
        assert dec(ticker["low"]) == Decimal(raw["lowPrice24h"])
        assert dec(ticker["baseVolume"]) == Decimal(raw["volume24h"])
        assert dec(ticker["markPrice"]) == Decimal(raw["markPrice"])

    run(exchange, scenario)


# --- WebSocket watchers (ccxt.pro) -----------------------------------------------------


def test_public_watchers(exchange: RunningExchange) -> None:
    http = make_http(exchange)

    async def scenario(client: Any) -> None:
        ticker = await within(client.watch_ticker(SYMBOL))
        book = await within(client.watch_order_book(SYMBOL, 50))
        [raw] = http.get_tickers(**LIN)["result"]["list"]
        held = http.get_orderbook(**LIN, limit=50)["result"]
        assert dec(ticker["last"]) == Decimal(raw["lastPrice"])
        assert dec(ticker["bid"]) == Decimal(raw["bid1Price"])
        assert book["bids"][:5] == [[float(p), float(q)] for p, q in held["b"][:5]]
        assert book["asks"][:5] == [[float(p), float(q)] for p, q in held["a"][:5]]

        # A trade at a new price reaches both watchers. ccxt wakes a watcher only for a
        # message that arrives while it waits, so both wait before the price moves.
        target = client.price_to_precision(SYMBOL, float(Decimal(raw["lastPrice"]) * 101 / 100))
        next_ticker = asyncio.ensure_future(client.watch_ticker(SYMBOL))
        next_book = asyncio.ensure_future(client.watch_order_book(SYMBOL, 50))
        await asyncio.sleep(0.1)
        exchange.control.price("BTCUSDT", target)
        ticker, book = await within(asyncio.gather(next_ticker, next_book))
        assert dec(ticker["last"]) == Decimal(target)
        held = http.get_orderbook(**LIN, limit=50)["result"]
        assert Decimal(held["b"][0][0]) < Decimal(target) < Decimal(held["a"][0][0])
        top = [[float(p) for p in held["b"][0]], [float(p) for p in held["a"][0]]]
        for _ in range(100):  # ccxt's book is live: a move may span several deltas
            if [list(book["bids"][0]), list(book["asks"][0])] == top:
                break
            await asyncio.sleep(0.02)
        assert [list(book["bids"][0]), list(book["asks"][0])] == top

    run(exchange, scenario)


async def _subscribed(exchange: RunningExchange, *topics: str) -> None:
    """Wait until the exchange has activated ``topics`` for the main account."""
    for _ in range(200):
        if all(t in exchange.control.state()["subscriptions"].get("main", []) for t in topics):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not subscribed to {topics}")


def test_private_watchers(exchange: RunningExchange) -> None:
    async def scenario(client: Any) -> None:
        # ccxt's first watch_positions answers from a REST snapshot; the next one
        # subscribes to the position topic.
        snapshot = await within(client.watch_positions([SYMBOL]))
        assert all(not p["contracts"] for p in snapshot)
        orders = asyncio.ensure_future(client.watch_orders(SYMBOL))
        trades = asyncio.ensure_future(client.watch_my_trades(SYMBOL))
        positions = asyncio.ensure_future(client.watch_positions([SYMBOL]))
        balance = asyncio.ensure_future(client.watch_balance())
        await within(_subscribed(exchange, "order", "execution", "position", "wallet"))
        placed = await within(client.create_order(SYMBOL, "market", "sell", 0.02))
        dump = exchange.control.dump("main")
        fills = {e["execId"]: e for e in dump["executions"] if e["orderId"] == placed["id"]}
        held = _order(exchange, placed["id"])

        seen_orders = await within(orders)
        while not any(o["id"] == placed["id"] and o["status"] == "closed" for o in seen_orders):
            seen_orders = await within(client.watch_orders(SYMBOL))
        [order] = [o for o in seen_orders if o["id"] == placed["id"] and o["status"] == "closed"]
        assert dec(order["filled"]) == Decimal(held["cumExecQty"]) == Decimal("0.02")
        assert dec(order["average"]) == Decimal(held["avgPrice"]) and order["side"] == "sell"

        seen_trades = await within(trades)
        while sum(t["order"] == placed["id"] for t in seen_trades) < len(fills):
            seen_trades = await within(client.watch_my_trades(SYMBOL))
        for trade in (t for t in seen_trades if t["order"] == placed["id"]):
            fill = fills[trade["id"]]
            assert dec(trade["price"]) == Decimal(fill["execPrice"])
            assert dec(trade["amount"]) == Decimal(fill["execQty"])
            assert dec(trade["fee"]["cost"]) == Decimal(fill["execFee"])

        [held_pos] = make_http(exchange).get_positions(**LIN)["result"]["list"]
        [position] = await within(positions)
        assert position["side"] == "short" and held_pos["side"] == "Sell"
        assert dec(position["contracts"]) == Decimal(held_pos["size"]) == Decimal("0.02")
        assert dec(position["entryPrice"]) == Decimal(held_pos["avgPrice"])

        # ccxt reads a pushed wallet's coin as total = equity (not walletBalance as over
        # REST), used = locked; the price stood still since the push.
        coin = exchange.control.dump("main")["wallet"]["coin"][0]
        wallet = await within(balance)
        assert dec(wallet["USDT"]["total"]) == Decimal(coin["equity"])
        assert dec(wallet["USDT"]["used"]) == Decimal(coin["locked"])

    run(exchange, scenario)
