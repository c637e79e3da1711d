"""Claiming external fills through the listener (docs/attribution.md#operator-claims).

A real listener writes real fills into the real database and mirrors Redis; the claim
arrives on the Redis request stream and is answered in one line. The assigned fill's
position and P&L move from ``external`` to the bot in the analytics views, in Redis and
in a rebuild from the ledger; funding after it follows the new holdings; the order in
which the fills arrived does not change the result; every refusal says why.
"""

from __future__ import annotations

import getpass
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from core import redis_keys
from core.redis_client import infra_client
from tests.websocket_listener.helpers import SHARED, SOLO, execution, redis_positions, register_bots
from tests.websocket_listener.helpers import TestBot as Bot
from websocket_listener.claim_requests import ClaimConsumer
from websocket_listener.envelope import Envelope
from websocket_listener.fill_claims import ClaimRequest
from websocket_listener.positions import ledger_positions
from websocket_listener.service import Listener

A, B = SHARED  # both on "main": a manual trade there is external
RETIRED = Bot("alpha_old", "ol1", "main", None)
T0 = int(time.time() * 1000) - 3_600_000


def trade(bot: Bot | None, qty: str, at: int, side: str = "Buy", price: str = "100") -> Any:
    return execution(bot, side=side, qty=qty, price=price, fee="0.1", exec_time=T0 + at)


def funding(fee: str, at: int, qty: str = "1") -> dict[str, Any]:
    return execution(
        None, side="Buy", qty=qty, price="100", fee=fee, exec_time=T0 + at, exec_type="Funding"
    )


@pytest.fixture
def listener(database: Any, redis: Any) -> Any:
    register_bots(database, (*SHARED, SOLO))
    running = Listener(database.settings, application_name="test-fill-claims")
    running.start_writer()
    yield running
    running.pipeline.stop()
    running.book.drain(10)


def feed(listener: Listener, account: str, *items: dict[str, Any]) -> None:
    listener.feed([Envelope.from_ws(account, {"topic": "execution", "data": list(items)})])
    assert listener.pipeline.flush(timeout=60)
    assert listener.pipeline.fatal is None
    listener.book.drain(10)  # the Redis mirror writes in the background


def ask(listener: Listener, exec_id: str, bot: str, reason: str = "my manual entry") -> str:
    result = listener.assign(ClaimRequest(exec_id, bot, reason, "operator"))
    listener.book.drain(10)
    return f"{'ok' if result.ok else 'refused'} {result.text}"


def analytics(database: Any) -> dict[str, tuple[Decimal, Decimal]]:
    """bot → (qty, realized P&L) in BTCUSDT, from the analytics view."""
    with database.connect("readonly") as conn:
        rows = conn.execute(
            "SELECT bot_id, qty, realized_pnl FROM analytics.bot_positions WHERE symbol = 'BTCUSDT'"
        ).fetchall()
    return {bot: (qty, pnl) for bot, qty, pnl in rows}


def redis_qty(database: Any, bot_id: str) -> Decimal:
    """The bot's BTCUSDT quantity in its Redis position hash (0 when there is none)."""
    bots = {b.bot_id: b for b in (*SHARED, SOLO)}
    held = redis_positions(database.stack, (bots[bot_id],))
    return held.get((bot_id, "BTCUSDT"), Decimal(0))


def shares(database: Any, exec_id: str) -> dict[str, Decimal]:
    with database.connect("readonly") as conn:
        rows = conn.execute(
            "SELECT bot_id, funding_fee FROM trading.funding WHERE exec_id = %s", (exec_id,)
        ).fetchall()
    return {bot: fee for bot, fee in rows}


def test_an_assigned_fill_moves_position_and_pnl_to_the_bot(listener, database):
    entry, exit_ = trade(None, "2", 1_000), trade(None, "2", 2_000, side="Sell", price="110")
    feed(listener, "main", entry)
    feed(listener, "main", exit_)
    before = analytics(database)
    assert before["external"] == (Decimal(0), Decimal("19.8"))  # 20 gross − 2 × 0.1 fees
    assert ask(listener, entry["execId"], A.bot_id).startswith("ok ")
    assert ask(listener, exit_["execId"], A.bot_id).startswith("ok ")
    after = analytics(database)
    assert after[A.bot_id] == (Decimal(0), Decimal("19.8"))
    assert after.get("external", (Decimal(0), Decimal(0))) == (Decimal(0), Decimal(0))
    with database.connect("readonly") as conn:
        who = conn.execute(
            "SELECT to_bot, requested_by, reason FROM trading.fill_claims WHERE exec_id = %s",
            (entry["execId"],),
        ).fetchone()
    assert who == (A.bot_id, "operator", "my manual entry")


def book_qty(listener: Listener, bot_id: str) -> Decimal:
    """The listener's in-memory position (external, spanning accounts, has no Redis one)."""
    held = listener.book.positions.get(("main", bot_id, "BTCUSDT"))  # type: ignore[arg-type]
    return held.qty if held is not None else Decimal(0)


