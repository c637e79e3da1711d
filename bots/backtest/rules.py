"""The live host's rules in a backtest: its risk gate, its loss limits and the bot's
universe, through the host's own code (``bots/runtime``), not a copy.

* every intent goes through :func:`bots.runtime.execution.host_refusal`, which the live
  executor calls too: the risk gate (``core/risk.py``: exposure caps per symbol, in
  total, open positions) and, for entries, the universe; a refusal goes back to the
  strategy's ``on_rejected`` once, as live;
* the equity is fed to :class:`bots.runtime.loss_limits.LossLimits` on every bar and
  every fill, as the host feeds it, so the daily loss and drawdown limits halt entries
  at the same moments (a drawdown halt is lifted by an operator live; a backtest has
  none, so it lasts to the end of the run);
* a strategy with a universe rule (LXAlgo's turnover rule) is re-selected with
  :class:`bots.runtime.universe.Universe` on its schedule, from the turnover of the
  candles the backtest has seen in the last 24 hours (the stored ``turnover`` column,
  where live reads ``turnover24h`` from the exchange's tickers). Only the symbols fed to
  the backtest can be chosen, so feed it the candidates.

What a backtest cannot model is left out: the kill switch and operator states
(a backtest bot is running), the account-wide notional cap (other bots), open drift and
leverage checks (no exchange).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bots.runtime.execution import host_refusal
from bots.runtime.loss_limits import LossLimits
from bots.runtime.universe import Universe
from core.candles import Candle
from core.ids import BotId
from core.risk import BotState, RiskGate, RiskLimits
from core.strategy import Intent, PositionView, Strategy

DAY = timedelta(hours=24)
ZERO = Decimal(0)
BACKTEST = BotId("backtest")


class HostRules:
    """One backtest's gate, loss limits and universe."""

    def __init__(self, strategy: Strategy[Any], limits: RiskLimits | None = None) -> None:
        limits = limits or RiskLimits.model_validate({})
        self.gate = RiskGate(limits)
        self.loss_limits = LossLimits(None, BACKTEST, limits, None)
        self.universe = Universe(strategy, None, None, BACKTEST)
        #: Per symbol, (bar end, turnover) of the bars of the last 24 hours.
        self._turnover: dict[str, deque[tuple[datetime, Decimal]]] = {}
        #: Refusals per rule, for the report.
        self.refused: dict[str, int] = {}
        self.halts = 0

    @property
    def dynamic(self) -> bool:
        return self.universe.dynamic

    def seen(self, candle: Candle) -> None:
        """A closed bar (warm-up included): its turnover counts for the next selection."""
        self._turnover.setdefault(candle.symbol, deque()).append((candle.end, candle.turnover))

    def refresh_universe(self, now: datetime) -> None:
        """Re-select the universe when it is due, as the host does after each batch."""
        if not self.universe.due(now):
            return
        since = now - DAY
        turnover: dict[str, Decimal] = {}
        for symbol, bars in self._turnover.items():
            while bars and bars[0][0] <= since:
                bars.popleft()
            # A bar counts once it has closed (the first selection happens at the first
            # bar's open, so only the warm-up's bars are known then).
            turnover[symbol] = sum((t for end, t in bars if end <= now), ZERO)
        self.universe.select(now, turnover)

    def observe(self, now: datetime, equity: Decimal) -> None:
        state = self.loss_limits.state
        was = state.get("halt")
        self.loss_limits.observe(now, equity)
        if not was and self.loss_limits.state.get("halt"):
            self.halts += 1

    def refusal(
        self,
        intent: Intent,
        positions: Mapping[str, PositionView],
        prices: Mapping[str, Decimal],
    ) -> str | None:
        why = host_refusal(
            intent,
            gate=self.gate,
            universe=self.universe,
            state=BotState.RUNNING,
            killed=False,
            halted=self.loss_limits.halted,
            positions=positions,
            prices=prices,
        )
        if why is not None:
            self.refused[why] = self.refused.get(why, 0) + 1
        return why
