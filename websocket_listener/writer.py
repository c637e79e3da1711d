"""One group commit: a batch of parsed records into the ledger, in one transaction.

Each table gets one statement per batch: the rows travel as **one JSON document**
(a single text parameter) that ``json_to_recordset`` expands server-side, so a batch of
1 and a batch of 2,000 both cost one round trip per table (PgBouncer transaction mode,
no prepared statements). JSON rather than parallel arrays because psycopg quotes array
elements in Python (a regex per element: half the writer's CPU in a profile), while
``json.dumps`` runs in C; money travels as the exact decimal text (``str(Decimal)``,
which ``numeric`` reads back unchanged), never as a float. Fills and funding
use ``ON CONFLICT (exchange, exec_id) DO NOTHING RETURNING exec_id``: what comes back is
exactly the set of newly inserted executions, the only ones that go on to positions.

A large batch of fills (``COPY_MIN_FILLS`` or more, i.e. the listener under load or a
catch-up) goes by ``COPY`` instead: the server parses COPY's text rows several times
faster than it expands a JSON document (a profile of a 1,000-fill INSERT spent 40 % of
it in ``json_to_recordset``). COPY has no ``ON CONFLICT``, so the batch first asks which
of its executions the ledger already holds and copies only the others; the listener is
the ledger's only writer, so nothing can land in between. If something does (a second
listener started by mistake), the COPY fails on the primary key, the transaction rolls
back and the batch is written again through the ``ON CONFLICT`` statement: exactly once
either way. A small batch keeps the single-round-trip INSERT, for latency.

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
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import psycopg

from core.fills import TERMINAL_ORDER_STATUSES, Fill, FundingPayment, OrderUpdate
from core.ids import EXCHANGE, BotId
from websocket_listener.holder_rule import LedgerKey, Moved, Pair, settle

log = logging.getLogger(__name__)

TERMINAL_STATUSES = tuple(sorted(TERMINAL_ORDER_STATUSES))

#: From this many fills in a batch, ``COPY`` (two extra round trips, much cheaper rows).
COPY_MIN_FILLS = 32


@dataclass(slots=True)
class OrderRow:
    account: str
    category: str
    order_id: str
    order_link_id: str
    bot_id: str
    reason: str | None
    symbol: str
    side: str
    order_type: str
    time_in_force: str | None
    status: str
    price: Any
    qty: Any
    cum_exec_qty: Any
    cum_exec_value: Any
    avg_price: Any
    trigger_price: Any
    reduce_only: bool
    cancel_type: str | None
    reject_reason: str | None
    created_time: Any
    updated_time: Any
    raw: str

    @classmethod
    def of(cls, order: OrderUpdate, bot_id: str, reason: str | None) -> OrderRow:
        values = {name: getattr(order, name) for name in _ORDER_FIELDS}
        return cls(**values, bot_id=bot_id, reason=reason, raw=raw_json(order.raw))


@dataclass(slots=True)
class RejectRow:
    account: str | None
    topic: str | None
    reason: str
    message: str
    #: The rejects metric's label (not stored: ``reason`` starts with it).
    code: str = "malformed"


@dataclass(slots=True)
class Batch:
    fills: list[Fill] = field(default_factory=list)
    funding: list[FundingPayment] = field(default_factory=list)
    orders: list[OrderRow] = field(default_factory=list)
    rejects: list[RejectRow] = field(default_factory=list)
    #: Per account of the batch: who takes what neither a link id nor a holder claims
    #: (``Attributor.fallback``; external where missing), for the holder rule.
    fallback: dict[str, BotId] = field(default_factory=dict)

    def extend(self, other: Batch) -> None:
        self.fills += other.fills
        self.funding += other.funding
        self.orders += other.orders
        self.rejects += other.rejects
        self.fallback.update(other.fallback)

    def __bool__(self) -> bool:
        return bool(self.fills or self.funding or self.orders or self.rejects)


@dataclass(frozen=True, slots=True)
class Conflict:
    """An ``execId`` seen again with facts that differ from the ledger's."""

    account: str
    exec_id: str
    symbol: str
    #: What differs, e.g. ``exec_qty 0.5 → 0.6``.
    difference: str


