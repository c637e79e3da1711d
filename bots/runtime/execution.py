"""From a strategy's intents to orders: every check an intent passes before it is sent.

In order: a market exit is cut to what the bot's own ledger position still holds; the
risk gate (bot state, kill switch, loss limits, exposure); for entries, the bot's
universe, open drift on the symbol and the account's leverage. What does not become an
order goes back to the strategy (``on_rejected``), once: what it asks for instead is sent
without a further round, so a refusal can never loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import redis

from bots.runtime.drift_gate import DriftGate
from bots.runtime.ledger_view import ZERO
from bots.runtime.leverage import LeverageGuard
from bots.runtime.loss_limits import LossLimits
from bots.runtime.notify import Notifier
from bots.runtime.universe import Universe
from core import redis_keys
from core.orders import OrderManager, Outcome
from core.risk import BotState, RiskGate
from core.strategy import ENTRY_INTENTS, ExitMarket, Intent, PositionView, Strategy, StrategyContext

log = logging.getLogger(__name__)


@dataclass
class IntentExecutor:
    """Gates and sends one bot's intents. The callables read the host's live state."""

    strategy: Strategy[Any]
    orders: OrderManager
    gate: RiskGate
    loss_limits: LossLimits
    universe: Universe
    drift: DriftGate
    leverage: LeverageGuard
    notify: Notifier
    infra: redis.Redis
    #: The last price per symbol, shared with (and updated by) the host.
    prices: Mapping[str, Decimal]
    #: The bot's state and its positions, read together (one round trip).
    state_and_positions: Callable[[], tuple[BotState, dict[str, PositionView]]]
    context: Callable[[], StrategyContext]
    account_notional: Callable[[], Decimal | None]

    def execute(self, intents: Iterable[Intent], *, follow_up: bool = True) -> None:
        """Gate and send intents; tell the strategy about every one that did not become an
        order, and send what it asks for instead (one round: no refusal loops)."""
        intents = list(intents)
        if not intents:
            return
        try:
            self._execute(intents, follow_up=follow_up)
        finally:
            self.orders.book.flush()  # the answers noted while sending (OrderBook.note)

    def _execute(self, intents: list[Intent], *, follow_up: bool) -> None:
        failed: list[tuple[Intent, str]] = []
        state, positions = self.state_and_positions()
        killed = bool(self.infra.exists(redis_keys.KILL_FLAG))
        # What each market exit may still close, per the ledger (see bound_exit).
        open_qty = {symbol: view.qty for symbol, view in positions.items()}
        for intent in intents:
            if isinstance(intent, ExitMarket):
                bounded = bound_exit(intent, open_qty)
                if bounded is None:
                    continue
                intent = bounded
            refused = host_refusal(
                intent,
                gate=self.gate,
                universe=self.universe,
                state=state,
                killed=killed,
                halted=self.loss_limits.halted,
                positions=positions,
                prices=self.prices,
                account_notional=self.account_notional,
            )
            if refused is None and isinstance(intent, ENTRY_INTENTS):
                refused = self._entry_refusal(intent)
            if refused is not None:
                failed.append((intent, refused))
                continue
            result = self.orders.execute(intent, price_hint=self.prices.get(intent.symbol))
            if result.outcome is Outcome.REJECTED:
                self.notify.order_rejected(result)
            if result.outcome in (Outcome.REJECTED, Outcome.SKIPPED):
                if isinstance(intent, ENTRY_INTENTS):
                    log.warning("entry %s: %s", result.outcome, result.detail)
                failed.append((intent, f"{result.outcome}: {result.detail}"))
        if failed and follow_up:
            ctx = self.context()
            more: list[Intent] = []
            for intent, why in failed:
                more += self.strategy.on_rejected(intent, why, ctx)
            self.execute(more, follow_up=False)

    def _entry_refusal(self, intent: Intent) -> str | None:
        """Why an entry the risk gate let through must still wait: open drift on its
        symbol, or the account's leverage not (yet) what the bot asks for."""
        drift = self.drift.refusal(intent.symbol)
        if drift is not None:
            log.info("refused %s %s: %s", type(intent).__name__, intent.symbol, drift)
            return "drift"
        refused = self.leverage.refusal(intent.symbol)
        if refused is not None:
            return f"leverage: {refused}"
        return None


def host_refusal(
    intent: Intent,
    *,
    gate: RiskGate,
    universe: Container[str],
    state: BotState,
    killed: bool,
    halted: str | None,
    positions: Mapping[str, PositionView],
    prices: Mapping[str, Decimal],
    account_notional: Callable[[], Decimal | None] | None = None,
) -> str | None:
    """Why the host refuses ``intent`` (the rule's name, handed to ``on_rejected``), or
    ``None``: the risk gate (state, kill switch, loss limits, exposure) and, for entries,
    the bot's universe. The live executor and the backtest (``bots/backtest/rules.py``)
    both decide here, so a backtest refuses exactly what the host would."""
    verdict = gate.check(
        intent,
        state=state,
        killed=killed,
        halted=halted,
        positions=positions,
        prices=prices,
        reference_price=prices.get(intent.symbol),
        account_notional=account_notional,
    )
    if isinstance(intent, ENTRY_INTENTS) and intent.symbol not in universe:
        log.info("refused %s %s: not in the bot's universe", type(intent).__name__,
                 intent.symbol)  # fmt: skip
        return "universe"
    if not verdict:
        log.info("refused %s %s: %s (%s)", type(intent).__name__, intent.symbol,
                 verdict.rule, verdict.detail)  # fmt: skip
        return verdict.rule
    return None


def bound_exit(intent: ExitMarket, open_qty: dict[str, Decimal]) -> ExitMarket | None:
    """A market exit never closes more than the bot's own ledger position.

    A strategy can ask to close a trade whose exchange-side stop or take profit has
    just filled but whose fill has not reached it yet (the candle came first). On a
    shared account the surplus would open a position in the other direction, or
    eat into another bot's; so the exit is cut to what the ledger still holds, and
    dropped when that is nothing. The ledger is never behind the strategy: fills
    reach a strategy only after they are committed there. ``open_qty`` is updated with
    what this exit will close, for the next exit in the same batch.
    """
    own = open_qty.get(intent.symbol, ZERO)
    closable = own if intent.side == "Sell" else -own
    if closable <= 0:
        log.info(
            "exit %s %s skipped: the ledger position is %s (already closed)",
            intent.side,
            intent.symbol,
            own,
        )
        return None
    qty = min(intent.qty, closable)
    open_qty[intent.symbol] = own - qty if intent.side == "Sell" else own + qty
    if qty != intent.qty:
        log.info(
            "exit %s %s cut from %s to the ledger's %s", intent.side, intent.symbol,
            intent.qty, qty,
        )  # fmt: skip
        return replace(intent, qty=qty)
    return intent
