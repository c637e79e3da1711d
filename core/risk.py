"""The risk gate: the last word before an intent becomes an order.

Only intents that open exposure are gated (exits always pass — a gate that blocks a
stop loss makes risk worse). An entry is refused, with the rule that refused it, when:

* the global kill flag is set (``risk:kill`` in the infra DB: the operator's /kill);
* the bot is paused or stopped (``bot:{id}:state``);
* a loss limit halted it (the host's daily loss and drawdown limits, see
  ``bots/runtime/loss_limits.py``; measured on the ledger's realized P&L plus unrealized);
* it would exceed the bot's limits: notional per symbol, total notional, open positions,
  or the notional of all bots on its account together.

Per-bot limits live in the bot's registered config under ``"risk"``, its notification
settings under ``"notify"`` (``core.notify``); the rest of the config belongs to the
strategy (see :func:`split_config`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.strategy import ENTRY_INTENTS, EnterLimit, Intent, PositionView

ZERO = Decimal(0)


class BotState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # no new entries; exits still managed
    STOPPED = "stopped"  # no orders at all


class RiskLimits(BaseModel):
    """Per-bot limits (quote currency). ``None`` means no limit beyond the strategy's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_notional_per_symbol: Decimal | None = Field(None, gt=0)
    max_total_notional: Decimal | None = Field(None, gt=0)
    max_open_positions: int | None = Field(None, ge=1)
    #: Halt entries when equity is this % below the day's opening equity (00:00 UTC).
    max_daily_loss_pct: Decimal | None = Field(None, gt=0, lt=100)
    #: Halt entries when equity is this % below its peak, until an operator lifts it.
    max_drawdown_pct: Decimal | None = Field(None, gt=0, lt=100)
    #: Cap on the notional of every bot on this bot's account together, its own included.
    max_account_notional: Decimal | None = Field(None, gt=0)


def split_config(config: Mapping[str, Any] | None) -> tuple[dict[str, Any], RiskLimits]:
    """A registered config → (the strategy's part, the risk limits). The host's
    ``"notify"`` settings are not the strategy's either: they are left out here and read
    with ``core.notify.settings_of``."""
    strategy = dict(config or {})
    strategy.pop("notify", None)
    limits = RiskLimits.model_validate(strategy.pop("risk", None) or {})
    return strategy, limits


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    rule: str = ""
    detail: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Verdict(True)


class RiskGate:
    """Decides each intent. Pure: the host passes in the state it read."""

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits

    def check(
        self,
        intent: Intent,
        *,
        state: BotState,
        killed: bool,
        halted: str | None,
        positions: Mapping[str, PositionView],
        prices: Mapping[str, Decimal],
        reference_price: Decimal | None = None,
        account_notional: Callable[[], Decimal | None] | None = None,
    ) -> Verdict:
        """``account_notional`` is read only when ``max_account_notional`` is set: the
        notional every bot on the account holds (this one included), at current prices;
        ``None`` when it could not be read, and then the entry is refused."""
        if state is BotState.STOPPED:
            return Verdict(False, "stopped", "a stopped bot sends no orders")
        if not isinstance(intent, ENTRY_INTENTS):
            return ALLOW
        if killed:
            return Verdict(False, "kill_flag", "the global kill flag is set")
        if state is BotState.PAUSED:
            return Verdict(False, "paused", "a paused bot sends no new entries")
        if halted:
            return Verdict(False, "loss_limit", halted)

        price = intent.price if isinstance(intent, EnterLimit) else reference_price
        price = price or prices.get(intent.symbol) or ZERO
        added = intent.qty * price

        def notional(symbol: str, view: PositionView) -> Decimal:
            return abs(view.qty) * (prices.get(symbol) or view.avg_price)

        limits = self.limits
        current = positions.get(intent.symbol)
        symbol_notional = notional(intent.symbol, current) if current else ZERO
        per_symbol = limits.max_notional_per_symbol
        if per_symbol is not None and symbol_notional + added > per_symbol:
            detail = f"{intent.symbol}: {symbol_notional + added:.2f} > {per_symbol}"
            return Verdict(False, "max_notional_per_symbol", detail)
        if limits.max_total_notional is not None:
            total = sum((notional(s, v) for s, v in positions.items()), ZERO) + added
            if total > limits.max_total_notional:
                return Verdict(
                    False, "max_total_notional", f"{total:.2f} > {limits.max_total_notional}"
                )
        cap = limits.max_account_notional
        if cap is not None and account_notional is not None:
            held = account_notional()
            if held is None:  # a cap that cannot be checked holds: no entry
                return Verdict(
                    False, "max_account_notional", "the account's notional could not be read"
                )
            total = held + added
            if total > cap:
                return Verdict(False, "max_account_notional", f"{total:.2f} > {cap}")
        if limits.max_open_positions is not None:
            open_symbols = {s for s, v in positions.items() if v.qty}
            if intent.symbol not in open_symbols and len(open_symbols) >= limits.max_open_positions:
                return Verdict(
                    False,
                    "max_open_positions",
                    f"{len(open_symbols)} open, limit {limits.max_open_positions}",
                )
        return ALLOW