@dataclass(slots=True)
class Committed:
    """What the transaction actually changed."""

    new_fills: list[Fill]
    duplicate_fills: int
    new_funding: int
    duplicate_funding: int
    orders: int
    rejects: int
    #: When the batch's live socket ``execution`` messages were received (set by the
    #: pipeline: the latency metric is observed once their Redis writes are done).
    received_at: list[float] = field(default_factory=list)
    #: Conflicting duplicates (each also one of ``rejects``).
    conflicts: list[Conflict] = field(default_factory=list)
    #: The code of every committed reject: counted once they are kept, never before
    #: (a batch the database refused is built again, row by row).
    reject_codes: list[str] = field(default_factory=list)
    #: Fills committed earlier that the holder rule gave another bot (a late fill
    #: before them changed who held the symbol): positions refold both bots.
    moved: list[Moved] = field(default_factory=list)
    #: Funding executions whose shares between bots were rewritten.
    funding_reshared: int = 0

    def add(self, other: Committed) -> None:
        self.new_fills += other.new_fills
        self.duplicate_fills += other.duplicate_fills
        self.new_funding += other.new_funding
        self.duplicate_funding += other.duplicate_funding
        self.orders += other.orders
        self.rejects += other.rejects
        self.conflicts += other.conflicts
        self.reject_codes += other.reject_codes
        self.moved += other.moved
        self.funding_reshared += other.funding_reshared


_ORDER_FIELDS = (
    "account", "category", "order_id", "order_link_id", "symbol", "side", "order_type",
    "time_in_force", "status", "price", "qty", "cum_exec_qty", "cum_exec_value", "avg_price",
    "trigger_price", "reduce_only", "cancel_type", "reject_reason", "created_time",
    "updated_time",
)  # fmt: skip

_FILL_COLUMNS = (
    "exchange", "account", "category", "exec_id", "bot_id", "symbol", "order_id",
    "order_link_id", "reason", "side", "exec_price", "exec_qty", "exec_value", "exec_fee",
    "fee_currency", "is_maker", "exec_type", "exec_time", "seq", "source", "raw",
    "attribution",
)  # fmt: skip
_FILL_TYPES = (
    "text", "text", "text", "text", "text", "text", "text", "text", "text", "text",
    "numeric", "numeric", "numeric", "numeric", "text", "boolean", "text", "timestamptz",
    "bigint", "text", "text", "text",
)  # fmt: skip

_FUNDING_COLUMNS = (
    "exchange", "account", "category", "exec_id", "bot_id", "symbol", "side", "funding_fee",
    "fee_rate", "mark_price", "position_qty", "position_value", "exec_time", "source", "raw",
    "seq", "attribution",
)  # fmt: skip
_FUNDING_TYPES = (
    "text", "text", "text", "text", "text", "text", "text", "numeric", "numeric", "numeric",
    "numeric", "numeric", "timestamptz", "text", "text", "bigint", "text",
)  # fmt: skip

_ORDER_COLUMNS = (
    "exchange", "account", "category", "order_id", "order_link_id", "bot_id", "reason",
    "symbol", "side", "order_type", "time_in_force", "status", "price", "qty", "cum_exec_qty",
    "cum_exec_value", "avg_price", "trigger_price", "reduce_only", "cancel_type",
    "reject_reason", "created_time", "updated_time", "raw",
)  # fmt: skip
_ORDER_TYPES = (
    "text", "text", "text", "text", "text", "text", "text", "text", "text", "text", "text",
    "text", "numeric", "numeric", "numeric", "numeric", "numeric", "numeric", "boolean",
    "text", "text", "timestamptz", "timestamptz", "text",
)  # fmt: skip


#: The type of each table's ``raw`` column (migration 0004: ``json`` for the executions).
_RAW_TYPES = {"fills": "json", "funding": "json", "orders": "jsonb"}


def _unnest_insert(table: str, columns: Sequence[str], types: Sequence[str]) -> str:
    """``INSERT … SELECT`` from one JSON array of row objects (see :func:`_rows_json`)."""
    record = ", ".join(
        f"{c} {_RAW_TYPES[table] if c == 'raw' else t}" for c, t in zip(columns, types, strict=True)
    )
    cols = ", ".join(columns)
    return (
        f"INSERT INTO trading.{table} ({cols}) SELECT {cols}"
        f" FROM json_to_recordset(%s::json) AS u({record})"
    )


