"""What an operator asks a running bot through ``commands:{bot}`` (from Telegram or the
CLI): ``flatten``, ``exit`` one symbol, ``cancel-all``, ``reset-risk``, ``reload``
(take an updated registration: bots/runtime/reload.py), and ``state`` (a notice that
the operator changed the bot's state key: the bot obeys the key on every decision and
acknowledges the notice so operators can see the change applied). Each acts on this bot's own
positions and orders only, never on the account's netted position.

The HTTP API's webhook puts its accepted alerts on the same stream as ``signal``
entries (docs/api.md#webhooks): they reach ``Strategy.on_signal`` in order with the
operator's commands, and their intents take the same path as a candle's.

A stopped bot refuses them all (the operator resumes it first), but ``reload`` and
``state``: neither sends anything to the exchange.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bots.runtime.execution import IntentExecutor
from bots.runtime.loss_limits import LossLimits
from bots.runtime.notify import Notifier
from core import signals
from core.orders import OrderManager, new_intent_id
from core.risk import BotState
from core.strategy import ExitMarket, Intent, Reason, Side, Strategy, StrategyContext

log = logging.getLogger(__name__)


@dataclass
class OperatorCommands:
    strategy: Strategy[Any]
    orders: OrderManager
    executor: IntentExecutor
    loss_limits: LossLimits
    notify: Notifier
    state: Callable[[], BotState]
    context: Callable[[], StrategyContext]
    #: ``reload``: the host re-reads and applies its registration, then answers.
    reload: Callable[[Mapping[str, str]], None] = lambda fields: None
    #: ``state``: the operator changed ``bot:{id}:state``; the host records that it
    #: took it (``bot:{id}:state_applied``).
    acknowledge_state: Callable[[Mapping[str, str]], None] = lambda fields: None

    def handle(self, fields: Mapping[str, str], symbols: list[str]) -> None:
        """One command entry; ``symbols`` are the ones the bot follows now."""
        command = fields.get("command", "")
        log.info("command %s from %s", command, fields.get("requested_by", "?"))
        if command == "reload":
            self.reload(fields)
        elif command == "state":  # a notice, acknowledged in every state (stop included)
            self.acknowledge_state(fields)
        elif self.state() is BotState.STOPPED:
            log.warning("bot is stopped: command %s refused (resume it first)", command)
        elif command == "flatten":
            self.flatten(symbols)
        elif command == "exit":
            self.exit_symbol(fields.get("symbol", ""), symbols)
        elif command == "cancel-all":
            self.orders.cancel_own(symbols)
        elif command == "reset-risk":
            self.reset_risk(fields.get("requested_by", "?"))
        elif command == signals.COMMAND:
            self.signal(fields, symbols)
        else:
            log.warning("unknown command %r ignored", command)

    def reset_risk(self, by: str) -> None:
        """Lift the host's loss-limit halt and the strategy's own (LXAlgo's pause or weekly
        halt, Momentum's blocks): both measure from the bot's equity now. The strategy's
        anchors survive restarts, so without this an operator could not lift them."""
        ctx = self.context()
        self.loss_limits.reset(ctx.equity, by, ctx.now)
        self.strategy.reset_risk(ctx.now, ctx.equity)
        log.info("risk reset by %s: limits count from equity %s", by, ctx.equity)

    def flatten(self, symbols: list[str]) -> None:
        """Close this bot's own positions with tagged orders and cancel its resting orders."""
        ctx = self.context()
        intents: list[Intent] = list(self.strategy.flatten(ctx, Reason.KILL))
        cancelled = self.orders.cancel_own(symbols)
        covered = {i.symbol for i in intents if isinstance(i, ExitMarket)}
        for symbol, view in ctx.positions.items():
            if view.qty and symbol not in covered:
                side: Side = "Sell" if view.qty > 0 else "Buy"
                intents.append(
                    ExitMarket(new_intent_id(), symbol, side, abs(view.qty), Reason.KILL)
                )
        exits = [i for i in intents if isinstance(i, ExitMarket)]
        self.executor.execute(exits)
        self.notify.flatten_done(exits, cancelled)

    def exit_symbol(self, symbol: str, symbols: list[str]) -> None:
        """An operator's forced exit (``/forceexit BOT SYMBOL``): close this bot's own
        position in ``symbol`` at market — never more than the ledger holds, as
        :meth:`flatten` — and cancel its resting orders there. Other symbols are untouched."""
        if symbol not in symbols:
            log.warning("exit %r ignored: not one of this bot's symbols", symbol)
            return
        ctx = self.context()
        intents = list(self.strategy.flatten_symbol(ctx, symbol, Reason.KILL))
        cancelled = self.orders.cancel_own([symbol])
        exits = [i for i in intents if isinstance(i, ExitMarket) and i.symbol == symbol]
        view = ctx.positions.get(symbol)
        if view is not None and view.qty and not exits:
            side: Side = "Sell" if view.qty > 0 else "Buy"
            exits.append(ExitMarket(new_intent_id(), symbol, side, abs(view.qty), Reason.KILL))
        log.info("exit %s: %d market exit(s), %d resting order(s) cancelled", symbol,
                 len(exits), cancelled)  # fmt: skip
        self.executor.execute(exits)

    def signal(self, fields: Mapping[str, str], symbols: list[str]) -> None:
        """One webhook alert the API accepted: the strategy decides, the usual checks
        (state, risk gate, universe) apply to what it asks for."""
        try:
            signal = signals.from_fields(fields)
        except signals.SignalError as exc:
            # The API parsed it already: only a hand-written stream entry gets here.
            log.warning("signal %s ignored: %s", fields.get("alert_id", "?"), exc)
            return
        expires = fields.get("expires")
        if expires and datetime.now(UTC) > datetime.fromisoformat(expires):
            # Queued while the bot was down: the price it was meant for is long gone.
            log.warning("signal %s ignored: it expired at %s before the bot got to it",
                        signal.alert_id, expires)  # fmt: skip
            return
        if signal.symbol not in symbols:
            log.warning("signal %s ignored: %s is not one of this bot's symbols",
                        signal.alert_id, signal.symbol)  # fmt: skip
            return
        intents = self.strategy.on_signal(signal, self.context())
        log.info("signal %s %s %s -> %s", signal.alert_id, signal.action, signal.symbol,
                 ", ".join(type(i).__name__ for i in intents) or "nothing to do")  # fmt: skip
        self.executor.execute(intents)
