"""An operator gives an ``external`` fill to a bot on the same account (docs/attribution.md).

The listener is the ledger's only writer, so the claim runs on its writer thread, in one
transaction:

* the fill must exist, be ``external`` and never have been claimed; the bot must exist,
  be on the fill's account and not be retired — otherwise a one-line refusal;
* the fill's ``bot_id`` becomes the bot and its ``attribution`` ``operator``
  (``Rule.OPERATOR``, which the holder rule never re-evaluates); migration 0003/0011's
  triggers re-fold both pairs' analytics on that UPDATE;
* ``trading.fill_claims`` records who asked and why;
* the holder rule is settled again from the fill's ledger key: funding and ADL after it
  were attributed from holdings the claim just changed.

The caller re-folds both positions (the in-memory book and Redis) from the returned
moves, exactly as it does for the holder rule's own moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from core.attribution import Rule
from core.ids import EXCHANGE, EXTERNAL_BOT, AccountName, BotId, Symbol
from websocket_listener.holder_rule import Moved, settle
from websocket_listener.ledger_fence import turn

_FILL = (
    "SELECT account, symbol, bot_id, exec_time, seq FROM trading.fills"
    " WHERE exchange = %s AND exec_id = %s FOR UPDATE"
)
_CLAIMED = (
    "SELECT to_bot, requested_by FROM trading.fill_claims WHERE exchange = %s AND exec_id = %s"
)
_BOT = "SELECT account, status FROM trading.bots WHERE bot_id = %s"
_MOVE = (
    "UPDATE trading.fills SET bot_id = %s, attribution = %s WHERE exchange = %s AND exec_id = %s"
)
_RECORD = (
    "INSERT INTO trading.fill_claims"
    " (exchange, exec_id, account, symbol, from_bot, to_bot, requested_by, reason)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    exec_id: str
    bot_id: str
    reason: str
    requested_by: str


@dataclass(slots=True)
class ClaimResult:
    ok: bool
    #: One line for the requester.
    text: str
    #: The claimed fill's move, then any the holder rule made after it.
    moved: list[Moved] = field(default_factory=list)
    funding_reshared: int = 0


class Refused(Exception):
    """A claim the ledger does not allow; its message is the requester's answer."""


def claim(
    conn: psycopg.Connection[Any],
    request: ClaimRequest,
    fallback: Mapping[str, BotId],
    holder: str | None = None,
) -> ClaimResult:
    """Apply ``request`` in one transaction (nothing changes when it is refused).

    ``fallback``: per account, who takes what no holder can (``Attributor.fallback``);
    ``holder``: the listener's fencing token (``ledger_fence.turn``)."""
    try:
        with conn.transaction(), conn.cursor() as cur:
            return _claim(cur, request, fallback, holder)
    except Refused as refusal:
        return ClaimResult(ok=False, text=str(refusal))


def _claim(
    cur: psycopg.Cursor[Any],
    request: ClaimRequest,
    fallback: Mapping[str, BotId],
    holder: str | None,
) -> ClaimResult:
    exec_id, bot = request.exec_id, request.bot_id
    if not request.reason.strip() or not request.requested_by.strip():
        raise Refused("a claim needs a reason and who asks")
    turn(cur, holder)  # the claim re-decides holder-rule rows: one writer at a time
    cur.execute(_FILL, (EXCHANGE, exec_id))
    rows = cur.fetchall()
    if not rows:
        raise Refused(f"unknown execution {exec_id!r}: no fill with that exec id")
    if len(rows) > 1:
        owners = ", ".join(sorted(r[2] for r in rows))
        raise Refused(f"fill {exec_id} is split between the bots that held it ({owners})")
    account, symbol, owner, exec_time, seq = rows[0]
    cur.execute(_CLAIMED, (EXCHANGE, exec_id))
    earlier = cur.fetchone()
    if earlier is not None:
        raise Refused(f"fill {exec_id} was already assigned to {earlier[0]} by {earlier[1]}")
    if owner != EXTERNAL_BOT:
        raise Refused(f"fill {exec_id} is not external: it belongs to {owner}")
    if bot == EXTERNAL_BOT:
        raise Refused("a fill can only be assigned to a bot, not to external")
    cur.execute(_BOT, (bot,))
    registered = cur.fetchone()
    if registered is None:
        raise Refused(f"unknown bot {bot!r}")
    bot_account, status = registered
    if status == "retired":
        raise Refused(f"bot {bot} is retired")
    if bot_account != account:
        raise Refused(f"bot {bot} trades on account {bot_account}, the fill is on {account}")
    cur.execute(_MOVE, (bot, Rule.OPERATOR.value, EXCHANGE, exec_id))
    cur.execute(
        _RECORD,
        (EXCHANGE, exec_id, account, symbol, owner, bot, request.requested_by, request.reason),
    )
    # Holder-rule rows after the fill were decided from holdings this claim changed.
    settled = settle(cur, {(account, symbol): (exec_time, seq, exec_id)}, fallback)
    move = Moved(
        exec_id, AccountName(account), Symbol(symbol), (BotId(owner),), (BotId(bot),),
        Rule.OPERATOR,
    )  # fmt: skip
    return ClaimResult(
        ok=True,
        text=f"fill {exec_id} ({account} {symbol}) assigned to {bot}",
        moved=[move, *settled.moved],
        funding_reshared=settled.funding_reshared,
    )
