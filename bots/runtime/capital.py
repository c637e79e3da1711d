"""The capital a bot's equity (and so its sizing and loss limits) starts from.

A registration's ``initial_capital`` is the bot's allocation. A bot alone on its account
may leave it out: the account's equity at start then stands in for it, less what the
bot's own P&L already put into it (the ledger adds that back). A bot sharing its account
may not: the account's equity holds every bot's money, none of it this bot's to claim.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bots.runtime.ledger_view import ZERO
from bots.runtime.registration import Registration
from core.errors import UserError

log = logging.getLogger(__name__)


def capital_from_wallet(http: Any, reg: Registration, own_pnl: Callable[[], Decimal]) -> Decimal:
    """The account's equity now less ``own_pnl()`` (realized + unrealized, read after
    the wallet); a :class:`UserError` when the account is shared."""
    from core.exchange.rest import wallet

    if reg.account_peers:
        raise UserError(
            f"bot {reg.bot_id} shares account {reg.account} with "
            f"{', '.join(reg.account_peers)} but has no allocation: register it "
            "with --initial-capital"
        )
    total = next((Decimal(a.get("totalEquity") or "0") for a in wallet(http)), ZERO)
    capital = total - own_pnl()
    log.info("bot %s: capital %s (account equity %s at start)", reg.bot_id, capital, total)
    return capital
