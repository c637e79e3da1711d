"""What the bot reads of the ledger (bots/runtime/ledger_view.py) when PostgreSQL cannot
be reached: the account cap's read, on the way from a decision to its entry."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from bots.runtime.ledger_view import LedgerView
from core.config import Role
from core.db import KeptConnection
from core.ids import BotId
from core.risk import BotState, RiskGate, RiskLimits
from core.strategy import EnterMarket
from devenv.ports import free_port


def test_an_unreadable_ledger_refuses_an_entry_under_an_account_cap(database, redis):
    """Before: the read raised, and the decision thread died with a traceback while
    PgBouncer or PostgreSQL restarted (a bot with ``risk.max_account_notional``)."""
    pgbouncer = database.settings.pgbouncer.model_copy(update={"port": free_port()})
    down = dataclasses.replace(database.settings, pgbouncer=pgbouncer)  # nothing listens
    view = LedgerView(KeptConnection(down, Role.BOT), redis, BotId("ss_cap"))
    assert view.account_notional("main", {}) is None

    gate = RiskGate(RiskLimits(max_account_notional=Decimal("10000")))
    verdict = gate.check(
        EnterMarket("e", "BTCUSDT", "Buy", Decimal("0.001")), state=BotState.RUNNING,
        killed=False, halted=None, positions={}, prices={"BTCUSDT": Decimal("60000")},
        account_notional=lambda: view.account_notional("main", {}),
    )  # fmt: skip
    assert not verdict and verdict.rule == "max_account_notional"
    assert verdict.detail == "the account's notional could not be read"

    # With the ledger reachable, the same read answers.
    view = LedgerView(KeptConnection(database.settings, Role.BOT), redis, BotId("ss_cap"))
    assert view.account_notional("main", {}) == 0
