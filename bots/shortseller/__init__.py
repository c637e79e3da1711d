"""The ``shortseller`` bot type (docs/strategies.md#shortseller)."""

from bots.shortseller.config import ShortSellerConfig
from bots.shortseller.strategy import ShortSeller

__all__ = ["ShortSeller", "ShortSellerConfig"]
