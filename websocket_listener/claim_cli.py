"""``alpha fills assign``: ask the listener to give an ``external`` fill to a bot.

The CLI never writes the ledger: it appends a request to the listener's claim stream
and waits for the one-line answer (websocket_listener/claim_requests.py).
"""

from __future__ import annotations

import argparse
import getpass
import uuid

import redis

from core import redis_keys
from core.errors import UserError
from core.ids import BotId
from core.redis_client import stream_fields, sync_reply

#: How long the CLI waits for the listener's answer by default.
DEFAULT_TIMEOUT_SECONDS = 30.0
#: The request stream keeps this many entries at most (answered ones are history).
STREAM_MAXLEN = 10_000


def request_claim(
    client: redis.Redis,
    exec_id: str,
    bot_id: str,
    reason: str,
    requested_by: str,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> str:
    """Send one claim request and return the listener's answer (``ok …``/``refused …``);
    raises :class:`UserError` when no answer comes within ``timeout`` seconds."""
    request_id = uuid.uuid4().hex
    fields = {
        "request_id": request_id,
        "exec_id": exec_id,
        "bot_id": bot_id,
        "reason": reason,
        "requested_by": requested_by,
    }
    client.xadd(
        redis_keys.FILL_CLAIMS, stream_fields(fields), maxlen=STREAM_MAXLEN, approximate=True
    )
    reply = sync_reply(client.blpop([redis_keys.fill_claim_reply(request_id)], timeout=timeout))
    if reply is None:
        raise UserError(
            f"no answer from the listener within {timeout:g}s (is it running?); the request"
            " stays queued and applies when it reads it"
        )
    return str(reply[1])


def assign(args: argparse.Namespace) -> int:
    from core.config import load_settings
    from core.redis_client import infra_client

    if not BotId.is_valid(args.bot):
        raise UserError(f"invalid bot id {args.bot!r}")
    if not args.exec_id.strip() or len(args.exec_id) > 200:
        raise UserError("EXEC_ID must be an execution id (as in alpha positions / the ledger)")
    if not args.reason.strip():
        raise UserError("--reason must say why (it is kept with the claim)")
    if args.timeout <= 0:
        raise UserError("--timeout must be positive")
    settings = load_settings()
    try:
        answer = request_claim(
            infra_client(settings),
            args.exec_id.strip(),
            args.bot,
            args.reason.strip(),
            f"cli:{getpass.getuser()}",
            args.timeout,
        )
    except redis.RedisError as exc:
        raise UserError(f"cannot reach Redis to send the request: {exc}") from None
    status, _, text = answer.partition(" ")
    if status != "ok":
        raise UserError(f"refused: {text}")
    print(text)
    return 0
