"""Moved to :mod:`core.operator.audit`, shared with the HTTP API; kept so the C2's imports
still read as its own."""

from core.operator.audit import OUTCOMES, AuditEntry, Auditor

__all__ = ["OUTCOMES", "AuditEntry", "Auditor"]
