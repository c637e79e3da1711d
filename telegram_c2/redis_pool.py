"""Moved to :mod:`core.operator.redis_pool`, shared with the HTTP API; kept so the C2's imports
still read as its own."""

from core.operator.redis_pool import RedisPool

__all__ = ["RedisPool"]
