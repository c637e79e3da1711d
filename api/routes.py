"""The routes under ``/api/v1/``: one table, from which both the aiohttp router and the
OpenAPI document are built, so no route can exist undescribed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import psycopg
from aiohttp import web

from api import actions, admin, events, fleet, params, queries, reads
from api.auth import TOKEN_KEY, audit_entry
from api.context import CONTEXT, PREFIX, ApiContext
from api.jsonio import error, reply
from api.tokens import TokenInfo
from core import redis_keys
from core.ids import BotId
from core.operator.audit import AuditEntry
from core.operator.registry import UnknownBotError, load_bots
from core.operator.state import ACTIONS, change_state

log = logging.getLogger(__name__)

__all__ = ["PREFIX", "ROUTES", "Handler", "Param", "Route"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str
    where: str = "query"  # or "path", "header"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    response: str  # a schema name in api/schemas.py
    params: tuple[Param, ...] = field(default_factory=tuple)
    #: The success status: 202 for an action that only waits for its confirmation.
    status: int = 200
    #: Error statuses beyond the ones every route has (OpenAPI lists them).
    errors: tuple[str, ...] = ()
    #: What the success reply is: JSON, or the event stream's ``text/event-stream``.
    content_type: str = "application/json"
    #: The JSON request body's schema name, for a write that takes one.
    body: str | None = None

    @property
    def write(self) -> bool:
        return self.method != "GET"


def _ctx(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


async def _bot_or_404(ctx: ApiContext, bot_id: str) -> dict[str, Any] | None:
    rows = await queries.bots(ctx.reader, bot_id)
    return await _with_state(ctx, rows[0]) if rows else None


async def _with_state(ctx: ApiContext, row: dict[str, Any]) -> dict[str, Any]:
    """The registry row plus what the bot obeys (its Redis state) and its heartbeat age."""
    bot = dict(row)
    redis_db = bot.pop("redis_db", None)
    state = await ctx.redis.db(redis_db).get(redis_keys.bot_state(BotId(bot["bot_id"])))
    bot["state"] = state.decode() if isinstance(state, bytes) else state
    beat = bot["last_heartbeat"]
    bot["heartbeat_age_seconds"] = (
        round((datetime.now(UTC) - beat).total_seconds(), 3) if beat is not None else None
    )
    return bot


def _unknown_bot(bot_id: str) -> web.Response:
    return error(404, f"unknown bot {bot_id!r} (GET {PREFIX}/bots lists them)")


async def list_bots(request: web.Request) -> web.StreamResponse:
    ctx = _ctx(request)
    rows = await queries.bots(ctx.reader)
    return reply({"bots": [await _with_state(ctx, r) for r in rows]})


async def get_bot(request: web.Request) -> web.StreamResponse:
    bot_id = request.match_info["bot_id"]
    bot = await _bot_or_404(_ctx(request), bot_id)
    return reply({"bot": bot}) if bot else _unknown_bot(bot_id)


async def bot_positions(request: web.Request) -> web.StreamResponse:
    ctx, bot_id = _ctx(request), request.match_info["bot_id"]
    if not await queries.bots(ctx.reader, bot_id):
        return _unknown_bot(bot_id)
    return reply({"bot_id": bot_id, "positions": await queries.positions(ctx.reader, bot_id)})


async def bot_daily_pnl(request: web.Request) -> web.StreamResponse:
    ctx, bot_id = _ctx(request), request.match_info["bot_id"]
    since, until = params.day(request, "from"), params.day(request, "to")
    if not await queries.bots(ctx.reader, bot_id):
        return _unknown_bot(bot_id)
    days = await queries.daily_pnl(ctx.reader, bot_id, since, until)
    return reply({"bot_id": bot_id, "days": days})


async def bot_signals(request: web.Request) -> web.StreamResponse:
    ctx, bot_id = _ctx(request), request.match_info["bot_id"]
    outcome = params.text(request, "outcome")
    cursor, limit = params.text(request, "cursor", 512), params.limit(request)
    if not await queries.bots(ctx.reader, bot_id):
        return _unknown_bot(bot_id)
    page, next_cursor = await queries.webhook_signals(
        ctx.reader, bot_id, outcome=outcome, limit=limit, cursor=cursor
    )
    return reply({"bot_id": bot_id, "signals": page, "next_cursor": next_cursor})


async def list_fills(request: web.Request) -> web.StreamResponse:
    page, next_cursor = await queries.fills(
        _ctx(request).reader,
        bot_id=params.text(request, "bot"),
        symbol=params.text(request, "symbol"),
        account=params.text(request, "account"),
        limit=params.limit(request),
        cursor=params.text(request, "cursor", 512),
    )
    return reply({"fills": page, "next_cursor": next_cursor})


async def list_alerts(request: web.Request) -> web.StreamResponse:
    ctx = _ctx(request)
    items, next_before = await queries.alerts(
        ctx.redis.infra, params.limit(request, 50, 500), params.text(request, "before")
    )
    return reply({"alerts": items, "next_before": next_before})


async def list_audit(request: web.Request) -> web.StreamResponse:
    page, next_cursor = await queries.audit(
        _ctx(request).reader,
        bot_id=params.text(request, "bot"),
        channel=params.text(request, "channel"),
        limit=params.limit(request),
        cursor=params.text(request, "cursor", 512),
    )
    return reply({"entries": page, "next_cursor": next_cursor})


async def whoami(request: web.Request) -> web.StreamResponse:
    """The calling token's name and role: the dashboard shows the controls to admins only
    (the server still refuses a viewer's write; this only spares a button that fails)."""
    token: TokenInfo = request[TOKEN_KEY]
    return reply({"name": token.name, "role": token.role.value})


def _state_action(action: str) -> Handler:
    """``pause``/``resume``: the C2's implementation (core/operator/state.py) and audit."""
    state = ACTIONS[action]

    async def handle(request: web.Request) -> web.StreamResponse:
        ctx, name = _ctx(request), request.match_info["bot_id"]
        token: TokenInfo = request[TOKEN_KEY]

        def effect(
            detail: str, bot_id: str | None
        ) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
            entry = audit_entry(request, token, "accepted", detail)
            return ctx.auditor.effect(_for_bot(entry, bot_id))

        try:
            done = await change_state(
                ctx.control, effect, name, await load_bots(ctx.writer), state,
                allow_all=False, requested_by=f"api:{token.id}:{token.name}",
            )  # fmt: skip
        except UnknownBotError:
            await ctx.auditor.record(audit_entry(request, token, "refused", "unknown bot"))
            return _unknown_bot(name)
        except Exception as exc:
            log.exception("%s %s failed", action, name)
            await ctx.auditor.record(
                audit_entry(request, token, "failed", f"{type(exc).__name__}: {exc}")
            )
            return error(500, f"{action} failed ({type(exc).__name__}); see the API's log")
        return reply({"bot_id": done.bot_id, "state": state, "changed": done.changed})

    return handle


def _for_bot(entry: AuditEntry, bot_id: str | None) -> AuditEntry:
    return replace(entry, bot_id=bot_id)


BOT = Param("bot_id", {"type": "string"}, "a bot id (or its code or name)", "path")
LIMIT = Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size (100)")
CURSOR = Param("cursor", {"type": "string"}, "next_cursor of the previous page")

ROUTES: tuple[Route, ...] = (
    Route("GET", "/me", whoami, "the calling token's name and role", "Me"),
    Route(
        "GET",
        "/fleet",
        fleet.get_fleet,
        "every bot with its state, open positions, today's P&L, heartbeat and drift in one request",
        "Fleet",
    ),
    Route(
        "GET",
        "/accounts",
        fleet.get_accounts,
        "per account and symbol: the bots' positions, external, their sum and the exchange",
        "Accounts",
    ),
    Route(
        "GET",
        "/drift",
        reads.list_drift,
        "open position drift per account and symbol (trade sync's position check)",
        "Drift",
        (
            Param("account", {"type": "string"}, "only this account"),
            Param("symbol", {"type": "string"}, "only this symbol"),
        ),
    ),
    Route(
        "GET",
        "/backups",
        reads.list_backups,
        "the newest backups with their verification status",
        "Backups",
        (Param("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "how many (30)"),),
    ),
    Route(
        "POST",
        "/backups",
        admin.backup_now,
        "ask the backup service for a backup now, as the C2's /backup (admin)",
        "BackupRequested",
        status=202,
    ),
    Route("GET", "/bots", list_bots, "the bot registry with state and heartbeat", "BotList"),
    Route("GET", "/bots/{bot_id}", get_bot, "one bot", "BotOne", (BOT,)),
    Route(
        "PATCH",
        "/bots/{bot_id}",
        admin.update_bot,
        "change a bot's registration as `alpha bots update` does, then tell the bot, if"
        " running, to reload it and return its answer (admin)",
        "BotUpdated",
        (
            BOT,
            Param(
                "wait",
                {"type": "integer", "minimum": 1, "maximum": 30},
                "seconds to wait for a running bot's answer to the reload (10)",
            ),
        ),
        errors=("400",),
        body="BotUpdate",
    ),
    Route(
        "GET",
        "/bots/{bot_id}/history",
        reads.bot_history,
        "the bot's registration and every version of it (`alpha bots history`)",
        "BotHistory",
        (BOT,),
    ),
    Route(
        "GET",
        "/bots/{bot_id}/equity",
        reads.bot_equity,
        "the equity curve by UTC day: initial capital plus cumulative net P&L",
        "Equity",
        (BOT,),
    ),
    Route(
        "GET",
        "/bots/{bot_id}/round-trips",
        reads.bot_round_trips,
        "closed round trips, the latest exit first (analytics.round_trips)",
        "RoundTrips",
        (BOT, Param("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "how many (50)")),
    ),
    Route(
        "GET",
        "/bots/{bot_id}/orders",
        reads.bot_orders,
        "the bot's open orders (trading.orders, not in a final status)",
        "Orders",
        (BOT,),
    ),
    Route(
        "GET",
        "/bots/{bot_id}/positions",
        bot_positions,
        "the bot's positions per symbol, from the ledger",
        "Positions",
        (BOT,),
    ),
    Route(
        "GET",
        "/bots/{bot_id}/pnl/daily",
        bot_daily_pnl,
        "the bot's P&L per UTC day (analytics.bot_daily_pnl)",
        "DailyPnl",
        (
            BOT,
            Param("from", {"type": "string", "format": "date"}, "first day (inclusive)"),
            Param("to", {"type": "string", "format": "date"}, "last day (inclusive)"),
        ),
    ),
    Route(
        "GET",
        "/bots/{bot_id}/signals",
        bot_signals,
        "a webhook bot's signals with their outcomes, newest first (docs/api.md#webhooks)",
        "Signals",
        (
            BOT,
            Param(
                "outcome",
                {"enum": ["accepted", "duplicate", "stale", "bad_secret", "invalid", "failed"]},
                "only this outcome",
            ),
            LIMIT,
            CURSOR,
        ),
    ),
    Route(
        "GET",
        "/fills",
        list_fills,
        "fills, newest first, by keyset cursor",
        "Fills",
        (
            Param("bot", {"type": "string"}, "only this bot id"),
            Param("symbol", {"type": "string"}, "only this symbol"),
            Param("account", {"type": "string"}, "only this account"),
            LIMIT,
            CURSOR,
        ),
    ),
    Route(
        "GET",
        "/alerts",
        list_alerts,
        "the newest alerts from the infra stream",
        "Alerts",
        (
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "page size (50)"),
            Param("before", {"type": "string"}, "next_before of the previous page"),
        ),
    ),
    Route(
        "GET",
        "/events",
        events.stream_events,
        "server-sent events: alert, fill, bot (state changes); Last-Event-ID resumes",
        "EventStream",
        (
            Param(
                "Last-Event-ID",
                {"type": "string"},
                "the id of the last event received: resume after it",
                "header",
            ),
        ),
        content_type="text/event-stream",
    ),
    Route(
        "GET",
        "/audit",
        list_audit,
        "the operator audit (Telegram, CLI and API commands), newest first",
        "Audit",
        (
            Param("bot", {"type": "string"}, "only this bot id"),
            Param("channel", {"type": "string"}, "telegram, cli, system or api"),
            LIMIT,
            CURSOR,
        ),
    ),
    Route(
        "POST",
        "/bots/{bot_id}/pause",
        _state_action("pause"),
        "pause a bot: no new entries, exits still managed (admin)",
        "StateChange",
        (BOT,),
    ),
    Route(
        "POST",
        "/bots/{bot_id}/resume",
        _state_action("resume"),
        "resume a paused bot (admin)",
        "StateChange",
        (BOT,),
    ),
    Route(
        "POST",
        "/bots/{bot_id}/stop",
        _state_action("stop"),
        "stop a bot: no orders at all until it is resumed (admin)",
        "StateChange",
        (BOT,),
    ),
    Route(
        "POST",
        "/bots/{bot_id}/flatten",
        actions.flatten,
        "ask to close the bot's positions; acts on POST /confirm/{id} (admin)",
        "Confirmation",
        (BOT,),
        status=202,
    ),
    Route(
        "POST",
        "/kill",
        actions.kill,
        "ask to set the kill flag, pause and flatten every bot; acts on confirm (admin)",
        "Confirmation",
        status=202,
    ),
    Route(
        "POST",
        "/kill/lift",
        actions.lift_kill,
        "ask to clear the kill flag (bots stay paused); acts on confirm (admin)",
        "Confirmation",
        status=202,
        errors=("409",),
    ),
    Route(
        "POST",
        "/drift/ack",
        actions.ack_drift,
        "ask to acknowledge the open drift of a bot's symbols or an account as it is now,"
        " so bots enter there again (`alpha drift ack`); acts on confirm (admin)",
        "Confirmation",
        status=202,
        errors=("400", "409"),
        body="DriftAck",
    ),
    Route(
        "POST",
        "/confirm/{confirmation_id}",
        actions.confirm,
        "confirm a pending action with the token that asked for it (admin)",
        "Confirmed",
        (Param("confirmation_id", {"type": "string"}, "the id a 202 returned", "path"),),
        errors=("404", "410"),
    ),
)
