"""Operator claims of external fills, consumed by the listener (docs/attribution.md).

Why a stream of its own rather than a new kind of trade sync's hand-over entry: the
hand-over carries exchange facts that become envelopes and batches, retried and spooled
until written; a claim is an operator's decision that either applies or is refused, and
its requester waits for that answer. Separate streams also keep the ACLs narrow: trade
sync may append executions, the C2 may append claims, neither the other.

The requester ``XADD``\\ s ``{request_id, exec_id, bot_id, reason, requested_by}`` to
``core.redis_keys.FILL_CLAIMS`` and ``BLPOP``\\ s ``fill_claim_reply(request_id)``; this
consumer (group ``FILL_CLAIMS_GROUP``) runs each claim on the writer thread, pushes the
one-line answer (``ok <text>`` or ``refused <text>``, kept ``FILL_CLAIM_REPLY_TTL_SECONDS``)
and acknowledges the entry. After a crash it first re-reads its own pending entries: a
claim that had committed is then answered "already assigned", never applied twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

from core import redis_keys
from websocket_listener.fill_claims import ClaimRequest, ClaimResult
from websocket_listener.group_reader import GroupReader

log = logging.getLogger(__name__)

COUNT = 50
#: Answered entries kept in the stream (an audit trail is in trading.fill_claims).
MAXLEN = 10_000
_FIELDS = ("request_id", "exec_id", "bot_id", "reason", "requested_by")


def request_of(fields: dict[str, str]) -> ClaimRequest | str:
    """An entry's request, or why it is not one."""
    missing = [name for name in _FIELDS if not (fields.get(name) or "").strip()]
    if missing:
        return f"malformed claim request: missing {', '.join(missing)}"
    return ClaimRequest(
        exec_id=fields["exec_id"][:200],
        bot_id=fields["bot_id"][:64],
        reason=fields["reason"][:1000],
        requested_by=fields["requested_by"][:200],
    )


class ClaimConsumer(GroupReader):
    """A claim waiting for a database that is down stays unacknowledged: it is answered
    after the restart."""

    def __init__(self, client: redis.Redis, handle: Callable[[ClaimRequest], ClaimResult]) -> None:
        super().__init__(
            client,
            redis_keys.FILL_CLAIMS,
            redis_keys.FILL_CLAIMS_GROUP,
            count=COUNT,
            name="fill-claims",
        )
        self._apply = handle

    def handle(self, entry_id: str, fields: dict[str, str]) -> None:
        request = request_of(fields)
        if isinstance(request, str):
            answer = f"refused {request}"
        else:
            result = self._apply(request)
            answer = f"{'ok' if result.ok else 'refused'} {result.text}"
            log.info("fill claim by %s: %s", request.requested_by, answer)
        request_id = (fields.get("request_id") or "").strip()
        if request_id:
            key = redis_keys.fill_claim_reply(request_id[:100])
            pipe = self._redis.pipeline()
            pipe.rpush(key, answer)
            pipe.expire(key, redis_keys.FILL_CLAIM_REPLY_TTL_SECONDS)
            pipe.execute()
        self._redis.xack(redis_keys.FILL_CLAIMS, redis_keys.FILL_CLAIMS_GROUP, entry_id)
        self._redis.xtrim(redis_keys.FILL_CLAIMS, maxlen=MAXLEN, approximate=True)
