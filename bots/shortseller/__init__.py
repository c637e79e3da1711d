"""The ``shortseller`` bot type (STRATEGIES.md)."""

from bots.shortseller.config import ShortSellerConfig
from bots.shortseller.strategy import ShortSeller

__all__ = ["ShortSeller", "ShortSellerConfig"]
