"""The ``lxalgo`` bot type (docs/strategies.md#lxalgo)."""

from bots.lxalgo.config import LXAlgoConfig
from bots.lxalgo.strategy import LXAlgo

__all__ = ["LXAlgo", "LXAlgoConfig"]
