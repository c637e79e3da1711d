"""Asking the listener to give an ``external`` fill to a bot (docs/attribution.md).

The CLI (``alpha fills assign``) and the C2 (``/assign``) never write the ledger: they
append one request to ``core.redis_keys.FILL_CLAIMS`` and wait for the listener's
one-line answer on ``fill_claim_reply(request_id)`` (websocket_listener/claim_requests.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import cast

import redis
import redis.asyncio

from core import redis_keys
from core.redis_client import stream_fields, sync_reply

#: How long a requester waits for the listener's answer by default.
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Answer:
    ok: bool
    text: str


def _request(exec_id: str, bot_id: str, reason: str, requested_by: str) -> dict[str, str]:
    return {
        "request_id": uuid.uuid4().hex,
        "exec_id": exec_id,
        "bot_id": bot_id,
        "reason": reason,
        "requested_by": requested_by,
    }


def _answer(reply: list[str] | None) -> Answer | None:
    if reply is None:
        return None
    status, _, text = str(reply[1]).partition(" ")
    return Answer(status == "ok", text)


def no_answer_text(timeout: float) -> str:
    return (
        f"no answer from the listener within {timeout:g}s (is it running?); the request"
        " stays queued and applies when it reads it"
    )


def request_claim(
    client: redis.Redis,
    exec_id: str,
    bot_id: str,
    reason: str,
    requested_by: str,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Answer | None:
    """Send one claim request; the listener's answer, or None after ``timeout`` seconds."""
    fields = _request(exec_id, bot_id, reason, requested_by)
    # No MAXLEN here: the listener trims what it has answered, never a request unread.
    client.xadd(redis_keys.FILL_CLAIMS, stream_fields(fields))
    reply_key = redis_keys.fill_claim_reply(fields["request_id"])
    return _answer(sync_reply(client.blpop([reply_key], timeout=timeout)))


async def request_claim_async(
    client: redis.asyncio.Redis,
    exec_id: str,
    bot_id: str,
    reason: str,
    requested_by: str,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Answer | None:
    """The asyncio twin of :func:`request_claim` (the C2)."""
    fields = _request(exec_id, bot_id, reason, requested_by)
    await client.xadd(redis_keys.FILL_CLAIMS, stream_fields(fields))
    reply_key = redis_keys.fill_claim_reply(fields["request_id"])
    # redis-py types each command for both clients at once (see core.redis_client).
    reply = await cast(Awaitable[list[str] | None], client.blpop([reply_key], timeout=timeout))
    return _answer(reply)
