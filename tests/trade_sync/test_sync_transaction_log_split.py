"""The transaction-log reconciliation's ledger side counts a split ADL once.

An ADL on a symbol two bots hold is two ``pro_rata`` rows of one execution
(docs/attribution.md). Bybit's log has one entry for it: the ledger side must fold the
account's position over the execution (its shares summed back), count it once, and
each bot's own realized P&L must be its own share's, not the other bot's too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.websocket_listener.helpers import SHARED, execution, register_bots
from trade_sync.jobs import transaction_log
from websocket_listener.envelope import Envelope
from websocket_listener.service import Listener

A, B = SHARED
DAY = datetime(2026, 12, 1, tzinfo=UTC)
AT = int((DAY + timedelta(hours=10)).timestamp() * 1000)


def test_a_split_adl_is_one_entry_and_each_bot_keeps_its_own_share(database, redis) -> None:
    register_bots(database, SHARED)
    fills = [
        execution(A, side="Buy", qty="0.002", price="100", fee="0", exec_time=AT),
        execution(B, side="Buy", qty="0.004", price="100", fee="0", exec_time=AT + 1_000),
        execution(
            None, side="Sell", qty="0.004", price="110", fee="0.0011", exec_time=AT + 2_000,
            exec_type="AdlTrade",
        ),
    ]  # fmt: skip
    listener = Listener(database.settings, application_name="test-transaction-log-split")
    listener.start_writer()
    try:
        listener.feed([Envelope.from_ws("main", {"topic": "execution", "data": fills})])
        assert listener.pipeline.flush(timeout=60) and listener.pipeline.fatal is None
    finally:
        listener.pipeline.stop()
    with database.connect("readonly") as conn:
        shares = conn.execute(
            "SELECT bot_id, exec_qty FROM trading.fills WHERE exec_id = %s ORDER BY bot_id",
            (fills[2]["execId"],),
        ).fetchall()
    assert shares == [(A.bot_id, Decimal("0.001")), (B.bot_id, Decimal("0.003"))]

    check = transaction_log.DayCheck(DAY.date(), DAY, DAY + timedelta(days=1, microseconds=-1))
    with database.connect("readonly") as conn:
        transaction_log._ledger_side(conn, "main", {check.day: check})
    assert check.ledger.count == 3  # two buys and one ADL, as Bybit's log has them
    assert check.ledger.fees == Decimal("0.0011")
    assert check.ledger.realized == Decimal("0.04")  # 0.004 closed at +10
    assert check.bots_realized == {A.bot_id: Decimal("0.01"), B.bot_id: Decimal("0.03")}
