"""Two writers at once still attribute what the holder rule decides as one writer would.

The lease keeps a second listener from starting, but not an old one that reaches
PostgreSQL and not Redis (docs/architecture.md): then two sessions write batches at the
same time. The holder rule reads who held a symbol from the ledger, so a batch that
decides an ADL while another session's fill before it is still uncommitted would decide
it without that fill, and the other session's walk would not see the ADL either. The
writer serialises every fill and funding batch on one transaction-level advisory lock
(``holder_rule.LEDGER_LOCK``): the second batch waits, then reads the first's rows.

Each case holds one batch open in a transaction, writes the other on a second session,
and commits the first only once the second is waiting on the lock (or, without the lock,
has finished): the ADL must end as the sole holder's, whichever batch came first.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import pytest

from tests.websocket_listener.helpers import SHARED, execution, register_bots
from websocket_listener.batch import Batch
from websocket_listener.envelope import Envelope
from websocket_listener.records import Recorder
from websocket_listener.writer import write_batch

A, _ = SHARED
T0 = int(time.time() * 1000) - 3_600_000


def _batch(conn: Any, item: dict[str, Any]) -> Batch:
    env = Envelope.from_ws("main", {"topic": "execution", "data": [item]})
    return Recorder().to_batch(conn, [env])


def _waiting_on_advisory_lock(database: Any) -> bool:
    with database.connect("superuser", direct=True, autocommit=True) as conn:
        (n,) = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
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
        while not done.is_set() and not _waiting_on_advisory_lock(database):
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
