"""The group-commit writer's two ways of writing fills, and the race between them.

A batch of ``COPY_MIN_FILLS`` or more goes by ``COPY`` after asking which executions the
ledger already holds; a smaller one by ``INSERT … ON CONFLICT``. Both must produce the
same rows, report exactly the new executions, and stay exactly-once when another
session writes one of the batch's executions between the check and the COPY.
"""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from typing import Any

import psycopg

from tests.websocket_listener.helpers import SHARED, random_executions, register_bots
from websocket_listener.batch import Batch, RejectRow
from websocket_listener.envelope import Envelope
from websocket_listener.ledger_statements import FILL_COLUMNS, INSERT_FILLS
from websocket_listener.records import Recorder
from websocket_listener.row_encoding import columns_json
from websocket_listener.writer import COPY_MIN_FILLS, write_batch

COLUMNS = (
    "account, category, bot_id, symbol, order_id, order_link_id, reason, side, exec_price,"
    " exec_qty, exec_value, exec_fee, fee_currency, is_maker, exec_type, exec_time, seq,"
    " source, raw::jsonb"
)


def _batch(conn: Any, items: list[dict[str, Any]]) -> Batch:
    env = Envelope.from_ws("main", {"topic": "execution", "data": items})
    return Recorder().to_batch(conn, [env])


def _rows(database: Any) -> dict[str, tuple[Any, ...]]:
    with database.connect("readonly") as conn:
        return {
            r[0]: r[1:]
            for r in conn.execute(f"SELECT exec_id, {COLUMNS} FROM trading.fills").fetchall()
        }


def _start_ms() -> int:
    return int(time.time() * 1000) - 60_000


def test_copy_and_insert_write_the_same_rows(database):
    register_bots(database, SHARED)
    items = random_executions(SHARED, COPY_MIN_FILLS, start_ms=_start_ms(), seed=3)
    with database.connect("listener") as conn:
        big = write_batch(conn, _batch(conn, items))  # COPY
    copied = _rows(database)
    with database.connect("superuser", direct=True) as conn:
        conn.execute("SET session_replication_role = replica")  # past the writer guard
        conn.execute("DELETE FROM trading.fills")
        conn.commit()
    with database.connect("listener") as conn:
        for k in range(0, len(items), COPY_MIN_FILLS // 4):  # INSERT, a few at a time
            write_batch(conn, _batch(conn, items[k : k + COPY_MIN_FILLS // 4]))
    inserted = _rows(database)

    assert [f.exec_id for f in big.new_fills] == [it["execId"] for it in items]
    assert copied == inserted
    for item in items:
        row = copied[item["execId"]]
        assert row[8] == Decimal(item["execPrice"]) and str(row[8]) == item["execPrice"]
        assert row[9] == Decimal(item["execQty"]) and row[11] == Decimal(item["execFee"])
        assert row[-1] == json.loads(json.dumps(item))  # raw: the message item, unchanged


def test_copy_reports_only_executions_the_ledger_did_not_hold(database):
    register_bots(database, SHARED)
    items = random_executions(SHARED, 2 * COPY_MIN_FILLS, start_ms=_start_ms(), seed=4)
    held, fresh = items[:COPY_MIN_FILLS], items[COPY_MIN_FILLS:]
    with database.connect("listener") as conn:
        write_batch(conn, _batch(conn, held))
        # A catch-up page: everything again, plus new ones, one of them twice.
        again = write_batch(conn, _batch(conn, [*fresh, *held, fresh[0]]))
    assert [f.exec_id for f in again.new_fills] == [it["execId"] for it in fresh]
    assert again.duplicate_fills == len(held) + 1
    assert set(_rows(database)) == {it["execId"] for it in items}


def test_a_fill_written_by_another_session_during_the_copy_is_kept_once(database):
    register_bots(database, SHARED)
    items = random_executions(SHARED, COPY_MIN_FILLS + 8, start_ms=_start_ms(), seed=5)
    rival = database.connect("listener", direct=True)
    try:
        # The rival holds one execution uncommitted: the batch's check cannot see it, its
        # COPY then waits on that key and fails once the rival commits.
        write_batch_open(rival, _batch(rival, items[3:4]))
        result: dict[str, Any] = {}

        def writer() -> None:
            with database.connect("listener", direct=True) as conn:
                result["committed"] = write_batch(conn, _batch(conn, items))

        thread = threading.Thread(target=writer)
        thread.start()
        _wait_for_lock_wait(database)
        rival.commit()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        rival.close()

    committed = result["committed"]
    assert len(committed.new_fills) == len(items) - 1
    assert committed.duplicate_fills == 1
    assert items[3]["execId"] not in {f.exec_id for f in committed.new_fills}
    assert set(_rows(database)) == {it["execId"] for it in items}


def write_batch_open(conn: Any, batch: Batch) -> None:
    """The rival's INSERT, left uncommitted (``write_batch`` would commit it)."""
    conn.execute(INSERT_FILLS, columns_json(batch.fills, FILL_COLUMNS))


def _wait_for_lock_wait(database: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    with database.connect("superuser", direct=True) as conn:
        conn.autocommit = True
        while time.monotonic() < deadline:
            (waiting,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE 'COPY trading.fills%'"
            ).fetchone()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the COPY never waited on the rival's uncommitted execution")


def test_on_an_autocommit_connection_every_batch_is_committed_when_it_returns(database):
    register_bots(database, SHARED)
    items = random_executions(SHARED, COPY_MIN_FILLS + 3, start_ms=_start_ms(), seed=6)
    reject = RejectRow("main", "execution", "test: unreadable", "{}")
    with database.connect("listener") as conn:
        conn.autocommit = True
        write_batch(conn, _batch(conn, items[:2]))  # one INSERT: its own transaction
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        write_batch(conn, _batch(conn, items[2:]))  # check + COPY
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        mixed = _batch(conn, items[:1])
        mixed.rejects.append(reject)  # two statements: one explicit transaction
        again = write_batch(conn, mixed)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert again.duplicate_fills == 1 and again.rejects == 1
    assert set(_rows(database)) == {it["execId"] for it in items}
    with database.connect("readonly") as conn:
        (n,) = conn.execute("SELECT count(*) FROM trading.fill_rejects").fetchone()
    assert n == 1
