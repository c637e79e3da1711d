"""Wallet snapshots: ``/v5/account/wallet-balance`` into ``trading.wallet_snapshots``.

One row per coin with a balance (USDT always), numbers stored exactly as sent.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from psycopg.types.json import Jsonb

from core.exchange import rest
from core.ids import AccountName
from trade_sync.context import SyncContext
from trade_sync.runs import Outcome

NAME = "wallet_snapshot"
log = logging.getLogger(__name__)


def run(ctx: SyncContext, account: AccountName) -> Outcome:
    accounts = rest.wallet(ctx.http(account))
    rows: list[tuple[Any, ...]] = []
    for acct in accounts:
        for coin in acct.get("coin") or []:
            equity = _dec(coin.get("equity"))
            balance = _dec(coin.get("walletBalance"))
            if equity is None or balance is None:
                continue
            if coin.get("coin") != "USDT" and not equity and not balance:
                continue
            available = _dec(coin.get("availableToWithdraw"))
            if available is None and coin.get("coin") == "USDT":
                available = _dec(acct.get("totalAvailableBalance"))
            rows.append((account, coin["coin"], equity, balance, available,
                         _dec(coin.get("unrealisedPnl")), Jsonb(coin)))  # fmt: skip
    with ctx.db() as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO trading.wallet_snapshots "
            "(account, coin, equity, wallet_balance, available, unrealised_pnl, raw) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    usdt = next((r for r in rows if r[1] == "USDT"), None)
    line = f"{NAME} [{account}]: {len(rows)} coins" + (
        f", USDT equity {usdt[2]} wallet {usdt[3]}" if usdt else ""
    )
    log.info(line)
    return Outcome(checked=len(rows), found=0, status="ok",
                   details={"coins": [r[1] for r in rows]}, lines=[line])  # fmt: skip


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
