"""Executions that come again: an identical one is a no-op, a different one a conflict.

An ``execId`` the ledger (or the batch) already holds with other facts — quantity, price,
fee, fee currency, side, symbol, type, account, or once as funding and once as a trade —
is a conflicting duplicate: the ledger keeps what it stored first and the newcomer
becomes a ``trading.fill_rejects`` row saying what differs. Apart from the writer
because it is a question of its own, asked only of a batch that had duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import psycopg

from core.fills import Fill, FundingPayment
from core.ids import EXCHANGE
from websocket_listener.batch import Batch, Conflict, RejectRow
from websocket_listener.ledger_statements import FACTS, STORED_FACTS
from websocket_listener.row_encoding import raw_text

Facts = tuple[Any, ...]


def facts(row: Fill | FundingPayment) -> Facts:
    """What must match when an execId comes again (the order of :data:`FACTS`)."""
    if isinstance(row, FundingPayment):
        return ("funding", row.account, row.symbol, row.side.value, "Funding",
                row.position_qty, None, row.funding_fee, None)  # fmt: skip
    return ("fill", row.account, row.symbol, row.side.value, row.exec_type, row.exec_qty,
            row.exec_price, row.exec_fee, row.fee_currency)  # fmt: skip


def _difference(stored: Facts, new: Facts) -> str:
    return ", ".join(
        f"{name} {_show(a)} → {_show(b)}"
        for name, a, b in zip(FACTS, stored, new, strict=True)
        if a != b
    )


def _show(value: Any) -> str:
    return "–" if value is None else str(value)


def stored_conflicts(
    cur: psycopg.Cursor[Any], again: Sequence[Fill | FundingPayment], first: dict[str, Facts]
) -> list[tuple[Conflict, Fill | FundingPayment]]:
    """The executions of ``again`` (not inserted: the ledger or the batch already had
    their execId) whose facts differ from what is stored, or from the batch's first
    occurrence (``first``) when the ledger did not take that one either."""
    if not again:
        return []
    ids = orjson.dumps(sorted({r.exec_id for r in again})).decode()
    cur.execute(STORED_FACTS, (EXCHANGE, ids, EXCHANGE, ids))
    stored = {r[0]: tuple(r[1:]) for r in cur.fetchall()}
    out = []
    for row in again:
        held = stored.get(row.exec_id) or first.get(row.exec_id)
        new = facts(row)
        if held is not None and held != new:
            conflict = Conflict(row.account, row.exec_id, row.symbol, _difference(held, new))
            out.append((conflict, row))
    return out


def conflict_reject(conflict: Conflict, row: Fill | FundingPayment) -> RejectRow:
    reason = (
        f"execution: conflicting_duplicate: execId {conflict.exec_id[:100]} is in the ledger"
        f" with other facts: {conflict.difference}"
    )
    return RejectRow(
        row.account, "execution", reason[:500], raw_text(row.raw), "conflicting_duplicate"
    )


def conflicting_duplicates(
    cur: psycopg.Cursor[Any],
    batch: Batch,
    fills: Sequence[Fill],
    funding: Sequence[FundingPayment],
    new_ids: set[str],
    new_funding: set[str],
) -> list[tuple[Conflict, Fill | FundingPayment]]:
    """The batch's executions that were not inserted and differ from what is held.

    ``fills`` and ``funding``: the batch's first occurrence per execId (what was offered
    to the ledger); ``new_ids`` and ``new_funding``: what the ledger took. Costs a query
    only when something came again."""
    if len(new_ids) == len(batch.fills) and len(new_funding) == len(batch.funding):
        return []
    first_fill = {r.exec_id: facts(r) for r in fills}
    first_funding = {r.exec_id: facts(r) for r in funding}
    again: list[Fill | FundingPayment] = [
        r for r in batch.fills
        if r.exec_id not in new_ids or first_fill[r.exec_id] != facts(r)
    ]  # fmt: skip
    again += [
        r for r in batch.funding
        if r.exec_id not in new_funding or first_funding[r.exec_id] != facts(r)
    ]  # fmt: skip
    return stored_conflicts(cur, again, {**first_funding, **first_fill})
