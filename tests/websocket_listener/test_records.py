"""Parsing ahead on the receiving thread changes nothing the writer records."""

from __future__ import annotations

import time

from tests.websocket_listener.helpers import SHARED, random_executions, register_bots
from websocket_listener.envelope import Envelope
from websocket_listener.records import Recorder


def test_a_prepared_envelope_gives_the_same_batch_as_a_raw_one(database):
    register_bots(database, SHARED)
    items: list[object] = random_executions(SHARED, 3, start_ms=int(time.time() * 1000), seed=2)
    items.insert(1, {**items[0], "execId": "bad-side", "side": "Up"})  # type: ignore[dict-item]
    items.append("not an object")
    raw = Envelope.from_ws("main", {"topic": "execution", "data": items})
    prepared = Recorder.prepare(raw)
    assert prepared.parsed is not None and len(prepared.parsed) == len(items)
    assert prepared.to_json() == raw.to_json()  # the cache is never spooled

    with database.connect("listener") as conn:
        recorder = Recorder(lambda _a, _s: set())
        from_raw = recorder.to_batch(conn, [raw])
        from_prepared = recorder.to_batch(conn, [prepared])
    assert [f.exec_id for f in from_raw.fills] == [items[k]["execId"] for k in (0, 2, 3)]
    assert from_prepared.fills == from_raw.fills
    assert [(f.bot_id, f.reason) for f in from_prepared.fills] == [
        (f.bot_id, f.reason) for f in from_raw.fills
    ]
    assert [r.reason for r in from_prepared.rejects] == [r.reason for r in from_raw.rejects]
    assert len(from_raw.rejects) == 2 and "side" in from_raw.rejects[0].reason


def test_prepare_leaves_other_topics_and_malformed_messages_to_the_writer():
    order = Envelope.from_ws("main", {"topic": "order", "data": [{"orderId": "1"}]})
    broken = Envelope.from_ws("main", "garbage")
    assert Recorder.prepare(order) is order and order.parsed is None
    assert Recorder.prepare(broken) is broken and broken.parsed is None