#: Not an execution the other table holds: an execId is stored once, as a fill or as
#: funding (an index probe per row on the other table's primary key).
_NOT_IN = (
    " WHERE NOT EXISTS (SELECT 1 FROM trading.{other} o"
    " WHERE o.exchange = u.exchange AND o.exec_id = u.exec_id)"
)
INSERT_FILLS = (
    _unnest_insert("fills", _FILL_COLUMNS, _FILL_TYPES)
    + _NOT_IN.format(other="funding")
    + " ON CONFLICT (exchange, exec_id) DO NOTHING RETURNING exec_id"
)
#: The batch's ids travel as one JSON array (psycopg dumps a Python list element by
#: element in Python: 8 % of the writer's time for 1,000 ids).
_IDS = "exec_id IN (SELECT json_array_elements_text(%s::json))"
EXISTING_FILLS = (
    f"SELECT exec_id FROM trading.fills WHERE exchange = %s AND {_IDS}"
    f" UNION ALL SELECT exec_id FROM trading.funding WHERE exchange = %s AND {_IDS}"
)
#: What the ledger holds for executions that came again (see :func:`_conflicts`).
STORED_FACTS = (
    "SELECT exec_id, 'fill', account, symbol, side, exec_type, exec_qty, exec_price, exec_fee,"
    f" fee_currency FROM trading.fills WHERE exchange = %s AND {_IDS}"
    " UNION ALL SELECT exec_id, 'funding', account, symbol, side, 'Funding', position_qty, NULL,"
    f" sum(funding_fee), NULL FROM trading.funding WHERE exchange = %s AND {_IDS}"
    " GROUP BY exec_id, account, symbol, side, position_qty"  # the shares of one execution
)
#: The facts compared, in the order of STORED_FACTS' columns after exec_id.
_FACTS = ("stored as", "account", "symbol", "side", "exec_type", "exec_qty", "exec_price",
          "exec_fee", "fee_currency")  # fmt: skip
COPY_FILLS = f"COPY trading.fills ({', '.join(_FILL_COLUMNS)}) FROM STDIN"


def _fill_row(f: Fill) -> tuple[Any, ...]:
    """One ``COPY_FILLS`` row; psycopg writes Decimals as their exact text."""
    return (
        EXCHANGE, f.account, f.category, f.exec_id, f.bot_id, f.symbol, f.order_id,
        f.order_link_id, f.reason, f.side.value, f.exec_price, f.exec_qty, f.exec_value,
        f.exec_fee, f.fee_currency, f.is_maker, f.exec_type, f.exec_time, f.seq, f.source,
        _raw_text(f.raw), f.attribution,
    )  # fmt: skip


def _raw_text(raw: Any) -> str:
    """The message item as JSON text, for the ``raw`` column. orjson: ``json.dumps`` of
    a 35-key execution took 21 µs, a fifth of the listener's per-fill CPU; orjson 2 µs."""
    if isinstance(raw, str):
        return raw
    try:
        return orjson.dumps(raw, default=_json_value).decode()
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: the slow, general path
        return json.dumps(raw, separators=(",", ":"), default=_json_value)


def _copy_fills(cur: psycopg.Cursor[Any], fills: Sequence[Fill]) -> set[str]:
    """COPY the fills the ledger does not hold yet; returns their exec ids."""
    ids = orjson.dumps([f.exec_id for f in fills]).decode()
    cur.execute(EXISTING_FILLS, (EXCHANGE, ids, EXCHANGE, ids))
    held = {r[0] for r in cur.fetchall()}
    new = [f for f in fills if f.exec_id not in held]
    if new:
        with cur.copy(COPY_FILLS) as copy:
            for f in new:
                copy.write_row(_fill_row(f))
    return {f.exec_id for f in new}


