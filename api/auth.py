"""Deny by default: every route needs ``Authorization: Bearer TOKEN`` except the few
marked public (probes, the description, the dashboard's static files, and webhooks,
which check their bot's own secret); a viewer token reads, an admin token also writes.

Answers: no or malformed header, unknown or revoked token → 401 (the same answer for
both, so a probe learns nothing); a viewer on a write route → 403, recorded in the
operator audit; too many requests with one token → 429 with ``Retry-After``. The token
itself is never logged or echoed: only its name is, once it is known.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from api import dashboard, tokens
from api.jsonio import error
from api.ratelimit import RateLimiter
from core.operator.audit import AuditEntry, Auditor
from core.operator.db import Database

log = logging.getLogger(__name__)

#: Routes anyone who can reach the port may call: probes and the API's own description.
PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json"})
#: Webhooks carry no bearer token (TradingView cannot send one): each authenticates with
#: its bot's own secret in api/webhook.py.
WEBHOOK_PREFIX = "/webhook/"


def is_public(path: str) -> bool:
    return (
        path in PUBLIC_PATHS
        or path in dashboard.PUBLIC_PATHS  # the page and its assets, which hold no data
        or path.startswith(WEBHOOK_PREFIX)
    )


#: Where the authenticated token's :class:`~api.tokens.TokenInfo` is kept on a request.
TOKEN_KEY = web.RequestKey("alpha_token", tokens.TokenInfo)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _unauthorized(message: str) -> web.Response:
    return error(401, message, {"WWW-Authenticate": 'Bearer realm="alpha"'})


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def is_write(request: web.Request) -> bool:
    return request.method not in ("GET", "HEAD", "OPTIONS")


def middleware(db: Database, limiter: RateLimiter, auditor: Auditor) -> Any:
    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_public(request.path):
            return await handler(request)
        presented = bearer(request)
        if presented is None:
            return _unauthorized("missing 'Authorization: Bearer TOKEN'")
        allowed, retry_after = limiter.allow(tokens.digest(presented))
        if not allowed:
            wait = max(1, math.ceil(retry_after))
            return error(
                429,
                f"rate limit: at most {limiter.limit} requests per {limiter.window:g} s",
                {"Retry-After": str(wait)},
            )
        async with db.transaction() as conn:
            info = await tokens.lookup(conn, presented)
        if info is None:
            return _unauthorized("unknown or revoked token")
        request[TOKEN_KEY] = info
        if request.match_info.http_exception is not None:
            # No such route or method (404/405): nothing was attempted, so nothing to
            # refuse or audit; the handler raises the router's answer.
            return await handler(request)
        if is_write(request) and info.role is not tokens.TokenRole.ADMIN:
            await auditor.record(refusal(request, info, "viewer token: writes need an admin token"))
            return error(403, "this token may only read (role viewer); writes need role admin")
        return await handler(request)

    return authenticate


def command_of(request: web.Request) -> str:
    """``pause`` for ``POST /api/v1/bots/x/pause``: the audit's command name; the C2's
    names where the path says it differently (``/kill/lift`` is ``unkill``), and
    ``confirm`` rather than a confirmation id, ``update`` for ``PATCH /bots/{id}``."""
    parts = request.path.rstrip("/").split("/")
    if request.method == "PATCH" and len(parts) >= 2 and parts[-2] == "bots":
        return "update"  # PATCH /bots/{bot_id}: `alpha bots update`
    if parts[-1] == "backups":
        return "backup"  # the C2's /backup
    if len(parts) >= 2 and parts[-2] == "confirm":
        return "confirm"
    if parts[-2:] == ["kill", "lift"]:
        return "unkill"
    return parts[-1][:32]


def audit_entry(
    request: web.Request, info: tokens.TokenInfo, outcome: str, detail: str | None = None
) -> AuditEntry:
    bot_id = request.match_info.get("bot_id")
    return AuditEntry(
        command=command_of(request),
        outcome=outcome,
        user_id=info.id,
        username=info.name,
        args=(bot_id,) if bot_id else (),
        bot_id=None,
        detail=detail,
        channel="api",
    )


def refusal(request: web.Request, info: tokens.TokenInfo, why: str) -> AuditEntry:
    return audit_entry(request, info, "refused", why)