def test_an_open_position_moves_in_redis_and_in_a_rebuild(listener, database, monkeypatch, capsys):
    manual = trade(None, "3", 1_000)
    feed(listener, "main", manual)
    assert book_qty(listener, "external") == Decimal(3)
    assert redis_qty(database, B.bot_id) == Decimal(0)
    assert ask(listener, manual["execId"], B.bot_id).startswith("ok ")
    assert redis_qty(database, B.bot_id) == Decimal(3)
    assert book_qty(listener, B.bot_id) == Decimal(3)
    assert book_qty(listener, "external") == Decimal(0)
    assert analytics(database)[B.bot_id][0] == Decimal(3)
    with database.connect("listener") as conn:
        folded = {(str(b), str(s)): p.qty for (_, b, s), p in ledger_positions(conn).items()}
    assert folded[(B.bot_id, "BTCUSDT")] == Decimal(3)
    assert folded.get(("external", "BTCUSDT"), Decimal(0)) == Decimal(0)
    # `alpha positions rebuild` (Redis lost, say) folds the claim in the same way.
    from core.cli import main

    database.stack.redis(B.redis_db).flushdb()
    for name, value in database.env().items():
        monkeypatch.setenv(name, value)
    assert main(["positions", "rebuild"]) == 0
    assert "rebuilt" in capsys.readouterr().out
    assert redis_qty(database, B.bot_id) == Decimal(3)


def test_refusals_say_why_and_change_nothing(listener, database):
    register_bots(database, (RETIRED,))
    with database.connect("owner", direct=True) as conn:
        conn.execute(
            "UPDATE trading.bots SET status = 'retired' WHERE bot_id = %s", (RETIRED.bot_id,)
        )
        conn.commit()
    manual, own = trade(None, "1", 1_000), trade(A, "1", 1_500)
    feed(listener, "main", manual, own)
    assert ask(listener, "no-such-exec", A.bot_id) == (
        "refused unknown execution 'no-such-exec': no fill with that exec id"
    )
    assert ask(listener, own["execId"], B.bot_id) == (
        f"refused fill {own['execId']} is not external: it belongs to {A.bot_id}"
    )
    assert ask(listener, manual["execId"], SOLO.bot_id) == (
        f"refused bot {SOLO.bot_id} trades on account solo, the fill is on main"
    )
    assert (
        ask(listener, manual["execId"], RETIRED.bot_id)
        == f"refused bot {RETIRED.bot_id} is retired"
    )
    assert ask(listener, manual["execId"], "nobody_here").startswith("refused unknown bot")
    assert analytics(database)["external"][0] == Decimal(1)
    assert ask(listener, manual["execId"], A.bot_id).startswith("ok ")
    assert ask(listener, manual["execId"], B.bot_id) == (
        f"refused fill {manual['execId']} was already assigned to {A.bot_id} by operator"
    )
    assert analytics(database)[A.bot_id][0] == Decimal(2)


def test_funding_after_the_fill_follows_the_new_holdings(listener, database):
    manual, pay = trade(None, "1", 1_000), funding("0.05", at=2_000)
    feed(listener, "main", trade(A, "1", 500), manual)
    feed(listener, "main", pay)
    assert shares(database, pay["execId"]) == {
        A.bot_id: Decimal("0.025"),
        "external": Decimal("0.025"),
    }
    assert ask(listener, manual["execId"], A.bot_id).startswith("ok ")
    assert shares(database, pay["execId"]) == {A.bot_id: Decimal("0.05")}


@pytest.mark.parametrize("late_first", [False, True])
def test_arrival_order_does_not_matter(listener, database, late_first):
    """The claimed fill's earlier fills arrive after the claim, or before it."""
    earlier, manual, pay = trade(B, "2", 500), trade(None, "1", 1_000), funding("0.3", 2_000, "3")
    if late_first:
        feed(listener, "main", earlier)
    feed(listener, "main", manual, pay)
    assert ask(listener, manual["execId"], A.bot_id).startswith("ok ")
    if not late_first:
        feed(listener, "main", earlier)
    listener.book.drain(10)
    assert shares(database, pay["execId"]) == {A.bot_id: Decimal("0.1"), B.bot_id: Decimal("0.2")}
    assert redis_qty(database, A.bot_id) == Decimal(1)
    assert redis_qty(database, B.bot_id) == Decimal(2)
    assert analytics(database)[A.bot_id][0] == Decimal(1)


