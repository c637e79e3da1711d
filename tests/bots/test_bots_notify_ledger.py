"""A bot reads its fills' P&L over one kept connection (bots/runtime/notify.py).

Opening a connection per exit fill cost a SCRAM handshake through PgBouncer each time
(docs/fleet.md#how-fast-a-bot-reacts); the reads now share one autocommit connection,
and a broken one is replaced on the next read.
"""

from __future__ import annotations

import pytest

import core.db
from bots.runtime import notify

FILL = {"exec_time": "2024-01-01T00:00:00+00:00", "symbol": "BTCUSDT", "seq": "1",
        "exec_id": "no-such-execution"}  # fmt: skip


@pytest.fixture
def opened(monkeypatch):
    """Every connection ``core.db.connect`` opens, in order."""
    conns = []
    real = core.db.connect

    def counting(*args, **kwargs):
        conns.append(real(*args, **kwargs))
        return conns[-1]

    monkeypatch.setattr(core.db, "connect", counting)
    monkeypatch.setattr(notify, "_KEPT", {}, raising=False)  # (absent before the change)
    yield conns
    for conn in conns:
        conn.close()


def test_p_and_l_reads_share_one_connection(database, opened):
    for _ in range(3):  # no fold row: None, and said so in the log
        assert notify.closing_of(database.settings, "some_bot", FILL) is None
    assert len(opened) == 1


def test_a_broken_connection_is_replaced_on_the_next_read(database, opened):
    assert notify.closing_of(database.settings, "some_bot", FILL) is None
    opened[0].close()  # as if PgBouncer or the server had dropped it
    assert notify.closing_of(database.settings, "some_bot", FILL) is None
    assert len(opened) == 2 and not opened[1].closed


def test_a_failed_read_starts_over_with_a_fresh_connection(database, opened):
    assert notify.closing_of(database.settings, "some_bot", FILL) is None
    assert notify.closing_of(database.settings, "bad\x00bot", FILL) is None  # refused
    assert opened[0].closed  # whatever state the failure left it in, it is not reused
    assert notify.closing_of(database.settings, "some_bot", FILL) is None
    assert len(opened) == 2
