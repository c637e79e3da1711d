"""Asking the backup service for a backup now: one entry on its request stream. The C2's
``/backup`` and the API's ``POST /api/v1/backups`` both call this, inside the
transaction of their audit row."""

from __future__ import annotations

import secrets
from datetime import datetime

import redis.asyncio

from core import redis_keys


def new_request_id() -> str:
    """Made before the request so the audit row can name it."""
    return secrets.token_hex(16)


async def request_backup(
    infra: redis.asyncio.Redis, request_id: str, requested_by: str, at: datetime
) -> None:
    """Append the request (the backup service logs its id with the run)."""
    await infra.xadd(
        redis_keys.BACKUP_REQUESTS,
        {"requested_by": requested_by, "requested_at": at.isoformat(), "request_id": request_id},
    )