#: Funding is stored as one row per bot share (key: exec_id, bot_id): an execution the
#: table already holds, under any bot, is not inserted again.
INSERT_FUNDING = (
    _unnest_insert("funding", _FUNDING_COLUMNS, _FUNDING_TYPES)
    + _NOT_IN.format(other="fills")
    + " AND NOT EXISTS (SELECT 1 FROM trading.funding o"
    " WHERE o.exchange = u.exchange AND o.exec_id = u.exec_id)"
    + " ON CONFLICT (exchange, exec_id, bot_id) DO NOTHING RETURNING exec_id"
)
_TERMINAL_SQL = ", ".join(f"'{s}'" for s in TERMINAL_STATUSES)
_ORDER_UPDATABLE = [c for c in _ORDER_COLUMNS if c not in ("exchange", "order_id", "created_time")]
UPSERT_ORDERS = (
    _unnest_insert("orders", _ORDER_COLUMNS, _ORDER_TYPES)
    + " ON CONFLICT (exchange, order_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _ORDER_UPDATABLE)
    + ", created_time = COALESCE(trading.orders.created_time, EXCLUDED.created_time)"
    + ", ingested_at = now()"
    + f" WHERE trading.orders.status NOT IN ({_TERMINAL_SQL})"
    " AND (trading.orders.updated_time IS NULL OR EXCLUDED.updated_time IS NULL"
    "      OR EXCLUDED.updated_time >= trading.orders.updated_time)"
    " AND EXCLUDED.cum_exec_qty >= trading.orders.cum_exec_qty"
)
INSERT_REJECTS = (
    "INSERT INTO trading.fill_rejects (account, topic, reason, message) "
    "SELECT account, topic, reason, message"
    " FROM json_to_recordset(%s::json) AS u(account text, topic text, reason text, message text)"
)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: numeric parses it back digit for digit
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _as_text(value: Any) -> Any:
    return None if value is None else str(value)


def _as_time(value: Any) -> Any:
    return None if value is None else value.isoformat()


#: Values converted in Python before ``json.dumps`` (a ``default=`` callback per value
#: costs more than the conversion): exact decimal text, ISO timestamps, enum values.
_CONVERT = {"numeric": _as_text, "timestamptz": _as_time}


def _rows_json(rows: Sequence[Any], names: Sequence[str], types: Sequence[str]) -> tuple[str]:
    """The rows as one JSON array of objects keyed by column (the statement's parameter)."""
    plain = [n for n, t in zip(names, types, strict=True)
             if n not in ("exchange", "raw", "side") and t not in _CONVERT]  # fmt: skip
    converted = [(n, _CONVERT[t]) for n, t in zip(names, types, strict=True) if t in _CONVERT]
    has_side, has_raw = "side" in names, "raw" in names
    out = []
    for row in rows:
        obj = {name: getattr(row, name) for name in plain}
        for name, convert in converted:
            obj[name] = convert(getattr(row, name))
        obj["exchange"] = EXCHANGE
        if has_side:
            obj["side"] = str(row.side)  # a StrEnum: its value, not its name
        if has_raw:
            raw = row.raw
            obj["raw"] = json.loads(raw, parse_float=Decimal) if isinstance(raw, str) else raw
        out.append(obj)
    return (json.dumps(out, separators=(",", ":"), default=_json_value),)


#: Column → SQL type over all tables (a name has the same type wherever it appears).
_TYPES = {
    **dict(zip(_ORDER_COLUMNS, _ORDER_TYPES, strict=True)),
    **dict(zip(_FUNDING_COLUMNS, _FUNDING_TYPES, strict=True)),
    **dict(zip(_FILL_COLUMNS, _FILL_TYPES, strict=True)),
}


def _columns(rows: Sequence[Any], names: Sequence[str]) -> tuple[str]:
    return _rows_json(rows, names, [_TYPES.get(n, "text") for n in names])


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


Facts = tuple[Any, ...]


def _facts(row: Fill | FundingPayment) -> Facts:
    """What must match when an execId comes again (the order of :data:`_FACTS`)."""
    if isinstance(row, FundingPayment):
        return ("funding", row.account, row.symbol, row.side.value, "Funding",
                row.position_qty, None, row.funding_fee, None)  # fmt: skip
    return ("fill", row.account, row.symbol, row.side.value, row.exec_type, row.exec_qty,
            row.exec_price, row.exec_fee, row.fee_currency)  # fmt: skip


def _difference(stored: Facts, new: Facts) -> str:
    return ", ".join(
        f"{name} {_show(a)} → {_show(b)}"
        for name, a, b in zip(_FACTS, stored, new, strict=True)
        if a != b
    )


def _show(value: Any) -> str:
    return "–" if value is None else str(value)


