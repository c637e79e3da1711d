"""Acknowledging open drift so bots may enter again (``alpha drift ack``, ``/ackdrift``).

A bot does not enter while trade sync reports open drift on its account and symbol
(bots/runtime/drift_gate.py). An operator who understands a drift can acknowledge it:
one ``trading.drift_acks`` row per open ``drift_events`` row, holding the two quantities
the drift has now. The gate skips an open drift with an acknowledgement of the same row
and the same quantities, so the acknowledgement covers the drift as it is: when trade
sync finds other quantities (the drift changed) or opens a new row (a new drift after
one cleared), entries are held again.

The scope is a bot (its account, only its registered symbols) or an account (every
symbol on it). Both channels call the same functions here inside their audit
transaction: the C2 (as ``app``) and the CLI (as the owner).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.errors import UserError
from core.ids import EXTERNAL_BOT

#: The open drift rows of an account no acknowledgement covers as they are now; the
#: bots' gate asks the same question (bots/runtime/drift_gate.py).
UNACKNOWLEDGED = """
    SELECT d.id, d.account, d.symbol, d.exchange_qty, d.ledger_qty, d.detected_at
      FROM trading.drift_events d
     WHERE d.account = %(account)s AND d.cleared_at IS NULL
       AND (%(symbols)s::text[] IS NULL OR d.symbol = ANY (%(symbols)s::text[]))
       AND NOT EXISTS (SELECT 1 FROM trading.drift_acks a
                        WHERE a.drift_id = d.id AND a.exchange_qty = d.exchange_qty
                          AND a.ledger_qty = d.ledger_qty)
     ORDER BY d.symbol
"""


@dataclass(frozen=True)
class Scope:
    """What an acknowledgement covers: ``symbols`` None is every symbol of ``account``."""

    account: str
    symbols: tuple[str, ...] | None = None
    bot_id: str | None = None

    def describe(self) -> str:
        if self.bot_id is not None:
            return f"{self.bot_id} (account {self.account}, {','.join(self.symbols or ())})"
        return f"account {self.account}"


@dataclass(frozen=True)
class Drift:
    drift_id: int
    account: str
    symbol: str
    exchange_qty: Decimal
    ledger_qty: Decimal
    detected_at: datetime

    def describe(self) -> str:
        return (
            f"{self.account} {self.symbol}: exchange {self.exchange_qty}, bots {self.ledger_qty}"
            f" (since {self.detected_at:%Y-%m-%d %H:%M} UTC)"
        )


async def scope_of(conn: psycopg.AsyncConnection[Any], name: str) -> Scope:
    """``name`` is a bot (id, code or display name, as elsewhere) or an account with bots.
    One-line :class:`UserError` when it is neither."""
    wanted = name.strip()
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT bot_id, account, symbols FROM trading.bots"
        " WHERE status <> 'retired' AND bot_id <> %s"
        "   AND (bot_id = lower(%s) OR bot_code = lower(%s) OR lower(bot_name) = lower(%s))"
        " ORDER BY bot_id LIMIT 1",
        (str(EXTERNAL_BOT), wanted, wanted, wanted),
    )
    bot = await cur.fetchone()
    if bot is not None:
        return Scope(str(bot["account"]), tuple(bot["symbols"] or ()), str(bot["bot_id"]))
    await cur.execute(
        "SELECT DISTINCT account FROM trading.bots WHERE bot_id <> %s"
        " UNION SELECT DISTINCT account FROM trading.drift_events ORDER BY 1",
        (str(EXTERNAL_BOT),),
    )
    accounts = [str(r["account"]) for r in await cur.fetchall()]
    if wanted in accounts:
        return Scope(wanted)
    raise UserError(
        f"{name!r} is neither a bot nor an account (accounts: {', '.join(accounts) or 'none'})"
    )


async def unacknowledged(conn: psycopg.AsyncConnection[Any], scope: Scope) -> list[Drift]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(UNACKNOWLEDGED, _params(scope))
    return [_drift(row) for row in await cur.fetchall()]


async def acknowledge(
    conn: psycopg.AsyncConnection[Any], scope: Scope, by: str, reason: str | None
) -> list[Drift]:
    """Acknowledge every open drift in ``scope`` as it is now (in ``conn``'s transaction);
    returns what was acknowledged (empty: nothing was open and unacknowledged). No lock
    is needed: each row stores the quantities read here, so should trade sync change a
    drift meanwhile, the acknowledgement does not cover the new quantities and entries
    stay held (the safe side)."""
    drifts = await unacknowledged(conn, scope)
    cur = conn.cursor()
    for d in drifts:
        await cur.execute(
            "INSERT INTO trading.drift_acks (drift_id, exchange_qty, ledger_qty, acked_by, reason)"
            " VALUES (%s, %s, %s, %s, %s)",
            (d.drift_id, d.exchange_qty, d.ledger_qty, by, (reason or "").strip() or None),
        )
    return drifts


def describe(drifts: Sequence[Drift]) -> str:
    return "; ".join(d.describe() for d in drifts)


def _params(scope: Scope) -> dict[str, Any]:
    return {
        "account": scope.account,
        "symbols": None if scope.symbols is None else list(scope.symbols),
    }


def _drift(row: dict[str, Any]) -> Drift:
    return Drift(
        drift_id=int(row["id"]),
        account=str(row["account"]),
        symbol=str(row["symbol"]),
        exchange_qty=Decimal(row["exchange_qty"]),
        ledger_qty=Decimal(row["ledger_qty"]),
        detected_at=row["detected_at"],
    )
