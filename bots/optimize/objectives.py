"""What a trial is scored on: one metric of ``bots/backtest/metrics.py``, exact."""

from __future__ import annotations

from decimal import Decimal

from bots.backtest.metrics import Metrics
from core.errors import UserError

#: Metric name → direction. Drawdown is the only one where smaller is better.
OBJECTIVES: dict[str, str] = {
    "net_pnl": "maximize",
    "sharpe": "maximize",
    "sortino": "maximize",
    "calmar": "maximize",
    "profit_factor": "maximize",
    "expectancy": "maximize",
    "win_rate": "maximize",
    "max_drawdown": "minimize",
}


def check(name: str) -> str:
    """The direction of objective ``name``; one-line error when it is not one."""
    if name not in OBJECTIVES:
        raise UserError(f"--objective {name!r} is not one of: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


def value(name: str, m: Metrics) -> Decimal | None:
    """The metric, or ``None`` when the run cannot say (no trades, no variance): such a
    trial is stored as failed rather than scored with a made-up number."""
    match name:
        case "net_pnl":
            return m.net_pnl
        case "max_drawdown":
            return m.max_drawdown.amount
        case "profit_factor" | "expectancy" | "win_rate":
            return getattr(m.total, name)
        case _:
            return getattr(m, name)
