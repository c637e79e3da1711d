"""One group commit: a batch of parsed records into the ledger, in one transaction.

Each table gets one statement per batch: the rows travel as **one JSON document**
(a single text parameter) that ``json_to_recordset`` expands server-side, so a batch of
1 and a batch of 2,000 both cost one round trip per table (PgBouncer transaction mode,
no prepared statements). JSON rather than parallel arrays because psycopg quotes array
elements in Python (a regex per element: half the writer's CPU in a profile), while
``json.dumps`` runs in C; money travels as the exact decimal text (``str(Decimal)``,
which ``numeric`` reads back unchanged), never as a float. Fills and funding
insert only executions neither table holds yet, under any bot (``NOT EXISTS``; a split
execution has a row per bot share, migration 0019), ``RETURNING exec_id``: what comes
back is exactly the set of newly inserted executions, the only ones that go on to
positions.

A large batch of fills (``COPY_MIN_FILLS`` or more, i.e. the listener under load or a
catch-up) goes by ``COPY`` instead: the server parses COPY's text rows several times
faster than it expands a JSON document (a profile of a 1,000-fill INSERT spent 40 % of
it in ``json_to_recordset``). COPY has no ``ON CONFLICT``, so the batch first asks which
of its executions the ledger already holds and copies only the others; the listener is
the ledger's only writer, so nothing can land in between. If something does (a session
that does not take its turn, below), the COPY fails on the primary key, the
transaction rolls back and the batch is written again through the ``ON CONFLICT``
statement: exactly once either way. A small batch keeps the single-round-trip INSERT,
for latency.

A batch with fills or funding first takes its turn at the ledger
(``ledger_fence.turn``): the ledger's writer row, updated ``WHERE holder = <this
listener>``. Should two listeners ever write at once (an old one that lost Redis and
with it the lease, beside the new holder), their batches take turns, so the holder rule
decides each one from the other's committed rows, and the old one's next batch finds
the row taken over and writes nothing (:class:`~websocket_listener.ledger_fence.Fenced`).

An execution is stored once across both tables: a fill whose ``execId`` the funding
table holds (or the reverse) is not inserted. The same ``execId`` again with the same
facts is a silent no-op; with different ones (quantity, price, fee, fee currency, side,
symbol, type, account — or once as funding and once as a trade) it is a **conflicting
duplicate**: the ledger keeps what it stored first, the newcomer becomes a
``trading.fill_rejects`` row saying what differs, and :attr:`Committed.conflicts`
carries it to the listener, which raises one alert. The check costs a query only for a
batch that had duplicates.

Orders are state snapshots: the upsert keeps the newest (``updated_time``, then
``cum_exec_qty``) and never touches an order already in a terminal status, so a late
``New`` after ``Filled`` or Bybit's documented second ``Filled`` (cancel/fill race) is
ignored.

The records it takes and returns are in ``batch.py``, the statements in
``ledger_statements.py``, the row encoding in ``row_encoding.py`` and the duplicate
check in ``duplicates.py``; this module decides what runs, in which order, in one
transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

import orjson
import psycopg

from core.attribution import FillShare
from core.fills import Fill, FundingPayment
from core.ids import EXCHANGE
from websocket_listener.batch import Batch, Committed, Conflict, OrderRow
from websocket_listener.duplicates import conflict_reject, conflicting_duplicates
from websocket_listener.holder_rule import LedgerKey, Moved, Pair, settle
from websocket_listener.ledger_fence import turn_taken
from websocket_listener.ledger_statements import (
    COPY_FILLS,
    EXISTING_FILLS,
    FILL_COLUMNS,
    FUNDING_COLUMNS,
    INSERT_FILLS,
    INSERT_FUNDING,
    INSERT_REJECTS,
    ORDER_COLUMNS,
    TERMINAL_STATUSES,
    UPSERT_ORDERS,
)
from websocket_listener.row_encoding import columns_json, fill_copy_row

log = logging.getLogger(__name__)

#: From this many fills in a batch, ``COPY`` (two extra round trips, much cheaper rows).
COPY_MIN_FILLS = 32


def _copy_fills(cur: psycopg.Cursor[Any], fills: Sequence[Fill]) -> set[str]:
    """COPY the fills the ledger does not hold yet; returns their exec ids."""
    ids = orjson.dumps([f.exec_id for f in fills]).decode()
    cur.execute(EXISTING_FILLS, (EXCHANGE, ids, EXCHANGE, ids))
    held = {r[0] for r in cur.fetchall()}
    new = [f for f in fills if f.exec_id not in held]
    if new:
        with cur.copy(COPY_FILLS) as copy:
            for f in new:
                copy.write_row(fill_copy_row(f))
    return {f.exec_id for f in new}


def _order_rank(row: OrderRow) -> tuple[bool, Any, Any]:
    return (row.status in TERMINAL_STATUSES, row.updated_time or 0, row.cum_exec_qty)


def _latest_orders(rows: Sequence[OrderRow]) -> list[OrderRow]:
    """One row per order id (an upsert cannot touch a row twice): the most advanced state."""
    best: dict[str, OrderRow] = {}
    for row in rows:
        current = best.get(row.order_id)
        if current is None:
            best[row.order_id] = row
        elif current.status in TERMINAL_STATUSES:
            continue  # the first terminal state wins, as in the table
        elif row.status in TERMINAL_STATUSES or _order_rank(row)[1:] >= _order_rank(current)[1:]:
            best[row.order_id] = row
    return list(best.values())


def _unique_by(rows: Sequence[Any], key: str) -> list[Any]:
    """First occurrence per key: a batch may carry the same execution twice."""
    seen: set[str] = set()
    out = []
    for row in rows:
        k = getattr(row, key)
        if k not in seen:
            seen.add(k)
            out.append(row)
    return out


def write_batch(
    conn: psycopg.Connection[Any],
    batch: Batch,
    *,
    copy: bool | None = None,
    holder: str | None = None,
) -> Committed:
    """Write ``batch`` in one transaction and commit; raises on any database error, and
    ``Fenced`` (nothing written) when ``holder`` is no longer the ledger's writer.

    ``copy``: fills by COPY (True) or by INSERT (False); by default COPY from
    ``COPY_MIN_FILLS`` fills (the benchmark forces each to measure both). ``holder``:
    the writer's fencing token (``ledger_fence.take``); None takes the turn unchecked."""
    fills = _unique_by(batch.fills, "exec_id")
    if copy if copy is not None else len(fills) >= COPY_MIN_FILLS:
        try:
            return _write(conn, batch, fills, copy=True, holder=holder)
        except psycopg.errors.UniqueViolation as exc:
            log.warning(
                "another session wrote some of these fills meanwhile (%s); "
                "writing the batch again with ON CONFLICT",
                exc.diag.constraint_name,
            )
    return _write(conn, batch, fills, copy=False, holder=holder)


