"""``alpha fills assign``: ask the listener to give an ``external`` fill to a bot.

The CLI never writes the ledger: it appends a request to the listener's claim stream
and waits for the one-line answer (core/operator/fill_claims.py).
"""

from __future__ import annotations

import argparse
import getpass

import redis

from core.errors import UserError
from core.ids import BotId
from core.operator.fill_claims import no_answer_text, request_claim


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
    if answer is None:
        raise UserError(no_answer_text(args.timeout))
    if not answer.ok:
        raise UserError(f"refused: {answer.text}")
    print(answer.text)
    return 0
