"""Moved to :mod:`core.operator.control`, shared with the HTTP API; kept so the C2's imports
still read as its own."""

from core.operator.control import DB_STATUS, Control, new_command_id

__all__ = ["DB_STATUS", "Control", "new_command_id"]