def _write(
    conn: psycopg.Connection[Any],
    batch: Batch,
    fills: list[Fill],
    *,
    copy: bool,
    holder: str | None,
) -> Committed:
    funding = _unique_by(batch.funding, "exec_id")
    orders = _latest_orders(batch.orders)
    new_ids: set[str] = set()
    new_funding: set[str] = set()
    rejects = list(batch.rejects)
    conflicts: list[Conflict] = []
    # One statement needs no BEGIN and COMMIT of its own on an autocommit connection
    # (the listener's): it is its own transaction, one round trip instead of three.
    # Fills and funding always take a transaction: the holder rule's corrections
    # (holder_rule.settle) must commit with the rows that caused them.
    # One batch at a time, and only the ledger's writer (ledger_fence): BEGIN and the
    # turn travel together, so the turn costs no round trip of its own.
    parts = bool(fills) + bool(funding) + bool(orders) + bool(batch.rejects)
    alone = parts == 1 and not fills and not funding
    block: AbstractContextManager[Any]
    if fills or funding:
        block = turn_taken(conn, holder)
    else:
        block = nullcontext() if conn.autocommit and alone else conn.transaction()
    settled = None
    with block, conn.cursor() as cur:
        if fills and copy:
            new_ids = _copy_fills(cur, fills)
        elif fills:
            cur.execute(INSERT_FILLS, columns_json(fills, FILL_COLUMNS))
            new_ids = {r[0] for r in cur.fetchall()}
        if funding:
            cur.execute(INSERT_FUNDING, columns_json(funding, FUNDING_COLUMNS))
            new_funding = {r[0] for r in cur.fetchall()}
        if new_ids or new_funding:
            starts = _earliest_keys(
                [f for f in fills if f.exec_id in new_ids],
                [f for f in funding if f.exec_id in new_funding],
            )
            settled = settle(cur, starts, batch.fallback)
        if orders:
            cur.execute(UPSERT_ORDERS, columns_json(orders, ORDER_COLUMNS))
        for conflict, row in conflicting_duplicates(
            cur, batch, fills, funding, new_ids, new_funding
        ):
            conflicts.append(conflict)
            rejects.append(conflict_reject(conflict, row))
        if rejects:
            cur.execute(
                INSERT_REJECTS, columns_json(rejects, ("account", "topic", "reason", "message"))
            )
    new = [f for f in fills if f.exec_id in new_ids]
    moved: list[Moved] = []
    if settled is not None and settled.moved:
        final = settled.shares
        new = [part for f in new for part in _shares(f, final.get(f.exec_id))]
        moved = [m for m in settled.moved if m.exec_id not in new_ids]
    return Committed(
        new_fills=new,
        duplicate_fills=len(batch.fills) - len(new_ids),
        new_funding=len(new_funding),
        duplicate_funding=len(batch.funding) - len(new_funding),
        orders=len(orders),
        rejects=len(rejects),
        conflicts=conflicts,
        reject_codes=[r.code for r in rejects],
        moved=moved,
        funding_reshared=settled.funding_reshared if settled is not None else 0,
    )


def _earliest_keys(
    fills: Sequence[Fill], funding: Sequence[FundingPayment]
) -> dict[Pair, LedgerKey]:
    """The earliest ledger key of the new rows per (account, symbol)."""
    starts: dict[Pair, LedgerKey] = {}
    keys = [((f.account, f.symbol), f.ledger_key) for f in fills]
    keys += [((p.account, p.symbol), (p.exec_time, p.seq, p.exec_id)) for p in funding]
    for pair, key in keys:
        if pair not in starts or key < starts[pair]:
            starts[pair] = key
    return starts


def _shares(fill: Fill, shares: Sequence[FillShare] | None) -> list[Fill]:
    """A new fill as the holder rule finally attributed it: one fill per bot share."""
    if shares is None:
        return [fill]
    return [
        replace(fill, bot_id=s.bot_id, exec_qty=s.qty, exec_value=s.value, exec_fee=s.fee,
                attribution=s.rule.value)
        for s in shares
    ]  # fmt: skip
