"""The ``momentum`` bot type (STRATEGIES.md)."""

from bots.momentum.config import MomentumConfig
from bots.momentum.strategy import Momentum

__all__ = ["Momentum", "MomentumConfig"]
