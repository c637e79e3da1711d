"""Read-only ledger queries shared by the jobs (the app role can only SELECT the ledger)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import psycopg

from core.ids import EXCHANGE, EXTERNAL_BOT

_CHUNK = 5000


def known_exec_ids(conn: psycopg.Connection[Any], exec_ids: Iterable[str]) -> set[str]:
    """The ids already in ``trading.fills`` or ``trading.funding``."""
    ids = list(dict.fromkeys(exec_ids))
    known: set[str] = set()
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        rows = conn.execute(
            """
            SELECT exec_id FROM trading.fills WHERE exchange = %(ex)s AND exec_id = ANY(%(ids)s)
            UNION ALL
            SELECT exec_id FROM trading.funding WHERE exchange = %(ex)s AND exec_id = ANY(%(ids)s)
            """,
            {"ex": EXCHANGE, "ids": chunk},
        ).fetchall()
        known.update(r[0] for r in rows)
    return known


def bot_positions(
    conn: psycopg.Connection[Any], account: str, symbols: Iterable[str] | None = None
) -> dict[str, dict[str, Decimal]]:
    """Signed quantity per symbol per bot on ``account``, from the whole ledger.

    The fold's quantity (``core.positions``) is the plain signed sum of fill
    quantities: it does not depend on ledger order, so PostgreSQL sums it exactly
    (NUMERIC) without shipping every fill here. ``external`` is included; callers that
    compare with the exchange leave it out (docs/ledger.md invariant 5).
    """
    params: dict[str, Any] = {"ex": EXCHANGE, "account": account}
    where = ""
    if symbols is not None:
        params["symbols"] = list(symbols)
        where = "AND symbol = ANY(%(symbols)s)"
    rows = conn.execute(
        f"""
        SELECT symbol, bot_id,
               SUM(CASE WHEN side = 'Buy' THEN exec_qty ELSE -exec_qty END) AS qty
          FROM trading.fills
         WHERE exchange = %(ex)s AND account = %(account)s {where}
         GROUP BY symbol, bot_id
        """,
        params,
    ).fetchall()
    out: dict[str, dict[str, Decimal]] = {}
    for symbol, bot_id, qty in rows:
        out.setdefault(symbol, {})[bot_id] = Decimal(qty)
    return out


def split_external(per_bot: dict[str, Decimal]) -> tuple[dict[str, Decimal], Decimal]:
    """``(bots without external, external's qty)``."""
    bots = {b: q for b, q in per_bot.items() if b != EXTERNAL_BOT}
    return bots, per_bot.get(EXTERNAL_BOT, Decimal(0))
