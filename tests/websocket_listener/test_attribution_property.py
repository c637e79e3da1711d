"""Property: the ledger's attributions and positions do not depend on arrival order or
batching (docs/attribution.md, "A late fill corrects what follows it").

Hypothesis generates small histories on three accounts — ``main`` shared by two bots,
``alt`` shared by two others, ``solo`` bound to one bot with a retired one beside it —
of trades (by link id, with another account's link id, manual), flips, ADL executions
and funding, and feeds them through the listener's own write path (parse, attribute,
group commit, holder rule, positions) in a random order and random batches. The result
must equal a one-at-a-time oracle written independently of the listener: executions
taken in ledger order, holders kept as running sums per (account, symbol, bot).

Each example uses symbols of its own, so one database serves every example.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.attribution import split_funding
from core.ids import BotId
from tests.websocket_listener.helpers import TestBot as Bot
from tests.websocket_listener.helpers import register_bots
from websocket_listener.envelope import Envelope
from websocket_listener.positions import ledger_positions
from websocket_listener.service import Listener

BOTS = (
    Bot("prop_a", "pa1", "main", 6),
    Bot("prop_b", "pb1", "main", 7),
    Bot("prop_c", "pc1", "alt", 8),
    Bot("prop_d", "pd1", "alt", 9),
    Bot("prop_e", "pe1", "solo", 10),
    Bot("prop_r", "pr1", "solo", 11),  # retired below: solo is bound to prop_e
)
ACCOUNTS = ("main", "alt", "solo")
BOUND = {"solo": "prop_e"}
CODES = {b.code: b for b in BOTS}
T0 = int(time.time() * 1000) - 86_400_000
_symbols = itertools.count(1)


@dataclass(frozen=True)
class Event:
    kind: str  # trade | adl | funding
    account: str
    code: str  # the link id's bot code ('' for none)
    side: str
    qty: Decimal
    amount: Decimal  # funding only
    at: int  # ms after T0 (ties on purpose)
    seq: int


@st.composite
def events(draw: st.DrawFn) -> Event:
    """Mostly the account's own bots' trades (positions to hold), some manual trades and
    other accounts' link ids, ADL and funding (the holder rule)."""
    account = draw(st.sampled_from(ACCOUNTS))
    own = [b.code for b in BOTS if b.account == account]
    return Event(
        kind=draw(st.sampled_from(("trade", "trade", "trade", "adl", "funding", "funding"))),
        account=account,
        code=draw(st.sampled_from((*own, *own, *own, "", *CODES))),
        side=draw(st.sampled_from(("Buy", "Sell"))),
        qty=Decimal(draw(st.integers(1, 4))) / 1000,
        amount=Decimal(draw(st.integers(-300, 300).filter(bool))).scaleb(-7),
        at=draw(st.integers(0, 12)),
        seq=draw(st.integers(0, 3)),
    )


def item(event: Event, symbol: str) -> dict[str, Any]:
    """The ``execution`` item Bybit would send."""
    exec_type = {"trade": "Trade", "adl": "AdlTrade", "funding": "Funding"}[event.kind]
    link = f"{event.code}-en-mi3k9q2a-{uuid.uuid4().hex[:6]}" if event.kind == "trade" else ""
    if event.code == "" or event.kind != "trade":
        link = ""
    qty = event.qty
    return {
        "category": "linear",
        "symbol": symbol,
        "execId": str(uuid.uuid4()),
        "orderId": str(uuid.uuid4()),
        "orderLinkId": link,
        "side": event.side,
        "execPrice": "100",
        "execQty": str(qty),
        "execValue": str(qty * 100),
        "execFee": format(event.amount, "f") if event.kind == "funding" else "0",
        "feeCurrency": "USDT",
        "execType": exec_type,
        "execTime": str(T0 + event.at * 1000),
        "isMaker": False,
        "seq": event.seq,
    }


#: A position: (account, bot, symbol) — ``external`` has one per account.
Key = tuple[str, str, str]


