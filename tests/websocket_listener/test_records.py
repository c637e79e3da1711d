"""Preparing a message on the receiving thread changes nothing the writer records.

``Recorder.prepare`` parses every execution and attributes those the bot registry
alone decides; exchange-generated executions no link id of the account claims and
funding (the holder rule, settled from the ledger in the commit) are left to the writer,
and so is everything while the registry is stale.
"""

from __future__ import annotations

import time

from core.fills import Execution, Fill
from tests.websocket_listener.helpers import (
    SHARED,
    execution,
    random_executions,
    register_bots,
)
from websocket_listener.envelope import Envelope
from websocket_listener.records import Recorder


def _items() -> list[object]:
    now = int(time.time() * 1000)
    items: list[object] = random_executions(SHARED, 3, start_ms=now, seed=2)
    items.insert(1, {**items[0], "execId": "bad-side", "side": "Up"})  # type: ignore[dict-item]
    items.append("not an object")
    # No link id, exchange-generated: the holders', which only the ledger can tell.
    items.append(execution(None, side="Sell", qty="0.002", price="60000", exec_time=now,
                           exec_type="AdlTrade"))  # fmt: skip
    items.append(execution(None, side="Buy", qty="0.001", price="60000", exec_time=now))
    return items


def test_a_prepared_envelope_gives_the_same_batch_as_a_raw_one(database):
    register_bots(database, SHARED)
    items = _items()
    raw = Envelope.from_ws("main", {"topic": "execution", "data": items})

    with database.connect("listener") as conn:
        recorder = Recorder()
        cold = recorder.prepare(raw)  # registry never loaded: parse only
        from_raw = recorder.to_batch(conn, [raw])  # loads the registry
        warm = recorder.prepare(raw)
        from_cold = recorder.to_batch(conn, [cold])
        from_warm = recorder.to_batch(conn, [warm])

    assert cold.parsed is not None and warm.parsed is not None
    assert not any(isinstance(p, Fill) for p in cold.parsed)
    kinds = [type(p).__name__ for p in warm.parsed]
    assert kinds == ["Fill", "MalformedMessage", "Fill", "Fill", "MalformedMessage",
                     "Execution", "Fill"]  # fmt: skip
    assert warm.to_json() == raw.to_json()  # the cache is never spooled

    expected = [
        *[(items[k]["execId"], SHARED[b].bot_id) for k, b in ((0, 0), (2, 1), (3, 0))],  # type: ignore[index]
        # The holders decide, in the commit: until then the account's fallback.
        (items[5]["execId"], "external"),  # type: ignore[index]
        (items[6]["execId"], "external"),  # type: ignore[index]  # a manual trade
    ]
    for batch in (from_raw, from_cold, from_warm):
        assert sorted((f.exec_id, f.bot_id) for f in batch.fills) == sorted(expected)
        assert batch.fills == from_raw.fills
        assert [(f.bot_id, f.reason) for f in batch.fills] == [
            (f.bot_id, f.reason) for f in from_raw.fills
        ]
        assert [r.reason for r in batch.rejects] == [r.reason for r in from_raw.rejects]
        assert batch.fallback == {"main": "external"}
    assert len(from_raw.rejects) == 2 and "side" in from_raw.rejects[0].reason
    assert isinstance(warm.parsed[5], Execution) and not isinstance(warm.parsed[5], Fill)


def test_prepare_leaves_other_topics_and_malformed_messages_to_the_writer():
    recorder = Recorder()
    order = Envelope.from_ws("main", {"topic": "order", "data": [{"orderId": "1"}]})
    broken = Envelope.from_ws("main", "garbage")
    assert recorder.prepare(order) is order and order.parsed is None
    assert recorder.prepare(broken) is broken and broken.parsed is None
