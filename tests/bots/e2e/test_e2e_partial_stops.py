"""Every trade-book bot protects exactly what it holds when fills come in pieces (issue 23).

A thin paper book: the market entry walks two levels (two executions) and the rest of
its quantity is cancelled (Bybit's market orders are IOC), so the stop is placed for the
first piece and grown to the second. Then the book thins further and the price trades
through the stop: the triggered stop walks the one level inside its band, fills part of
the position and has its rest cancelled. The leftover has no stop; it is closed at market
as soon as the stop is finished — before the bar closes (the clock does not move) — and
never more than is held: the bot ends flat, not the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.bots.e2e import test_e2e_lxalgo, test_e2e_momentum, test_e2e_shortseller
from tests.bots.e2e.harness import SYMBOL, D, flat_bars, stack, wait

#: Two levels of the book inside the band for the entry (levels are 1 bp apart), one
#: for the triggered stop.
ENTRY_BAND = "0.00015"
STOP_BAND = "0.00005"


@dataclass(frozen=True)
class Case:
    bot_type: str
    code: str
    config: dict[str, Any]
    bars: list[tuple]
    history: int
    sign: int  # +1 long, -1 short
    entry_level: str  # the book's quantity per level while the entry fills
    stop_level: str  # … while the stop fills
    through_stop: str  # a trade just beyond the stop's trigger


def _shortseller() -> Case:
    history, live = test_e2e_shortseller._bars()
    return Case("shortseller", "ps1", test_e2e_shortseller.CONFIG, history + live, len(history),
                -1, "0.03", "0.04", "60398")  # fmt: skip


def _lxalgo() -> Case:
    history = flat_bars(60000, 25)
    live = [(60000, 61300, 60000, 61300, 100), *flat_bars(61300, 40)]
    return Case("lxalgo", "pl1", test_e2e_lxalgo.CONFIG, history + live, len(history),
                1, "0.003", "0.004", "60074")  # fmt: skip


def _momentum() -> Case:
    swings = [(60000, 60300, 59700, p) for p in (59700, 60300) * 6]
    history = [*swings, *flat_bars(60000, 9)]
    live = [(60000, 60100, 60000, 60100, 100), *flat_bars(60100, 40)]
    config = {**test_e2e_momentum.CONFIG, "symbols": [SYMBOL]}
    return Case("momentum", "pm1", config, history + live, len(history),
                1, "0.01", "0.012", "54090")  # fmt: skip


@pytest.mark.parametrize("make", [_shortseller, _lxalgo, _momentum], ids=lambda f: f.__name__[1:])
def test_pieces_of_entry_and_stop_leave_nothing_unprotected(make, database, redis, tmp_path):
    case = make()
    bot = f"part_{case.bot_type}"
    with stack(database, tmp_path, case.bars, case.history) as s:
        liquidity = {"symbol": SYMBOL, "qty_per_level": case.entry_level}
        s.ex.control.post("/paper/liquidity", **liquidity, slippage_band=ENTRY_BAND)
        s.register(bot, case.code, case.bot_type, case.config, redis_db=6)
        s.start_bot(bot)

        s.play()  # the signal bar closes: a market entry at the next bar's open
        filled = 2 * D(case.entry_level)  # two levels, the rest cancelled
        assert s.qty(bot) == case.sign * filled
        entries = [f for f in s.fills(bot) if f.reason == "entry"]
        assert [f.qty for f in entries] == [D(case.entry_level)] * 2
        (stop,) = [o for o in s.open_orders(bot) if o["orderLinkId"].split("-")[1] == "sl"]
        assert D(stop["qty"]) == filled, "the stop does not cover exactly what filled"
        for order in s.open_orders(bot):  # the take profit, where there is one
            assert D(order["qty"]) == filled

        # The stop meets one thin level: part of it fills, the rest is cancelled.
        liquidity["qty_per_level"] = case.stop_level
        s.ex.control.post("/paper/liquidity", **liquidity, slippage_band=STOP_BAND)
        s.ex.control.post("/paper/price", symbol=SYMBOL, price=case.through_stop)
        s.settle()
        stop = next(o for o in s.orders() if o["orderLinkId"] == stop["orderLinkId"])
        assert stop["orderStatus"] == "Cancelled" and D(stop["cumExecQty"]) == D(case.stop_level)
        # No bar closes from here on: the leftover is closed because the stop finished.
        wait(lambda: s.qty(bot) == 0, timeout=10, what="the stop's leftover to be closed")
        s.settle()
        assert s.open_orders(bot) == []
        fills = s.fills(bot)
        exits = [f for f in fills if f.reason != "entry"]
        # The stop's piece, then the leftover: a market order of its own, same reason.
        assert [(f.link, f.qty) for f in exits[:1]] == [(stop["orderLinkId"], D(case.stop_level))]
        assert [f.qty for f in exits[1:]] == [filled - D(case.stop_level)]
        assert exits[1].link != stop["orderLinkId"] and exits[1].reason == exits[0].reason
        closing_side = "Sell" if case.sign > 0 else "Buy"
        assert sum(f.qty for f in fills if f.side == closing_side) == filled  # never more
        assert s.qty(bot) == 0


def test_webhook_stop_covers_the_pieces_and_its_leftover_is_closed(database, redis, tmp_path):
    """The ``webhook`` bot keeps its own stop (not the trade book): each entry piece grows
    it to the whole ledger position, and a stop that ends short of the position (its
    rest cancelled on a thin book) has the leftover closed at market at once."""
    from api import webhook_secrets
    from tests.api.api_harness import running_api
    from tests.bots.e2e.test_e2e_webhook import _alert

    bot = "part_webhook"
    with stack(database, tmp_path, flat_bars(60000, 40), 30) as s:
        liquidity = {"symbol": SYMBOL, "qty_per_level": "0.03"}
        s.ex.control.post("/paper/liquidity", **liquidity, slippage_band=ENTRY_BAND)
        s.register(bot, "pw1", "webhook", {"symbols": [SYMBOL]}, redis_db=5)
        with database.connect("owner", direct=True) as conn:
            secret = webhook_secrets.set_secret(conn, bot)
        s.start_bot(bot)
        with running_api(database) as api:
            enter = _alert(secret, "tv-1", "enter_long", qty="0.1", stop=59000)
            reply = api.post(f"/webhook/{bot}", json=enter)
            assert reply.status_code == 202, reply.text
            filled = D("0.06")  # two levels of 0.03; the rest of the market order cancelled
            wait(lambda: s.qty(bot) == filled, what="the long to open")
            s.settle()
            wait(lambda: [D(o["qty"]) for o in s.open_orders(bot)] == [filled],
                 what="the stop to cover both pieces")  # fmt: skip
            (stop,) = s.open_orders(bot)

        liquidity["qty_per_level"] = "0.04"
        s.ex.control.post("/paper/liquidity", **liquidity, slippage_band=STOP_BAND)
        s.ex.control.post("/paper/price", symbol=SYMBOL, price="58999")
        s.settle()
        stop = next(o for o in s.orders() if o["orderLinkId"] == stop["orderLinkId"])
        assert stop["orderStatus"] == "Cancelled" and D(stop["cumExecQty"]) == D("0.04")
        wait(lambda: s.qty(bot) == 0, timeout=10, what="the stop's leftover to be closed")
        s.settle()
        assert s.open_orders(bot) == []
        sells = [(f.link == stop["orderLinkId"], f.qty) for f in s.fills(bot) if f.side == "Sell"]
        assert sells == [(True, D("0.04")), (False, D("0.02"))]
        assert s.qty(bot) == 0


def test_a_leftover_exit_cut_short_by_the_book_sends_its_rest(database, redis, tmp_path):
    """Thinner still: the stop gets 0.025 of 0.06, the market exit for the 0.035 left
    gets 0.025 too (IOC, its rest cancelled), and the last 0.01 goes out at once."""
    case = _shortseller()
    bot = "part_exit"
    with stack(database, tmp_path, case.bars, case.history) as s:
        liquidity = {"symbol": SYMBOL, "qty_per_level": case.entry_level}
        s.ex.control.post("/paper/liquidity", **liquidity, slippage_band=ENTRY_BAND)
        s.register(bot, "px1", case.bot_type, case.config, redis_db=6)
        s.start_bot(bot)
        s.play()
        assert s.qty(bot) == D("-0.06")
        liquidity["qty_per_level"] = "0.025"
        s.ex.control.post("/paper/liquidity", **liquidity, slippage_band=STOP_BAND)
        s.ex.control.post("/paper/price", symbol=SYMBOL, price=case.through_stop)
        wait(lambda: s.qty(bot) == 0, timeout=10, what="the leftover to be closed")
        s.settle()
        assert s.open_orders(bot) == []
        buys = [f for f in s.fills(bot) if f.side == "Buy"]
        assert [f.qty for f in buys] == [D("0.025"), D("0.025"), D("0.01")]
        assert len({f.link for f in buys}) == 3  # the stop, then two market exits
        assert {f.reason for f in buys} == {"sl"}