def oracle(
    executions: list[tuple[str, dict[str, Any]]],
) -> tuple[dict[str, str], dict[str, dict[str, Decimal]], dict[Key, Decimal]]:
    """One at a time in ledger order: fills' bots, funding shares, each position's quantity."""
    fills: dict[str, str] = {}
    funding: dict[str, dict[str, Decimal]] = {}
    held: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    qty: dict[Key, Decimal] = defaultdict(Decimal)

    def ledger_key(e: tuple[str, dict[str, Any]]) -> tuple[int, int, str]:
        return (int(e[1]["execTime"]), e[1]["seq"], e[1]["execId"])

    for account, it in sorted(executions, key=ledger_key):
        fallback = BOUND.get(account, "external")
        here = held[(account, it["symbol"])]
        holders = {bot: q for bot, q in here.items() if q}
        if it["execType"] == "Funding":
            by_bot = {BotId(b): q for b, q in holders.items()}
            shares = split_funding(Decimal(it["execFee"]), by_bot, BotId(fallback))
            funding[it["execId"]] = {str(b): amount for b, amount, _ in shares}
            continue
        code = it["orderLinkId"].split("-")[0] if it["orderLinkId"] else ""
        owner = CODES.get(code)
        if owner is not None and owner.account == account:
            bot = owner.bot_id
        elif it["execType"] != "Trade" and len(holders) == 1:
            bot = next(iter(holders))
        else:
            bot = fallback
        fills[it["execId"]] = bot
        signed = Decimal(it["execQty"]) * (1 if it["side"] == "Buy" else -1)
        here[bot] += signed
        qty[(account, bot, it["symbol"])] += signed
    return fills, funding, dict(qty)


def read_ledger(
    database: Any, symbols: list[str]
) -> tuple[dict[str, str], dict[str, dict[str, Decimal]], dict[Key, Decimal]]:
    with database.connect("readonly") as conn:
        fills = dict(
            conn.execute(
                "SELECT exec_id, bot_id FROM trading.fills WHERE symbol = ANY(%s)", (symbols,)
            ).fetchall()
        )
        funding: dict[str, dict[str, Decimal]] = defaultdict(dict)
        for exec_id, bot, fee in conn.execute(
            "SELECT exec_id, bot_id, funding_fee FROM trading.funding WHERE symbol = ANY(%s)",
            (symbols,),
        ):
            funding[exec_id][bot] = fee
        folded = ledger_positions(conn)
    qty = {k: p.qty for k, p in folded.items() if k[2] in symbols}
    return fills, dict(funding), qty


def nonzero(qty: dict[Key, Decimal]) -> dict[Key, Decimal]:
    return {k: v for k, v in qty.items() if v}


def test_attribution_is_independent_of_arrival_order_and_batching(database, redis):
    register_bots(database, BOTS)
    with database.connect("owner", direct=True) as conn:
        conn.execute("UPDATE trading.bots SET status = 'retired' WHERE bot_id = 'prop_r'")
        conn.commit()
    listener = Listener(database.settings, application_name="test-attribution-property")
    listener.start_writer()

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        history=st.lists(events(), min_size=1, max_size=16),
        two_symbols=st.sampled_from((False, False, True)),
        order_seed=st.integers(0, 2**32 - 1),
    )
    def check(history: list[Event], two_symbols: bool, order_seed: int) -> None:
        symbols = [f"PROP{next(_symbols)}USDT" for _ in range(2 if two_symbols else 1)]
        rnd = random.Random(order_seed)
        executions = [(e.account, item(e, rnd.choice(symbols))) for e in history]
        arrival = executions[:]
        rnd.shuffle(arrival)
        while arrival:  # random batches: each committed before the next is sent
            size = rnd.randint(1, 4)
            batch, arrival = arrival[:size], arrival[size:]
            by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for account, it in batch:
                by_account[account].append(it)
            listener.feed(
                Envelope.from_ws(account, {"topic": "execution", "data": items})
                for account, items in by_account.items()
            )
            assert listener.pipeline.flush(timeout=60)
        assert listener.pipeline.fatal is None
        want_fills, want_funding, want_qty = oracle(executions)
        got_fills, got_funding, got_qty = read_ledger(database, symbols)
        assert got_fills == want_fills
        assert got_funding == want_funding
        amounts = {it["execId"]: Decimal(it["execFee"]) for _, it in executions}
        for exec_id, shares in got_funding.items():
            assert sum(shares.values()) == amounts[exec_id]  # exactly Bybit's amount
        assert nonzero(got_qty) == nonzero(want_qty)
        book = {k: p.qty for k, p in listener.book.positions.items() if k[2] in symbols}
        assert nonzero(book) == nonzero(want_qty)

    try:
        check()
    finally:
        listener.pipeline.stop()
