"""The ``momentum`` bot type (docs/strategies.md#momentum)."""

from bots.momentum.config import MomentumConfig
from bots.momentum.strategy import Momentum

__all__ = ["Momentum", "MomentumConfig"]
