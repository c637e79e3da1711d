"""Moved to :mod:`core.operator.registry`, shared with the HTTP API; kept so the C2's imports
still read as its own."""

from core.operator.registry import Bot, UnknownBotError, load_bots, resolve

__all__ = ["Bot", "UnknownBotError", "load_bots", "resolve"]
