"""The confirmation book moved to ``core/operator/confirm.py`` so the HTTP API confirms
its dangerous actions with the same code; this name stays for the C2's imports."""

from core.operator.confirm import (
    TOMBSTONE,
    TTL,
    Clock,
    ConfirmationBook,
    Outcome,
    Pending,
    utc_now,
)

__all__ = ["TOMBSTONE", "TTL", "Clock", "ConfirmationBook", "Outcome", "Pending", "utc_now"]
