"""The API's pending confirmations, kept in Redis so that they survive a restart of the
API (a deploy between "flatten?" and "yes" no longer loses the question).

The C2 keeps its book in memory (core/operator/confirm.py): its buttons belong to one
chat session anyway. Here the same rules hold, with Redis as the book:

- ``api:confirm:{id}`` holds the pending action as JSON: who asked (the token's id and
  name), what, for which bot, and when it expires by the API's clock. Redis drops the key
  an hour after that (:data:`TOMBSTONE`), so a late confirmation is still answered
  "expired" rather than "unknown".
- **Bound to the token**: only the token id stored there may use it.
- **Single use**: the confirmation that acts is the one whose ``DEL`` removed the key.
  Two racing confirmations (two API processes, a retried request) cannot both get 1.
- **Expiry audited once**: ``api:confirm:_due`` scores each id by its expiry; whoever
  ``ZREM``\\ s a lapsed id (the sweeper or a late confirmation) audits the expiry.

No Lua: the API's Redis user gets plain ``GET``/``SET``/``DEL`` and the sorted-set
commands on ``api:confirm:*`` only (core/redis_acl.py).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio

from core import redis_keys
from core.operator.confirm import TOMBSTONE, Clock, Outcome, Pending


def _dump(item: Pending) -> str:
    return json.dumps(
        {
            "action": item.action,
            "user_id": item.user_id,
            "username": item.username,
            "args": list(item.args),
            "bot_id": item.bot_id,
            "created_at": item.created_at.isoformat(),
            "expires_at": item.expires_at.isoformat(),
        }
    )


def _load(token: str, raw: str | bytes) -> Pending:
    data: dict[str, Any] = json.loads(raw)
    return Pending(
        token=token,
        action=data["action"],
        user_id=int(data["user_id"]),
        username=data["username"],
        chat_id=None,
        args=tuple(data["args"]),
        bot_id=data["bot_id"],
        created_at=datetime.fromisoformat(data["created_at"]),
        expires_at=datetime.fromisoformat(data["expires_at"]),
    )


class RedisConfirmations:
    def __init__(self, client: redis.asyncio.Redis, clock: Clock, ttl: timedelta) -> None:
        self._redis = client
        self.clock = clock
        self.ttl = ttl

    async def create(
        self,
        action: str,
        *,
        user_id: int,
        username: str | None,
        args: tuple[str, ...] = (),
        bot_id: str | None = None,
    ) -> Pending:
        item = Pending.issue(
            action, user_id=user_id, username=username, chat_id=None, args=args,
            bot_id=bot_id, now=self.clock(), ttl=self.ttl,
        )  # fmt: skip
        keep = self.ttl + TOMBSTONE
        # Two commands, not one MULTI: the two keys hash to different slots of a Redis
        # Cluster, which refuses a transaction over them (CROSSSLOT). Atomicity is not
        # needed, by the order: the due entry first, with NX so a colliding id's entry
        # keeps its score; then the confirmation. A crash between leaves a due id with no
        # confirmation, which the sweeper removes and skips (expired(): nothing to
        # audit, and the id never reached anyone) — as if neither had been written.
        due = {item.token: item.expires_at.timestamp()}
        await self._redis.zadd(redis_keys.API_CONFIRMATIONS_DUE, due, nx=True)
        stored = await self._redis.set(
            redis_keys.api_confirmation(item.token), _dump(item), ex=keep, nx=True
        )
        if not stored:  # 96 random bits collided: refuse rather than overwrite
            raise RuntimeError("confirmation id collision")
        return item

    async def take(self, token: str, user_id: int) -> tuple[Outcome, Pending | None]:
        """Use ``token`` as the API token ``user_id``."""
        if not token or len(token) > 64:
            return Outcome.UNKNOWN, None
        key = redis_keys.api_confirmation(token)
        raw = await self._redis.get(key)
        if raw is None:
            return Outcome.UNKNOWN, None
        item = _load(token, raw)
        outcome = item.judge(user_id, None, None, self.clock())
        if outcome is not Outcome.CONFIRMED:
            return outcome, item
        if await self._redis.delete(key) != 1:  # another request used it a moment ago
            return Outcome.UNKNOWN, None
        await self._redis.zrem(redis_keys.API_CONFIRMATIONS_DUE, token)
        return Outcome.CONFIRMED, item

    async def discard(self, token: str) -> None:
        """Forget a confirmation whose request could not be audited."""
        await self._redis.delete(redis_keys.api_confirmation(token))
        await self._redis.zrem(redis_keys.API_CONFIRMATIONS_DUE, token)

    async def mark_expiry_recorded(self, item: Pending) -> bool:
        """True exactly once per lapsed confirmation (the caller audits the expiry)."""
        removed = await self._redis.zrem(redis_keys.API_CONFIRMATIONS_DUE, item.token)
        return bool(removed)

    async def put_back(self, items: list[Pending]) -> None:
        """Make ``items`` due again: their expiry was taken but could not be recorded."""
        if items:
            due = {item.token: item.expires_at.timestamp() for item in items}
            await self._redis.zadd(redis_keys.API_CONFIRMATIONS_DUE, due, nx=True)

    async def expired(self) -> list[Pending]:
        """Lapsed confirmations whose expiry nobody recorded yet; each is returned to one
        caller only. The key stays (a late confirmation gets "expired")."""
        due = await self._redis.zrangebyscore(
            redis_keys.API_CONFIRMATIONS_DUE, "-inf", self.clock().timestamp()
        )
        lapsed = []
        for member in due:
            token = member.decode() if isinstance(member, bytes) else str(member)
            if not await self._redis.zrem(redis_keys.API_CONFIRMATIONS_DUE, token):
                continue  # a late confirmation (or another sweeper) took it
            raw = await self._redis.get(redis_keys.api_confirmation(token))
            if raw is not None:
                lapsed.append(_load(token, raw))
        return lapsed
