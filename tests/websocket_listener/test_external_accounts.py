"""``external`` spans accounts: its position in a symbol is one per account
(docs/positions.md#external-on-several-accounts).

Manual trades in BTCUSDT on two accounts — long on ``main``, short on ``alt`` — must
not share a cost basis: each account's ``external`` position, average entry and
realized P&L are its own, and the listener's book, a rebuild from the ledger and the
analytics views agree exactly. The bots on the same accounts and symbol keep their
Redis positions as before.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import redis as redis_lib

from core import redis_keys
from tests.websocket_listener.helpers import TestBot as Bot
from tests.websocket_listener.helpers import execution, redis_positions, register_bots
from websocket_listener.envelope import Envelope
from websocket_listener.positions import PositionBook, ledger_positions
from websocket_listener.service import Listener

# Two bots per account: an account serving one bot would give it the manual trades.
BOTS = (
    Bot("xa_main", "xm1", "main", 4),
    Bot("xa_main2", "xm2", "main", 5),
    Bot("xa_alt", "xl1", "alt", 6),
    Bot("xa_alt2", "xl2", "alt", 7),
)
MAIN_BOT, _, ALT_BOT, _ = BOTS
T0 = int(time.time() * 1000) - 3_600_000
FEE = Decimal("0.01")


def manual(side: str, qty: str, price: str, at: int) -> dict[str, Any]:
    return execution(None, side=side, qty=qty, price=price, fee=str(FEE), exec_time=T0 + at)


# One history, in ledger order. Folded together (the bug) main's sell at 120 would close
# alt's short's leftovers instead of main's own long.
HISTORY: list[tuple[str, dict[str, Any]]] = [
    ("main", manual("Buy", "0.02", "100", 1)),
    ("alt", manual("Sell", "0.01", "110", 2)),
    ("main", execution(MAIN_BOT, side="Buy", qty="0.003", price="101", exec_time=T0 + 3)),
    ("main", manual("Sell", "0.01", "120", 4)),
    ("alt", manual("Buy", "0.005", "105", 5)),
    ("alt", execution(ALT_BOT, side="Sell", qty="0.004", price="104", exec_time=T0 + 6)),
]

# Worked by hand: main long 0.02 @100, closes 0.01 @120 → gross +0.2, two fees;
# alt short 0.01 @110, closes 0.005 @105 → gross +0.025, two fees.
WANT = {
    ("main", "external"): (Decimal("0.01"), Decimal("100"), Decimal("0.2") - 2 * FEE),
    ("alt", "external"): (Decimal("-0.005"), Decimal("110"), Decimal("0.025") - 2 * FEE),
    ("main", "xa_main"): (Decimal("0.003"), Decimal("101"), -FEE),
    ("alt", "xa_alt"): (Decimal("-0.004"), Decimal("104"), -FEE),
}


def feed(database: Any) -> Listener:
    listener = Listener(database.settings, application_name="test-external-accounts")
    listener.start_writer()
    try:
        for account, item in HISTORY:
            listener.feed([Envelope.from_ws(account, {"topic": "execution", "data": [item]})])
            assert listener.pipeline.flush(timeout=60)
            assert listener.pipeline.fatal is None
    finally:
        listener.pipeline.stop()
    return listener


def as_table(positions: dict[Any, Any]) -> dict[tuple[str, str], tuple[Decimal, ...]]:
    """(account, bot) → (qty, avg_price, realized_pnl) of BTCUSDT."""
    out = {}
    for (account, bot_id, symbol), p in positions.items():
        assert symbol == "BTCUSDT"
        out[(str(account), str(bot_id))] = (p.qty, p.avg_price, p.realized_pnl)
    return out


def test_external_positions_are_per_account_everywhere(database, redis, services):
    register_bots(database, BOTS)
    listener = feed(database)
    assert listener.book.drain(timeout=30)

    assert as_table(listener.book.positions) == WANT

    with database.connect("listener") as conn:
        assert as_table(ledger_positions(conn)) == WANT
        rebuilt = PositionBook(services.redis)
        rebuilt.rebuild(conn)
    assert as_table(rebuilt.positions) == WANT

    shown = database.alpha("positions", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert {
        (r["account"], r["bot_id"]): (
            Decimal(r["qty"]),
            Decimal(r["avg_price"]),
            Decimal(r["realized_pnl"]),
        )
        for r in json.loads(shown.stdout)
    } == WANT

    with database.connect("readonly") as conn:
        views = conn.execute(
            "SELECT account, bot_id, qty, avg_price, realized_pnl FROM analytics.bot_positions"
            " WHERE symbol = 'BTCUSDT'"
        ).fetchall()
        assert {(a, b): (q, p, r) for a, b, q, p, r in views} == WANT
        daily = dict(
            conn.execute("SELECT bot_id, realized_pnl FROM analytics.bot_daily_pnl").fetchall()
        )
        # The daily view sums a bot over its accounts: external's two accounts together.
        assert daily["external"] == WANT[("main", "external")][2] + WANT[("alt", "external")][2]
        trips = conn.execute(
            "SELECT account, side, qty FROM analytics.round_trips WHERE bot_id = 'external'"
        ).fetchall()
        assert trips == []  # neither account's external position has come back to flat

    # Bots of one account keep their Redis hashes; external has none on any account.
    assert redis_positions(services, BOTS) == {
        ("xa_main", "BTCUSDT"): Decimal("0.003"),
        ("xa_alt", "BTCUSDT"): Decimal("-0.004"),
    }
    shared: redis_lib.Redis = services.redis(redis_keys.SHARED_DB)
    assert not list(shared.scan_iter("position:external:*"))