def test_a_request_on_the_stream_is_answered_in_one_line(listener, database):
    manual = trade(None, "1", 1_000)
    feed(listener, "main", manual)
    infra = infra_client(database.settings)
    consumer = ClaimConsumer(infra, listener.assign)
    consumer.start()
    try:
        answers = []
        for bot in (A.bot_id, B.bot_id):
            request_id = uuid.uuid4().hex
            fields = {
                "request_id": request_id,
                "exec_id": manual["execId"],
                "bot_id": bot,
                "reason": "claimed in a test",
                "requested_by": "cli:tester",
            }
            infra.xadd(redis_keys.FILL_CLAIMS, fields)
            reply = infra.blpop([redis_keys.fill_claim_reply(request_id)], timeout=30)
            assert reply is not None
            answers.append(reply[1])
    finally:
        consumer.stop()
    assert answers[0].startswith("ok ")
    assert answers[1].startswith(f"refused fill {manual['execId']} was already assigned")


def test_the_cli_prints_the_answer_and_refuses_in_one_line(listener, database, monkeypatch, capsys):
    from core.cli import main

    for name, value in database.env().items():
        monkeypatch.setenv(name, value)
    manual = trade(None, "1", 1_000)
    feed(listener, "main", manual)
    consumer = ClaimConsumer(infra_client(database.settings), listener.assign)
    consumer.start()
    try:
        argv = ["fills", "assign", manual["execId"], "--bot", A.bot_id, "--reason", "mine"]
        assert main(argv) == 0
        assert capsys.readouterr().out.strip() == (
            f"fill {manual['execId']} (main BTCUSDT) assigned to {A.bot_id}"
        )
        assert main([*argv[:4], B.bot_id, "--reason", "mine too"]) == 1
        err = capsys.readouterr().err.strip()
        assert err == (
            f"alpha: error: refused: fill {manual['execId']} was already assigned to"
            f" {A.bot_id} by cli:{getpass.getuser()}"
        )
        assert "\n" not in err
    finally:
        consumer.stop()
    listener.book.drain(10)
    assert redis_qty(database, A.bot_id) == Decimal(1)


def test_the_cli_says_so_when_no_listener_answers(database, monkeypatch, capsys):
    from core.cli import main

    for name, value in database.env().items():
        monkeypatch.setenv(name, value)
    argv = ["fills", "assign", "abc", "--bot", A.bot_id, "--reason", "x", "--timeout", "0.2"]
    assert main(argv) == 1
    assert capsys.readouterr().err.strip() == (
        "alpha: error: no answer from the listener within 0.2s (is it running?); the request"
        " stays queued and applies when it reads it"
    )


def test_an_adl_after_the_fill_follows_it_to_the_bot(listener, database):
    """The exchange deleveraged the position the manual trade opened: once that trade is
    the bot's, so is the ADL, and both positions are flat again."""
    manual = trade(None, "1", 1_000)
    deleveraged = execution(
        None, side="Sell", qty="1", price="100", fee="0", exec_time=T0 + 2_000,
        exec_type="AdlTrade",
    )  # fmt: skip
    feed(listener, "main", manual, deleveraged)
    assert ask(listener, manual["execId"], A.bot_id).startswith("ok ")
    with database.connect("readonly") as conn:
        row = conn.execute(
            "SELECT bot_id, attribution FROM trading.fills WHERE exec_id = %s",
            (deleveraged["execId"],),
        ).fetchone()
    assert row == (A.bot_id, "sole_holder")
    assert book_qty(listener, A.bot_id) == Decimal(0)
    assert book_qty(listener, "external") == Decimal(0)
    assert analytics(database)[A.bot_id][0] == Decimal(0)


def test_a_malformed_request_is_refused_and_acknowledged(listener, database):
    infra = infra_client(database.settings)
    consumer = ClaimConsumer(infra, listener.assign)
    consumer.start()
    try:
        infra.xadd(redis_keys.FILL_CLAIMS, {"request_id": "r-bad", "exec_id": "x"})
        reply = infra.blpop([redis_keys.fill_claim_reply("r-bad")], timeout=30)
    finally:
        consumer.stop()
    assert reply is not None
    assert reply[1] == "refused malformed claim request: missing bot_id, reason, requested_by"
    pending = infra.xpending(redis_keys.FILL_CLAIMS, redis_keys.FILL_CLAIMS_GROUP)
    assert pending["pending"] == 0


def test_a_split_adl_cannot_be_claimed(listener, database):
    """An ADL split between two holders (external among them) is no single bot's fill:
    a claim is refused and changes nothing."""
    deleveraged = execution(
        None, side="Sell", qty="2", price="100", fee="0", exec_time=T0 + 2_000,
        exec_type="AdlTrade",
    )  # fmt: skip
    feed(listener, "main", trade(None, "1", 1_000), trade(A, "1", 1_500), deleveraged)
    answer = ask(listener, deleveraged["execId"], B.bot_id)
    assert answer == (
        f"refused fill {deleveraged['execId']} is split between the bots that held it"
        f" ({A.bot_id}, external)"
    )
    assert book_qty(listener, A.bot_id) == Decimal(0)
    assert book_qty(listener, "external") == Decimal(0)
