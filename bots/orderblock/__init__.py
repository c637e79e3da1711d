"""The ``orderblock`` bot type (docs/strategies.md#order-block)."""

from bots.orderblock.config import OrderBlockConfig
from bots.orderblock.strategy import OrderBlock

__all__ = ["OrderBlock", "OrderBlockConfig"]
