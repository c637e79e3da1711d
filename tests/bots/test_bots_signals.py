"""The host's side of webhook signals (``bots/runtime/commands.py``): a ``signal`` entry of
the command stream reaches ``Strategy.on_signal`` and its intents go to the executor —
unless the bot is stopped, the signal expired while the bot was down, or the symbol is
not the bot's. The executor here only records what it is given: what happens after it
(risk gate, orders, ledger) is the same for every bot and proved end to end in
``tests/bots/e2e/test_e2e_webhook.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bots.runtime.commands import OperatorCommands
from bots.webhook import Webhook
from core.risk import BotState
from core.strategy import EnterMarket, Intent, StrategyContext

from .helpers import T0, D

BTC = "BTCUSDT"


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Intent] = []

    def execute(self, intents: Any, *, follow_up: bool = True) -> None:
        self.sent += list(intents)


def _commands(state: BotState = BotState.RUNNING) -> tuple[OperatorCommands, Recorder]:
    executor = Recorder()
    commands = OperatorCommands(
        strategy=Webhook({"symbols": [BTC]}),
        orders=None,  # type: ignore[arg-type]  # a signal never touches them directly
        executor=executor,  # type: ignore[arg-type]
        loss_limits=None,  # type: ignore[arg-type]
        notify=None,  # type: ignore[arg-type]
        state=lambda: state,
        context=lambda: StrategyContext(T0, D(10_000)),
    )
    return commands, executor


def _entry(**extra: str) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "command": "signal", "requested_by": "webhook", "id": "1", "alert_id": "tv-1",
        "time": now.isoformat(), "action": "enter_long", "symbol": BTC, "qty": "0.01",
        "expires": (now + timedelta(seconds=60)).isoformat(), **extra,
    }  # fmt: skip


def test_a_signal_entry_becomes_the_strategy_s_intents() -> None:
    commands, executor = _commands()
    commands.handle(_entry(), [BTC])
    [entry] = executor.sent
    assert isinstance(entry, EnterMarket) and (entry.symbol, entry.qty) == (BTC, D("0.01"))


def test_expired_foreign_or_stopped_signals_do_nothing() -> None:
    gone = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    for fields, symbols, state in (
        (_entry(expires=gone), [BTC], BotState.RUNNING),
        (_entry(), ["ETHUSDT"], BotState.RUNNING),
        (_entry(), [BTC], BotState.STOPPED),
        (_entry(action="sell"), [BTC], BotState.RUNNING),
    ):
        commands, executor = _commands(state)
        commands.handle(fields, symbols)
        assert executor.sent == [], fields
