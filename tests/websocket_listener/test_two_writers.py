"""Two writers at once still attribute what the holder rule decides as one writer would.

The lease keeps a second listener from starting, but not an old one that reaches
PostgreSQL and not Redis (docs/architecture.md): then two sessions may write batches at
the same time. The holder rule reads who held a symbol from the ledger, so a batch that
decides an ADL while another session's fill before it is still uncommitted would decide
it without that fill, and the other session's walk would not see the ADL either. Every
fill and funding batch first takes its turn at the ledger's writer row
(``ledger_fence.turn``): the second batch waits, then reads the first's rows. And once a
new listener has taken the ledger over (``ledger_fence.take``), the old one's next batch
writes nothing: it is fenced.

The first cases hold one batch open in a transaction, write the other on a second
session, and commit the first only once the second is waiting (or, without the turn,
has finished): the ADL must end as the sole holder's, whichever batch came first.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import pytest

from devenv.ports import wait_until
from tests.websocket_listener.helpers import SHARED, execution, register_bots
from websocket_listener.batch import Batch
from websocket_listener.envelope import Envelope
from websocket_listener.ledger_fence import Fenced, take
from websocket_listener.records import Recorder
from websocket_listener.service import Listener
from websocket_listener.writer import write_batch

A, _ = SHARED
T0 = int(time.time() * 1000) - 3_600_000


def _batch(conn: Any, item: dict[str, Any]) -> Batch:
    env = Envelope.from_ws("main", {"topic": "execution", "data": [item]})
    return Recorder().to_batch(conn, [env])


def _waiting_on_a_lock(database: Any) -> bool:
    with database.connect("superuser", direct=True, autocommit=True) as conn:
        (n,) = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE NOT l.granted AND a.datname = current_database()"
        ).fetchone()
    return bool(n)


@pytest.mark.parametrize("first", ["fill", "adl"])
def test_an_adl_written_beside_its_holders_fill_goes_to_the_holder(database, first):
    """A buys 1 at t=1 s; an ADL sells 1 at t=2 s: A is its sole holder."""
    register_bots(database, SHARED)
    items = {
        "fill": execution(A, side="Buy", qty="1", price="100", exec_time=T0 + 1_000),
        "adl": execution(
            None, side="Sell", qty="1", price="100", fee="0", exec_time=T0 + 2_000,
            exec_type="AdlTrade",
        ),
    }  # fmt: skip
    second = "adl" if first == "fill" else "fill"
    opened = database.connect("listener", direct=True)  # not autocommit: left open
    try:
        batch = _batch(opened, items[first])  # reads the bots, then commits
        opened.execute("SELECT 1")  # a transaction is open: write_batch nests in it
        write_batch(opened, batch)
        done = threading.Event()
        failed: list[BaseException] = []

        def other_writer() -> None:
            try:
                with database.connect("listener", direct=True, autocommit=True) as conn:
                    write_batch(conn, _batch(conn, items[second]))
            except BaseException as exc:  # reported by the test, not lost in the thread
                failed.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=other_writer, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not done.is_set() and not _waiting_on_a_lock(database):
            assert time.monotonic() < deadline, "the second batch neither waited nor finished"
            time.sleep(0.02)
        opened.commit()
        thread.join(30)
        assert not thread.is_alive() and not failed, failed
    finally:
        opened.close()

    with database.connect("readonly") as conn:
        rows = conn.execute(
            "SELECT bot_id, exec_qty, attribution FROM trading.fills WHERE exec_id = %s",
            (items["adl"]["execId"],),
        ).fetchall()
        held = dict(
            conn.execute(
                "SELECT bot_id, qty FROM analytics.bot_positions WHERE account = 'main'"
            ).fetchall()
        )
    assert rows == [(A.bot_id, Decimal(1), "sole_holder")]
    assert held.get(A.bot_id) == Decimal(0)
    assert held.get("external", Decimal(0)) == Decimal(0)


def test_a_writer_the_ledger_was_taken_from_writes_nothing_more(database):
    """The old listener's batch after the new one took the ledger over is refused whole
    (exit 74's exception); the new holder goes on writing."""
    register_bots(database, SHARED)
    old_id, new_id = "old-host:7:aaaa", "new-host:7:bbbb"
    first, second, third = (
        execution(A, side="Buy", qty="1", price="100", exec_time=T0 + at)
        for at in (1_000, 2_000, 3_000)
    )
    with (
        database.connect("listener", autocommit=True) as old,
        database.connect("listener", autocommit=True) as new,
    ):
        take(old, old_id)
        assert len(write_batch(old, _batch(old, first), holder=old_id).new_fills) == 1
        assert take(new, new_id) == old_id
        refused = _batch(old, second)
        with pytest.raises(Fenced, match=f"another listener \\({new_id}\\) took the ledger over"):
            write_batch(old, refused, holder=old_id)
        assert Fenced.exit_code == 74
        assert len(write_batch(new, _batch(new, third), holder=new_id).new_fills) == 1
        # The same execution again from the old one: still refused, not a duplicate.
        with pytest.raises(Fenced):
            write_batch(old, _batch(old, third), holder=old_id)
    with database.connect("readonly") as conn:
        held = {r[0] for r in conn.execute("SELECT exec_id FROM trading.fills").fetchall()}
        (holder,) = conn.execute("SELECT holder FROM trading.ledger_writer").fetchone()
    assert held == {first["execId"], third["execId"]}
    assert holder == new_id


def test_a_listener_stops_when_the_ledger_is_taken_from_it(database, redis):
    """In the listener: the writer thread stops on the refused batch (no traceback), and
    ``run`` would raise it; the batch's fill is not written."""
    register_bots(database, SHARED)
    listener = Listener(database.settings, application_name="test-fenced")
    listener.start_writer()
    try:
        before = execution(A, side="Buy", qty="1", price="100", exec_time=T0 + 1_000)
        listener.feed([Envelope.from_ws("main", {"topic": "execution", "data": [before]})])
        assert listener.pipeline.flush(timeout=30)
        with database.connect("listener", autocommit=True) as conn:
            assert take(conn, "elsewhere:1:cccc") == listener.holder
        after = execution(A, side="Buy", qty="1", price="100", exec_time=T0 + 2_000)
        listener.feed([Envelope.from_ws("main", {"topic": "execution", "data": [after]})])
        assert wait_until(lambda: listener.pipeline.fatal is not None, 30)
        assert isinstance(listener.pipeline.fatal, Fenced)
        assert not listener.pipeline.is_alive()
    finally:
        listener.pipeline.stop()
    with database.connect("readonly") as conn:
        held = {r[0] for r in conn.execute("SELECT exec_id FROM trading.fills").fetchall()}
    assert held == {before["execId"]}
