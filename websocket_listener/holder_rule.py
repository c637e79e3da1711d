"""The holder rule, evaluated from the ledger as of each execution (docs/attribution.md).

Funding and the exchange's own executions (ADL, liquidation, delivery) that no link id
of the account claims belong to the bots that held the symbol on that account just
before them in ledger order ``(exec_time, seq, exec_id)``. Who held what then is a fact
of the ledger, not of the moment a message happened to be written: the writer inserts
such rows provisionally (``Rule.NO_HOLDER``, the account's fallback bot) and, in the
same transaction, :func:`settle` walks every (account, symbol) the batch touched from
the batch's earliest new key:

* the holdings just before the first row the rule decides are summed from the ledger;
* then fills and holder-rule rows are taken in ledger order: a fill adds its signed
  quantity to its bot; a holder-rule fill's shares are (re)computed from the holdings
  before it (``core.attribution.split_fill``: the sole holder, or the holders of the
  side it reduces, or the fallback) and then counted for their bots; a funding
  execution's shares are (re)computed (``core.attribution.split_funding``).

Rows whose answer changed are rewritten: a fill that stays whole has its ``bot_id``
updated (the analytics re-fold both pairs: migration 0003's triggers); an execution
that is or was split, and a funding execution, has its share rows replaced. So a fill
that arrives late, before rows already decided, corrects them in the commit that brings
it, and the ledger ends the same whatever the batching and the arrival order. Rows
written before migration 0007 (``attribution`` NULL) are facts of
their time and are never revisited.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, Inexact, Rounded
from typing import Any

import orjson
import psycopg

from core.attribution import HOLDER_RULES, FillShare, split_fill, split_funding
from core.ids import EXCHANGE, EXTERNAL_BOT, AccountName, BotId, Symbol

LedgerKey = tuple[datetime, int, str]
#: Sums of quantities and shares must never round (the default context keeps 28 digits).
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact, Rounded])
Pair = tuple[str, str]

_RULES = tuple(sorted(r.value for r in HOLDER_RULES))
_AFTER = "(x.exec_time, x.seq, x.exec_id) >= (t.exec_time, t.seq, t.exec_id)"
_KEY = "exec_time, seq, exec_id"
_FIRST_DECIDED = (
    "SELECT t.account, t.symbol, h.exec_time, h.seq, h.exec_id"
    " FROM json_to_recordset(%s::json)"
    "  AS t(account text, symbol text, exec_time timestamptz, seq bigint, exec_id text)"
    " CROSS JOIN LATERAL (SELECT * FROM ("
    f"  (SELECT {_KEY} FROM trading.fills x WHERE x.account = t.account"
    f"    AND x.symbol = t.symbol AND x.attribution = ANY(%s) AND {_AFTER}"
    f"    ORDER BY {_KEY} LIMIT 1)"
    "  UNION ALL"
    f"  (SELECT {_KEY} FROM trading.funding x WHERE x.account = t.account"
    f"    AND x.symbol = t.symbol AND x.attribution = ANY(%s) AND {_AFTER}"
    f"    ORDER BY {_KEY} LIMIT 1)"
    f" ) AS d ORDER BY {_KEY} LIMIT 1) AS h"
)
_HOLDINGS_BEFORE = (
    "SELECT bot_id, sum(CASE side WHEN 'Buy' THEN exec_qty ELSE -exec_qty END)"
    " FROM trading.fills WHERE exchange = %s AND account = %s AND symbol = %s"
    " AND (exec_time, seq, exec_id) < (%s, %s, %s) GROUP BY bot_id"
)
#: Every fill from the key on, and the holder-rule funding rows, in ledger order.
_FROM_KEY = (
    "SELECT exec_time, seq, exec_id, 'fill', bot_id, attribution,"
    "       CASE side WHEN 'Buy' THEN exec_qty ELSE -exec_qty END, side, exec_value, exec_fee"
    "  FROM trading.fills WHERE exchange = %s AND account = %s AND symbol = %s"
    "   AND (exec_time, seq, exec_id) >= (%s, %s, %s)"
    " UNION ALL"
    " SELECT exec_time, seq, exec_id, 'funding', bot_id, attribution, funding_fee,"
    "        NULL, NULL, NULL"
    "  FROM trading.funding WHERE exchange = %s AND account = %s AND symbol = %s"
    "   AND attribution = ANY(%s) AND (exec_time, seq, exec_id) >= (%s, %s, %s)"
    f" ORDER BY {_KEY}, 4, 5"
)
#: A fill's share rows: the execution's facts, repeated by every share.
_FILL_FACTS = (
    "account, category, symbol, order_id, order_link_id, reason, side, exec_price,"
    " fee_currency, is_maker, exec_type, exec_time, seq, source, raw, ingested_at"
)
_DELETE_FILL_SHARES = (
    "DELETE FROM trading.fills WHERE exchange = %s AND exec_id = %s RETURNING "
    + _FILL_FACTS.replace(" raw,", " raw::text,")
)
_INSERT_FILL_SHARES = (
    f"INSERT INTO trading.fills (exchange, exec_id, {_FILL_FACTS},"
    "  bot_id, exec_qty, exec_value, exec_fee, attribution)"
    " SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::numeric, %s, %s::boolean, %s,"
    "  %s::timestamptz, %s::bigint, %s, %s::json, %s::timestamptz,"
    "  s.bot_id, s.exec_qty, s.exec_value, s.exec_fee, s.attribution"
    " FROM json_to_recordset(%s::json)"
    "  AS s(bot_id text, exec_qty numeric, exec_value numeric, exec_fee numeric, attribution text)"
)
_MOVE_FILL = (
    "UPDATE trading.fills SET bot_id = %s, attribution = %s WHERE exchange = %s AND exec_id = %s"
)
#: Replace an execution's share rows; every share repeats the execution's other facts.
#: Two statements: an INSERT in the same statement as the DELETE (a data-modifying CTE)
#: still collides with the deleted rows on the key.
_FACTS = (
    "account, category, symbol, side, fee_rate, mark_price, position_qty, position_value,"
    " exec_time, seq, source, raw, ingested_at"
)
#: ``raw`` comes back as its text: parsed and dumped again, its numbers could change.
_DELETE_SHARES = (
    "DELETE FROM trading.funding WHERE exchange = %s AND exec_id = %s RETURNING "
    + _FACTS.replace(" raw,", " raw::text,")
)
_INSERT_SHARES = (
    f"INSERT INTO trading.funding (exchange, exec_id, {_FACTS}, bot_id, funding_fee, attribution)"
    " SELECT %s, %s, %s, %s, %s, %s, %s::numeric, %s::numeric, %s::numeric, %s::numeric,"
    "  %s::timestamptz, %s::bigint, %s, %s::json, %s::timestamptz,"
    "  s.bot_id, s.funding_fee, s.attribution"
    " FROM json_to_recordset(%s::json) AS s(bot_id text, funding_fee numeric, attribution text)"
)


@dataclass(frozen=True, slots=True)
class Moved:
    """A fill the walk gave other bots (or other shares) than it had: the positions of
    ``old_bots`` and ``new_bots`` are re-folded."""

    exec_id: str
    account: AccountName
    symbol: Symbol
    old_bots: tuple[BotId, ...]
    new_bots: tuple[BotId, ...]
    rule: str


@dataclass(slots=True)
class Settled:
    #: Fills whose bots or shares changed (new ones of this batch included).
    moved: list[Moved]
    #: Funding executions whose shares were rewritten.
    funding_reshared: int = 0
    #: The final shares of every fill in ``moved`` (by exec id).
    shares: dict[str, list[FillShare]] = field(default_factory=dict)


@dataclass(slots=True)
class _Row:
    key: LedgerKey
    kind: str
    bot_id: BotId
    rule: str | None
    amount: Decimal  # a fill's signed quantity, or a funding share
    side: str | None = None  # a fill's
    value: Decimal | None = None
    fee: Decimal | None = None

    @property
    def qty(self) -> Decimal:
        return abs(self.amount)


def settle(
    cur: psycopg.Cursor[Any],
    starts: Mapping[Pair, LedgerKey],
    fallback: Mapping[str, BotId],
) -> Settled:
    """Re-evaluate the holder rule on each (account, symbol) from its start key on, in a
    transaction that took its turn at the ledger (``ledger_fence.turn``) before it wrote
    anything: the walk must see every fill committed before it.

    ``starts``: the earliest ledger key the batch inserted per (account, symbol);
    ``fallback``: per account, who takes what no holder can (``Attributor.fallback``)."""
    settled = Settled(moved=[])
    if not starts:
        return settled
    todo = [
        {"account": a, "symbol": s, "exec_time": k[0].isoformat(), "seq": k[1], "exec_id": k[2]}
        for (a, s), k in sorted(starts.items())
    ]
    rules = list(_RULES)
    cur.execute(_FIRST_DECIDED, (orjson.dumps(todo).decode(), rules, rules))
    for account, symbol, *first in cur.fetchall():
        key: LedgerKey = (first[0], first[1], first[2])
        who = fallback.get(account, EXTERNAL_BOT)
        _walk(cur, AccountName(account), Symbol(symbol), key, who, settled)
    return settled


def _walk(
    cur: psycopg.Cursor[Any],
    account: AccountName,
    symbol: Symbol,
    start: LedgerKey,
    fallback: BotId,
    settled: Settled,
) -> None:
    cur.execute(_HOLDINGS_BEFORE, (EXCHANGE, account, symbol, *start))
    holdings: dict[BotId, Decimal] = defaultdict(Decimal)
    for bot_id, qty in cur.fetchall():
        holdings[BotId(bot_id)] = qty
    params = (EXCHANGE, account, symbol, *start, EXCHANGE, account, symbol, list(_RULES), *start)
    cur.execute(_FROM_KEY, params)
    rows = [
        _Row((t, seq, exec_id), kind, BotId(bot), rule, amount, side, value, fee)
        for t, seq, exec_id, kind, bot, rule, amount, side, value, fee in cur.fetchall()
    ]
    for kind, group in _executions(rows):
        if kind == "funding":
            _funding(cur, group, holdings, fallback, settled)
            continue
        counted = [(row.bot_id, row.amount) for row in group]
        if group[0].rule in HOLDER_RULES:
            shares = _fill(cur, account, symbol, group, holdings, fallback, settled)
            sign = 1 if group[0].side == "Buy" else -1
            counted = [(s.bot_id, s.qty * sign) for s in shares]
        for bot_id, signed in counted:
            holdings[bot_id] = _EXACT.add(holdings[bot_id], signed)


def _fill(
    cur: psycopg.Cursor[Any],
    account: AccountName,
    symbol: Symbol,
    rows: list[_Row],
    holdings: Mapping[BotId, Decimal],
    fallback: BotId,
    settled: Settled,
) -> list[FillShare]:
    """(Re)decide one holder-rule fill from the holdings before it; its final shares."""
    qty = value = fee = Decimal(0)
    for row in rows:
        assert row.value is not None and row.fee is not None and row.side is not None
        qty = _EXACT.add(qty, row.qty)
        value = _EXACT.add(value, row.value)
        fee = _EXACT.add(fee, row.fee)
    wanted = split_fill(rows[0].side or "", qty, value, fee, holdings, fallback)
    stored = sorted((r.bot_id, r.qty, r.value, r.fee) for r in rows)
    money = [(s.bot_id, s.qty, s.value, s.fee) for s in wanted]
    exec_id = rows[0].key[2]
    if money == stored and [s.rule.value for s in wanted] == [r.rule for r in rows]:
        return wanted
    if len(rows) == 1 and len(wanted) == 1:  # whole before and after: the row moves
        cur.execute(_MOVE_FILL, (wanted[0].bot_id, wanted[0].rule.value, EXCHANGE, exec_id))
    else:
        document = [
            {"bot_id": s.bot_id, "exec_qty": str(s.qty), "exec_value": str(s.value),
             "exec_fee": str(s.fee), "attribution": s.rule.value}
            for s in wanted
        ]  # fmt: skip
        cur.execute(_DELETE_FILL_SHARES, (EXCHANGE, exec_id))
        facts = cur.fetchall()[0]
        cur.execute(
            _INSERT_FILL_SHARES, (EXCHANGE, exec_id, *facts, orjson.dumps(document).decode())
        )
    if money != stored:
        old = tuple(sorted({r.bot_id for r in rows}))
        new = tuple(s.bot_id for s in wanted)
        settled.moved.append(Moved(exec_id, account, symbol, old, new, wanted[0].rule.value))
        settled.shares[exec_id] = wanted
    return wanted


def _executions(rows: Iterable[_Row]) -> Iterable[tuple[str, list[_Row]]]:
    """Rows grouped by execution (a funding execution has a row per share)."""
    group: list[_Row] = []
    for row in rows:
        if group and (row.key, row.kind) != (group[0].key, group[0].kind):
            yield group[0].kind, group
            group = []
        group.append(row)
    if group:
        yield group[0].kind, group


def _funding(
    cur: psycopg.Cursor[Any],
    shares: list[_Row],
    holdings: Mapping[BotId, Decimal],
    fallback: BotId,
    settled: Settled,
) -> None:
    total = Decimal(0)
    for share in shares:
        total = _EXACT.add(total, share.amount)
    wanted = split_funding(total, holdings, fallback)
    stored = sorted((s.bot_id, s.amount, s.rule) for s in shares)
    if [(b, a, r.value) for b, a, r in wanted] == stored:
        return
    document = [{"bot_id": b, "funding_fee": str(a), "attribution": r.value} for b, a, r in wanted]
    exec_id = shares[0].key[2]
    cur.execute(_DELETE_SHARES, (EXCHANGE, exec_id))
    facts = cur.fetchall()[0]
    cur.execute(_INSERT_SHARES, (EXCHANGE, exec_id, *facts, orjson.dumps(document).decode()))
    settled.funding_reshared += 1
