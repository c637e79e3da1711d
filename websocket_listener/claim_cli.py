"""``alpha fills assign``: ask the listener to give an ``external`` fill to a bot.

The CLI never writes the ledger: it appends a request to the listener's claim stream
and waits for the one-line answer (core/operator/fill_claims.py). With
``REDIS_CLAIMS_PASSWORD`` set it logs in as the ``claims`` ACL user, which may do exactly
that and nothing else (core/redis_acl.py); without it, as this shell's Redis login
(``REDIS_USERNAME``/``REDIS_PASSWORD``, the operator's ``default`` user when unset).
"""

from __future__ import annotations

import argparse
import getpass
from dataclasses import replace

import redis

from core.config import Settings
from core.errors import UserError
from core.ids import BotId
from core.operator.fill_claims import no_answer_text, request_claim


def claims_client(settings: Settings) -> redis.Redis:
    """The infrastructure DB, as the least-privileged ``claims`` user when its password
    is configured."""
    from core.redis_acl import CLAIMS
    from core.redis_client import infra_client

    if settings.redis.claims_password is None:
        return infra_client(settings)
    login = settings.redis.model_copy(
        update={"username": CLAIMS, "password": settings.redis.claims_password}
    )
    return infra_client(replace(settings, redis=login))


def assign(args: argparse.Namespace) -> int:
    from core.config import load_settings

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
            claims_client(settings),
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
