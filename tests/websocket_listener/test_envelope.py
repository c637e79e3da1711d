"""Spool lines: the receive time travels as whole microseconds; older lines still read."""

from __future__ import annotations

import json

from websocket_listener.envelope import Envelope


def test_spool_line_round_trips_the_receive_time_exactly() -> None:
    envelope = Envelope("main", "ws", "execution", [{"execId": "e1", "execQty": "0.5"}])
    line = envelope.to_json()
    assert isinstance(json.loads(line)["received_us"], int)
    back = Envelope.from_json(line)
    assert round(back.received_at * 1_000_000) == round(envelope.received_at * 1_000_000)
    assert back.items == [{"execId": "e1", "execQty": "0.5"}]


def test_a_line_spooled_by_an_older_listener_still_reads() -> None:
    row = json.loads(Envelope("main", "ws", "execution", []).to_json())
    row["received_at"] = 1763712000.123456
    del row["received_us"]
    assert Envelope.from_json(json.dumps(row)).received_at == 1763712000.123456
