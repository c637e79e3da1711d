"""Read-only ledger queries shared by the jobs (the app role can only SELECT the ledger)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg

from core.fills import Fill, Side
from core.ids import EXCHANGE, EXTERNAL_BOT, AccountName, BotId, Symbol

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


_ACCOUNT_FILLS = """
SELECT category, exec_id, bot_id, symbol, order_id, order_link_id, reason, side, exec_price,
       exec_qty, exec_value, exec_fee, fee_currency, is_maker, exec_type, exec_time, seq, source
  FROM trading.fills
 WHERE exchange = %(ex)s AND account = %(account)s AND exec_time <= %(until)s
 ORDER BY exec_time, seq, exec_id
"""


def account_fills(conn: psycopg.Connection[Any], account: str, until: datetime) -> Iterator[Fill]:
    """Every fill of ``account`` (all bots, ``external`` too) up to ``until``, in ledger
    order, streamed from a server-side cursor (the whole history is read)."""
    with conn.cursor(name="account_fills") as cur:
        cur.itersize = _CHUNK
        cur.execute(_ACCOUNT_FILLS, {"ex": EXCHANGE, "account": account, "until": until})
        for (category, exec_id, bot_id, symbol, order_id, link, reason, side, price, qty, value,
             fee, fee_ccy, maker, exec_type, exec_time, seq, source) in cur:  # fmt: skip
            yield Fill(
                account=AccountName(account),
                category=category,
                exec_id=exec_id,
                symbol=Symbol(symbol),
                order_id=order_id,
                order_link_id=link,
                side=Side(side),
                exec_price=price,
                exec_qty=qty,
                exec_value=value,
                exec_fee=fee,
                fee_currency=fee_ccy,
                is_maker=maker,
                exec_type=exec_type,
                exec_time=exec_time,
                seq=seq,
                source=source,
                raw={},
                bot_id=BotId(bot_id),
                reason=reason,
            )


def whole_executions(fills: Iterable[Fill]) -> Iterator[Fill]:
    """Fills in ledger order with the bot shares of one execution (an ADL split between
    the bots that held the symbol, docs/attribution.md) summed back into the one
    execution the exchange reports: quantity, value and fee sum exactly to Bybit's."""
    held: Fill | None = None
    for fill in fills:
        if held is not None and fill.exec_id == held.exec_id:
            held = replace(
                held,
                exec_qty=held.exec_qty + fill.exec_qty,
                exec_value=held.exec_value + fill.exec_value,
                exec_fee=held.exec_fee + fill.exec_fee,
            )
            continue
        if held is not None:
            yield held
        held = fill
    if held is not None:
        yield held


def daily_funding(
    conn: psycopg.Connection[Any], account: str, start: datetime, end: datetime
) -> dict[date, tuple[Decimal, int]]:
    """Per UTC day in ``[start, end]``: (sum of ``funding_fee`` — positive paid —,
    executions: an execution split between bots has a row per share)."""
    rows = conn.execute(
        """
        SELECT (exec_time AT TIME ZONE 'UTC')::date, sum(funding_fee), count(DISTINCT exec_id)
          FROM trading.funding
         WHERE exchange = %s AND account = %s AND exec_time BETWEEN %s AND %s
         GROUP BY 1
        """,
        (EXCHANGE, account, start, end),
    ).fetchall()
    return {r[0]: (Decimal(r[1]), int(r[2])) for r in rows}


def daily_bot_realized(
    conn: psycopg.Connection[Any], account: str, start: datetime, end: datetime
) -> dict[date, dict[str, Decimal]]:
    """Per UTC day and bot: the bots' own realized P&L before fees (``analytics.fill_pnl``,
    each bot's fold), for the account's fills in ``[start, end]``."""
    rows = conn.execute(
        """
        SELECT (f.exec_time AT TIME ZONE 'UTC')::date, f.bot_id, sum(p.gross_pnl)
          FROM trading.fills f
          JOIN analytics.fill_pnl p USING (exchange, exec_id, bot_id)
         WHERE f.exchange = %s AND f.account = %s AND f.exec_time BETWEEN %s AND %s
         GROUP BY 1, 2
        """,
        (EXCHANGE, account, start, end),
    ).fetchall()
    out: dict[date, dict[str, Decimal]] = {}
    for day, bot_id, gross in rows:
        out.setdefault(day, {})[bot_id] = Decimal(gross)
    return out
