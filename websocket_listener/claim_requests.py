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
import threading
from collections.abc import Callable

import redis

from core import redis_keys
from core.redis_client import ensure_group, sync_reply
from websocket_listener.fill_claims import ClaimRequest, ClaimResult

log = logging.getLogger(__name__)

CONSUMER = "listener"
BLOCK_MS = 1000
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


class ClaimConsumer:
    def __init__(self, client: redis.Redis, handle: Callable[[ClaimRequest], ClaimResult]) -> None:
        self._redis = client
        self._handle = handle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fill-claims", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        # A claim waiting for a database that is down stays unacknowledged: it is
        # answered after the restart.
        self._thread.join(BLOCK_MS / 1000 + 5)

    def _ensure_group(self) -> None:
        ensure_group(self._redis, redis_keys.FILL_CLAIMS, redis_keys.FILL_CLAIMS_GROUP, start="0")

    def _run(self) -> None:
        cursor: str | None = "0"  # our own pending entries first, then new ones
        while not self._stop.is_set():
            try:
                self._ensure_group()
                reply = sync_reply(
                    self._redis.xreadgroup(
                        redis_keys.FILL_CLAIMS_GROUP,
                        CONSUMER,
                        {redis_keys.FILL_CLAIMS: cursor or ">"},
                        count=COUNT,
                        block=None if cursor else BLOCK_MS,
                    )
                )
                entries = reply[0][1] if reply else []
                for entry_id, fields in entries:
                    self._answer(entry_id, fields or {})
                if cursor is not None:
                    cursor = entries[-1][0] if entries else None
            except redis.RedisError as exc:
                log.warning("fill claim stream unavailable: %s", exc)
                self._stop.wait(1.0)

    def _answer(self, entry_id: str, fields: dict[str, str]) -> None:
        request = request_of(fields)
        if isinstance(request, str):
            answer = f"refused {request}"
        else:
            result = self._handle(request)
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
