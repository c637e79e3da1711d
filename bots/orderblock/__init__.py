"""The ``orderblock`` bot type (STRATEGIES.md)."""

from bots.orderblock.config import OrderBlockConfig
from bots.orderblock.strategy import OrderBlock

__all__ = ["OrderBlock", "OrderBlockConfig"]
