"""The ``lxalgo`` bot type (STRATEGIES.md)."""

from bots.lxalgo.config import LXAlgoConfig
from bots.lxalgo.strategy import LXAlgo

__all__ = ["LXAlgo", "LXAlgoConfig"]
