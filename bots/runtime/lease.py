"""One running process per bot id (``core/lease.py``): ``bot:{id}:lease``.

Two processes trading under one bot id would double every entry (each sees the same
candles and the same position), so ``alpha run bot`` takes this lease before anything
trades, and stops when it loses it, including when Redis stays out of reach for longer
than the lease lives.
"""

from __future__ import annotations

from collections.abc import Callable

import redis

from core.lease import DEFAULT_TTL_SECONDS, Lease, LeaseHeld, LeaseLost

__all__ = ["BotLease", "LeaseHeld", "LeaseLost", "lease_key"]


def lease_key(bot_id: str) -> str:
    return f"bot:{bot_id}:lease"


class BotLease(Lease):
    def __init__(
        self,
        client: redis.Redis,
        bot_id: str,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(
            client, lease_key(bot_id), f"bot {bot_id}", ttl_seconds=ttl_seconds, on_lost=on_lost
        )
        self.bot_id = bot_id