def _conflicts(
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
        new = _facts(row)
        if held is not None and held != new:
            conflict = Conflict(row.account, row.exec_id, row.symbol, _difference(held, new))
            out.append((conflict, row))
    return out


def _conflict_reject(conflict: Conflict, row: Fill | FundingPayment) -> RejectRow:
    reason = (
        f"execution: conflicting_duplicate: execId {conflict.exec_id[:100]} is in the ledger"
        f" with other facts: {conflict.difference}"
    )
    return RejectRow(
        row.account, "execution", reason[:500], _raw_text(row.raw), "conflicting_duplicate"
    )


def write_batch(
    conn: psycopg.Connection[Any], batch: Batch, *, copy: bool | None = None
) -> Committed:
    """Write ``batch`` in one transaction and commit; raises on any database error.

    ``copy``: fills by COPY (True) or by INSERT (False); by default COPY from
    ``COPY_MIN_FILLS`` fills (the benchmark forces each to measure both)."""
    fills = _unique_by(batch.fills, "exec_id")
    if copy if copy is not None else len(fills) >= COPY_MIN_FILLS:
        try:
            return _write(conn, batch, fills, copy=True)
        except psycopg.errors.UniqueViolation as exc:
            log.warning(
                "another session wrote some of these fills meanwhile (%s); "
                "writing the batch again with ON CONFLICT",
                exc.diag.constraint_name,
            )
    return _write(conn, batch, fills, copy=False)


def _write(
    conn: psycopg.Connection[Any], batch: Batch, fills: list[Fill], *, copy: bool
) -> Committed:
    funding = _unique_by(batch.funding, "exec_id")
    orders = _latest_orders(batch.orders)
    new_ids: set[str] = set()
    new_funding: set[str] = set()
    rejects = list(batch.rejects)
    conflicts: list[Conflict] = []
    # One statement needs no BEGIN and COMMIT of its own on an autocommit connection
    # (the listener's): it is its own transaction, one round trip instead of three. The
    # existence check before a COPY may run outside it (nothing else writes fills).
    # Fills and funding always take a transaction: the holder rule's corrections
    # (holder_rule.settle) must commit with the rows that caused them.
    parts = bool(fills) + bool(funding) + bool(orders) + bool(batch.rejects)
    alone = parts == 1 and not fills and not funding
    block = nullcontext() if conn.autocommit and alone else conn.transaction()
    settled = None
    with block, conn.cursor() as cur:
        if fills and copy:
            new_ids = _copy_fills(cur, fills)
        elif fills:
            cur.execute(INSERT_FILLS, _columns(fills, _FILL_COLUMNS))
            new_ids = {r[0] for r in cur.fetchall()}
        if funding:
            cur.execute(INSERT_FUNDING, _columns(funding, _FUNDING_COLUMNS))
            new_funding = {r[0] for r in cur.fetchall()}
        if new_ids or new_funding:
            starts = _earliest_keys(
                [f for f in fills if f.exec_id in new_ids],
                [f for f in funding if f.exec_id in new_funding],
            )
            settled = settle(cur, starts, batch.fallback)
        if orders:
            cur.execute(UPSERT_ORDERS, _columns(orders, _ORDER_COLUMNS))
        if len(new_ids) < len(batch.fills) or len(new_funding) < len(batch.funding):
            # Some came again: identical is a no-op; different is a conflict.
            first_fill = {r.exec_id: _facts(r) for r in fills}
            first_funding = {r.exec_id: _facts(r) for r in funding}
            again: list[Fill | FundingPayment] = [
                r for r in batch.fills
                if r.exec_id not in new_ids or first_fill[r.exec_id] != _facts(r)
            ]  # fmt: skip
            again += [
                r for r in batch.funding
                if r.exec_id not in new_funding or first_funding[r.exec_id] != _facts(r)
            ]  # fmt: skip
            for conflict, row in _conflicts(cur, again, {**first_funding, **first_fill}):
                conflicts.append(conflict)
                rejects.append(_conflict_reject(conflict, row))
        if rejects:
            cur.execute(
                INSERT_REJECTS, _columns(rejects, ("account", "topic", "reason", "message"))
            )
    new = [f for f in fills if f.exec_id in new_ids]
    moved: list[Moved] = []
    if settled is not None and settled.moved:
        final = {m.exec_id: m for m in settled.moved}
        new = [_moved(f, final[f.exec_id]) if f.exec_id in final else f for f in new]
        moved = [m for m in settled.moved if m.exec_id not in new_ids]
    return Committed(
        new_fills=new,
        duplicate_fills=len(batch.fills) - len(new),
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


def _moved(fill: Fill, move: Moved) -> Fill:
    """A new fill as the holder rule finally attributed it."""
    return replace(fill, bot_id=move.new_bot, attribution=move.rule)


def raw_json(item: Any) -> str:
    """The item as it will sit in a ``raw`` column (Decimals as their strings)."""
    return json.dumps(item, separators=(",", ":"), sort_keys=True, default=str)
