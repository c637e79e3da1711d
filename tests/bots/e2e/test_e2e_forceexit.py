"""The host's ``exit`` command (``/forceexit BOT SYMBOL``) closes the bot's own position in
that one symbol at market, cancels its resting orders there, and nothing else: its other
symbol keeps its position and its stop and take profit, and another holder's position
in the same symbol on the shared account is not touched (the exit is bound by the
bot's ledger position, like ``flatten``)."""

from __future__ import annotations

from decimal import Decimal

from core.exchange.client import make_http
from core.link_ids import LinkIdFactory, Reason
from tests.bots.e2e.harness import SYMBOL, flat_bars, stack, wait

ETH = "ETHUSDT"
EXITS = {
    "stop_loss_pct": "1.0",
    "take_profit_pct": "3.0",
    "trailing_distance_pct": "1.0",
    "trailing_activation_pct": "2.0",
}
CONFIG = {
    "ema_fast": 3,
    "ema_slow": 5,
    "symbols": [SYMBOL, ETH],
    "exits": {SYMBOL: EXITS, ETH: EXITS},
}
BOT = "ss_fx"


def _exchange_position(s, symbol: str) -> Decimal:
    for p in s.ex.control.dump("main")["positions"]:
        if p["symbol"] == symbol:
            size = Decimal(p["size"])
            return size if p["side"] == "Buy" else -size
    return Decimal(0)


def _resting(s) -> list[tuple[str, str]]:
    return sorted((o["symbol"], o["orderLinkId"].split("-")[1]) for o in s.open_orders(BOT))


def test_exit_closes_one_symbol_only(database, redis, tmp_path):
    bars = flat_bars(60000, 60)
    with stack(database, tmp_path, bars, 30) as s:
        s.register(BOT, "fx1", "shortseller", CONFIG, redis_db=6)
        # A second bot on the account (never started): a manual trade then goes to
        # ``external``, not to the account's only bot (docs/attribution.md rule 3).
        s.register("ss_peer", "fx2", "shortseller", CONFIG, redis_db=7)
        http = make_http(s.settings, "main")
        links = LinkIdFactory("fx1")  # type: ignore[arg-type]
        # Someone else's ETH short (no link id: external), then the bot's own shorts
        # (its link ids) in two symbols.
        s.ex.control.manual_trade("main", ETH, "Sell", "0.2")
        s.settle()
        for symbol, qty in ((SYMBOL, "0.01"), (ETH, "0.5")):
            reply = http.place_order(
                category="linear", symbol=symbol, side="Sell", orderType="Market", qty=qty,
                orderLinkId=links.new(Reason.MANUAL),
            )  # fmt: skip
            assert reply["retCode"] == 0, reply
        s.settle()
        s.start_bot(BOT)  # adopts both shorts and protects each with a stop and a take profit
        assert (s.qty(BOT), s.qty(BOT, ETH)) == (Decimal("-0.01"), Decimal("-0.5"))
        assert _resting(s) == [(SYMBOL, "sl"), (SYMBOL, "tp"), (ETH, "sl"), (ETH, "tp")]

        s.command(BOT, "exit", symbol=ETH)
        wait(lambda: s.qty(BOT, ETH) == 0, what="exit of ETHUSDT")
        s.settle()
        assert s.qty(BOT) == Decimal("-0.01")  # the other symbol is untouched
        assert _resting(s) == [(SYMBOL, "sl"), (SYMBOL, "tp")]
        eth = [f for f in s.fills(BOT) if f.link.split("-")[1] == "ks"]
        assert [(f.side, f.qty) for f in eth] == [("Buy", Decimal("0.5"))]
        assert _exchange_position(s, ETH) == Decimal("-0.2")  # the other holder's part
        assert _exchange_position(s, SYMBOL) == Decimal("-0.01")

        s.command(BOT, "exit", symbol="SOLUSDT")  # not one of its symbols: ignored
        s.command(BOT, "exit", symbol=ETH)  # nothing left there: no order
        placed = len(s.orders())
        s.play(1)
        assert len(s.orders()) == placed
        assert s.qty(BOT) == Decimal("-0.01")
