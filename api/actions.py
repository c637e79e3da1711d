"""The C2's dangerous actions over HTTP — flatten, kill, lifting the kill, acknowledging
drift — with the chat's confirmation step, and ``stop``, which the C2 does not confirm
either.

``POST`` of an action only creates a confirmation (``202``; audited ``pending``): a
short-lived id kept in Redis (api/confirmations.py; the C2's rules, but it survives a
restart of the API), bound to the admin token that asked, usable once. The action happens on
``POST /api/v1/confirm/{id}`` by that same token before the id expires, through the
C2's own code (``core/operator/dangerous.py``) with its ``confirmed`` row in the
transaction of the effect. A late confirmation, or the sweeper, records ``expired``;
another token, an unknown or used id, are recorded ``refused``.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from aiohttp import web

from api import drift_ack
from api.auth import TOKEN_KEY
from api.context import CONTEXT, PREFIX, ApiContext
from api.jsonio import error, reply, unavailable
from api.tokens import TokenInfo
from core.errors import UserError
from core.operator import dangerous
from core.operator.audit import AuditEntry
from core.operator.confirm import Outcome, Pending
from core.operator.registry import UnknownBotError, load_bots, resolve
from core.outages import OutageNotice, unreachable

log = logging.getLogger(__name__)


def _entry(
    token: TokenInfo,
    command: str,
    outcome: str,
    detail: str,
    *,
    args: tuple[str, ...] = (),
    bot_id: str | None = None,
) -> AuditEntry:
    return AuditEntry(
        command=command,
        outcome=outcome,
        user_id=token.id,
        username=token.name,
        args=args,
        bot_id=bot_id,
        detail=detail,
        channel="api",
    )


def _item_entry(item: Pending, outcome: str, detail: str) -> AuditEntry:
    return AuditEntry(
        command=item.action,
        outcome=outcome,
        user_id=item.user_id,
        username=item.username,
        args=item.args,
        bot_id=item.bot_id,
        detail=detail,
        channel="api",
    )


async def _ask(
    request: web.Request, action: str, bot_id: str | None, args: tuple[str, ...]
) -> web.Response:
    """Create the confirmation and audit it ``pending``; the id is usable only once that
    row is committed."""
    ctx: ApiContext = request.app[CONTEXT]
    token: TokenInfo = request[TOKEN_KEY]
    book = ctx.confirmations
    item = await book.create(
        action, user_id=token.id, username=token.name, args=args, bot_id=bot_id
    )
    detail = f"awaiting confirmation (expires {item.expires_at.isoformat()})"
    try:
        await ctx.auditor.record(_entry(token, action, "pending", detail, args=args, bot_id=bot_id))
    except BaseException:
        await book.discard(item.token)
        raise
    body = {
        "confirmation_id": item.token,
        "action": action,
        "bot_id": bot_id,
        "expires_at": item.expires_at,
        "confirm": f"{PREFIX}/confirm/{item.token}",
    }
    return reply(body, 202)


async def flatten(request: web.Request) -> web.StreamResponse:
    ctx: ApiContext = request.app[CONTEXT]
    name = request.match_info["bot_id"]
    try:
        bot = resolve(name, await load_bots(ctx.writer))
    except UnknownBotError:
        token: TokenInfo = request[TOKEN_KEY]
        await ctx.auditor.record(_entry(token, "flatten", "refused", "unknown bot", args=(name,)))
        return error(404, f"unknown bot {name!r} (GET {PREFIX}/bots lists them)")
    return await _ask(request, "flatten", bot.bot_id, (name,))


async def kill(request: web.Request) -> web.StreamResponse:
    return await _ask(request, "kill", None, ())


async def lift_kill(request: web.Request) -> web.StreamResponse:
    ctx: ApiContext = request.app[CONTEXT]
    if await ctx.control.kill_flag() is None:
        token: TokenInfo = request[TOKEN_KEY]
        await ctx.auditor.record(_entry(token, "unkill", "refused", "kill switch not set"))
        return error(409, "the kill switch is not set")
    return await _ask(request, "unkill", None, ())


async def ack_drift(request: web.Request) -> web.StreamResponse:
    """Ask to acknowledge the open drift of a bot's symbols or of an account as it is
    (api/drift_ack.py); a 409 when nothing there is open and unacknowledged."""
    ctx: ApiContext = request.app[CONTEXT]
    token: TokenInfo = request[TOKEN_KEY]
    try:
        target, reason = await drift_ack.parse_body(request)
        scope, waiting = await drift_ack.scope_and_waiting(ctx, target)
    except UserError as exc:
        await ctx.auditor.record(_entry(token, drift_ack.ACTION, "refused", str(exc)))
        return error(400, str(exc))
    args = (target, reason) if reason else (target,)
    if not waiting:
        text = f"no unacknowledged open drift on {scope.describe()}"
        await ctx.auditor.record(
            _entry(token, drift_ack.ACTION, "refused", text, args=args, bot_id=scope.bot_id)
        )
        return error(409, f"{text}: nothing to acknowledge")
    return await _ask(request, drift_ack.ACTION, scope.bot_id, args)


async def confirm(request: web.Request) -> web.StreamResponse:
    ctx: ApiContext = request.app[CONTEXT]
    token: TokenInfo = request[TOKEN_KEY]
    confirmation_id = request.match_info["confirmation_id"]
    outcome, item = await ctx.confirmations.take(confirmation_id, token.id)
    if outcome is Outcome.CONFIRMED:
        assert item is not None
        return await _execute(ctx, token, item)
    if outcome is Outcome.EXPIRED:
        assert item is not None
        if await ctx.confirmations.mark_expiry_recorded(item):
            await ctx.auditor.record(_item_entry(item, "expired", "confirmed after expiry"))
        else:  # the sweeper recorded the expiry already; this attempt is its own row
            await _refuse(ctx, token, confirmation_id, "expired")
        return error(410, "this confirmation expired: nothing was done; ask again")
    if outcome is Outcome.NOT_YOURS:
        await _refuse(ctx, token, confirmation_id, "not the requesting token")
        return error(403, "only the token that asked may confirm")
    await _refuse(ctx, token, confirmation_id, "unknown confirmation id")
    return error(404, "unknown or already used confirmation id")


async def _refuse(ctx: ApiContext, token: TokenInfo, confirmation_id: str, why: str) -> None:
    await ctx.auditor.record(_entry(token, "confirm", "refused", why, args=(confirmation_id[:64],)))


async def _execute(ctx: ApiContext, token: TokenInfo, item: Pending) -> web.Response:
    def effect(text: str) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        return ctx.auditor.effect(_item_entry(item, "confirmed", text))

    by = f"api:{token.id}:{token.name}"
    try:
        if item.action == drift_ack.ACTION:  # core/operator/drift_ack.py, as the C2's
            text = await drift_ack.execute(ctx, item, by, effect)
            return reply({"action": item.action, "bot_id": item.bot_id, "detail": text})
        done = await dangerous.execute(
            ctx.control,
            effect,
            action=item.action,
            bots=await load_bots(ctx.writer),
            bot_id=item.bot_id,
            args=item.args,
            requested_by=by,
            at=ctx.confirmations.clock(),
        )
    except Exception as exc:
        away = unreachable(exc)
        if away is None:  # a bug: its traceback
            log.exception("confirmed %s failed", item.action)
            reason = f"{type(exc).__name__}: {exc}"
        else:  # the effect and its audit row share a transaction that did not commit
            log.warning("confirmed %s failed: %s unreachable", item.action, away)
            reason = f"{away} unreachable ({type(exc).__name__})"
        # With the database away this raises too, and the middleware answers 503.
        await ctx.auditor.record(_item_entry(item, "failed", reason))
        if away is not None:
            return unavailable(f"{item.action} failed: {away} is unreachable; try again shortly")
        return error(500, f"{item.action} failed ({type(exc).__name__}); see the API's log")
    return reply({"action": done.action, "bot_id": done.bot_id, "detail": done.detail})


async def sweep_expired(ctx: ApiContext) -> int:
    """Audit every confirmation that lapsed unconfirmed; returns how many.

    Taking a lapsed confirmation removes it from the due set, so one that could not be
    audited (the database is away) is put back: the next round records it."""
    lapsed = await ctx.confirmations.expired()
    for done, item in enumerate(lapsed):
        try:
            await ctx.auditor.record(_item_entry(item, "expired", "not confirmed in time"))
        except BaseException:
            await ctx.confirmations.put_back(lapsed[done:])
            raise
    return len(lapsed)


async def sweep_forever(ctx: ApiContext) -> None:
    outage = OutageNotice(
        log, "could not record expired confirmations",
        resumed="expired confirmations are recorded",
        retry=f"; trying again every {ctx.confirm_sweep_seconds:g}s",
    )  # fmt: skip
    while True:
        await asyncio.sleep(ctx.confirm_sweep_seconds)
        try:
            await sweep_expired(ctx)
        except Exception as exc:
            if outage.failed(exc) is None:  # a bug: its traceback, and the next round
                log.exception("could not record expired confirmations")
            continue
        outage.answered()
