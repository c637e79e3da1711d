"""Moved to :mod:`core.operator.db`, shared with the HTTP API; kept so the C2's imports
still read as its own."""

from core.operator.db import Database

__all__ = ["Database"]
