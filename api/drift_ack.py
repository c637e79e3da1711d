"""``POST /api/v1/drift/ack``: the C2's ``/ackdrift`` and ``alpha drift ack`` over HTTP.

Acknowledging open drift lets bots enter again on a symbol where the ledger and the
exchange disagree, so it is a dangerous action: the request only creates a confirmation
(api/actions.py, audited ``pending``), and the acknowledgement is made on ``POST
/confirm/{id}`` through core/operator/drift_ack.py, for the drift as it is at that
moment, in the transaction of the ``confirmed`` audit row (as the C2 does it).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from aiohttp import web

from api.context import ApiContext
from api.jsonio import read_object
from core.errors import UserError
from core.operator import drift_ack
from core.operator.confirm import Pending

ACTION = "ackdrift"
MAX_BODY = 4 * 1024
MAX_REASON = 200


async def parse_body(request: web.Request) -> tuple[str, str | None]:
    body = await read_object(
        request,
        MAX_BODY,
        'a JSON object like {"target": "BOT or ACCOUNT", "reason": "..."}',
        ("target", "reason"),
    )
    target, reason = body.get("target"), body.get("reason")
    if not isinstance(target, str) or not target.strip():
        raise UserError("target: a bot (id, code or name) or an account, as a string")
    if reason is not None and not isinstance(reason, str):
        raise UserError("reason: a string")
    if reason is not None and len(reason) > MAX_REASON:
        raise UserError(f"reason: at most {MAX_REASON} characters")
    return target.strip(), (reason or "").strip() or None


async def scope_and_waiting(
    ctx: ApiContext, target: str
) -> tuple[drift_ack.Scope, list[drift_ack.Drift]]:
    """The target's scope and its open drift no acknowledgement covers now."""
    async with ctx.writer.transaction() as conn:
        scope = await drift_ack.scope_of(conn, target)
        return scope, await drift_ack.unacknowledged(conn, scope)


Effect = Callable[[str], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]


async def execute(ctx: ApiContext, item: Pending, by: str, effect: Effect) -> str:
    """The drift in the scope as it is at the confirmation (the one the audit row names)
    is acknowledged, in the transaction of the ``confirmed`` row (the C2's ``_ackdrift``)."""
    reason = " ".join(item.args[1:]) or None
    scope, waiting = await scope_and_waiting(ctx, item.args[0])
    if not waiting:
        text = f"No unacknowledged open drift left on {scope.describe()}: nothing was done."
        async with effect(text):
            pass
        return text
    text = (
        f"Drift acknowledged on {scope.describe()}: {drift_ack.describe(waiting)}."
        " Bots enter there again; a change holds them again."
    )
    async with effect(text) as conn:
        done = await drift_ack.acknowledge(conn, scope, by, reason)
    if len(done) != len(waiting):  # trade sync moved between the two reads
        text += f" ({len(done)} acknowledged as found at the confirmation.)"
    return text
