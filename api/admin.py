"""Admin writes beyond pause/resume: a backup now (the C2's ``/backup``) and a change
of a bot's registration (``alpha bots update``, which a running bot is told to reload),
each through the code those use and audited in ``trading.bot_commands`` with
``channel = 'api'``."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import redis
from aiohttp import web

from api.auth import TOKEN_KEY, audit_entry
from api.context import CONTEXT, PREFIX, ApiContext
from api.jsonio import error, read_object, reply
from api.tokens import TokenInfo
from core import redis_keys
from core.config import Role
from core.db import connect
from core.errors import UserError
from core.ids import BotId
from core.operator import bot_reload
from core.operator.backup import new_request_id, request_backup
from core.operator.control import new_command_id
from core.operator.registry import UnknownBotError, load_bots, resolve
from core.redis_client import redis_client

log = logging.getLogger(__name__)

#: What ``PATCH /bots/{bot_id}`` accepts: the options of ``alpha bots update``.
UPDATE_FIELDS = ("config", "symbols", "mode", "name", "initial_capital")
MAX_BODY = 64 * 1024


async def backup_now(request: web.Request) -> web.StreamResponse:
    """Ask the backup service for a backup: the request on its stream, in the
    transaction of the audit row, as the C2 does."""
    ctx: ApiContext = request.app[CONTEXT]
    token: TokenInfo = request[TOKEN_KEY]
    request_id = new_request_id()
    entry = audit_entry(request, token, "accepted", f"request {request_id}")
    try:
        async with ctx.auditor.effect(entry):
            await request_backup(
                ctx.redis.infra, request_id, f"api:{token.id}:{token.name}", ctx.clock()
            )
    except Exception as exc:
        log.exception("backup request failed")
        await ctx.auditor.record(
            audit_entry(request, token, "failed", f"{type(exc).__name__}: {exc}")
        )
        return error(500, f"backup request failed ({type(exc).__name__}); see the API's log")
    return reply({"request_id": request_id}, 202)


async def _body(request: web.Request) -> dict[str, str]:
    body = await read_object(
        request, MAX_BODY, f"a JSON object with any of {', '.join(UPDATE_FIELDS)}", UPDATE_FIELDS
    )
    if not body:
        raise UserError(f"nothing to update: give any of {', '.join(UPDATE_FIELDS)}")
    fields: dict[str, str] = {}
    for key, value in body.items():
        # As on the command line: text. A config may be sent as an object, symbols as a
        # list; numbers as JSON numbers are refused (a float would round the capital).
        if key == "config" and isinstance(value, dict):
            value = json.dumps(value)
        elif key == "symbols" and isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise UserError("symbols: a list of strings, or one comma-separated string")
            value = ",".join(value)
        if not isinstance(value, str):
            exact = " (an exact decimal, not a JSON number)" if key == "initial_capital" else ""
            raise UserError(f"{key}: must be a string{exact}")
        fields[key] = value
    return fields


def _update_sync(ctx: ApiContext, bot_id: str, fields: dict[str, str], token: TokenInfo) -> Any:
    from database import bot_versions, bots

    actor = bots.Actor(channel="api", user_id=token.id, username=token.name)
    with connect(ctx.settings, Role.APP, application_name="alpha-api") as conn:
        return bot_versions.update(
            conn, bot_id, config=fields.get("config"), symbols=fields.get("symbols"),
            mode=fields.get("mode"), name=fields.get("name"),
            initial_capital=fields.get("initial_capital"),
            changed_by=f"api:{token.name}", actor=actor, lock=bots.lock_rows,
        )  # fmt: skip


#: How long ``PATCH /bots/{id}`` waits for a running bot's answer to the reload by
#: default (``?wait=`` seconds, 1 to :data:`MAX_RELOAD_WAIT`): the bot reads its command
#: stream between candles, within about a second.
DEFAULT_RELOAD_WAIT = 10
MAX_RELOAD_WAIT = 30


def _wait(request: web.Request) -> int:
    text = request.query.get("wait")
    if text is None:
        return DEFAULT_RELOAD_WAIT
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"wait: not a whole number of seconds: {text!r}") from None
    if not 1 <= value <= MAX_RELOAD_WAIT:  # BLPOP's 0 would wait for ever
        raise UserError(f"wait: must be 1-{MAX_RELOAD_WAIT} seconds, got {value}")
    return value


def _reload_status(done: bot_reload.Reload) -> str:
    """The bot's answer (bots/runtime/reload.py) as one of the reply's words."""
    if done.answer is None:
        return "no answer"
    for status in ("applied", "needs restart", "nothing to apply", "refused"):
        if done.answer.startswith(status):
            return status
    return "refused"  # an answer the host does not give: not applied


def _reload_sync(ctx: ApiContext, bot: Any, token: TokenInfo, wait: int) -> tuple[str, str | None]:
    """What ``alpha bots update`` does after its update (database/cli.py ``_reload``), with
    channel ``api``: nothing for a bot with no heartbeat; else a ``pending`` audit row,
    the ``reload`` command (core/operator/bot_reload.py) and a row with the answer."""
    from database import bots

    actor = bots.Actor(channel="api", user_id=token.id, username=token.name)
    client = redis_client(ctx.settings, redis_keys.bot_db(bot.redis_db))
    bot_id = BotId(bot.bot_id)
    command_id: str | None = None
    try:
        if not bot_reload.running(client, bot_id):
            return "not running", None
        command_id = new_command_id()
        with connect(ctx.settings, Role.APP, application_name="alpha-api") as conn:
            bots.audit(conn, "reload", bot.bot_id, f"command {command_id}", outcome="pending",
                       actor=actor)  # fmt: skip
        done = bot_reload.request_reload(
            client, bot_id, f"api:{token.id}:{token.name}", command_id, wait
        )
    except redis.RedisError as exc:
        log.warning("reload of %s not asked: %s", bot.bot_id, exc)
        text = f"could not ask the running bot ({type(exc).__name__}); restart it to apply this"
        if command_id is not None:  # its pending row gets its end
            with connect(ctx.settings, Role.APP, application_name="alpha-api") as conn:
                bots.audit(conn, "reload", bot.bot_id, f"command {command_id}: {text}",
                           outcome="failed", actor=actor)  # fmt: skip
        return "error", text
    finally:
        client.close()
    answer = done.answer or f"no answer within {wait}s"
    with connect(ctx.settings, Role.APP, application_name="alpha-api") as conn:
        bots.audit(conn, "reload", bot.bot_id, f"command {command_id}: {answer}",
                   outcome=done.outcome, actor=actor)  # fmt: skip
    return _reload_status(done), answer


async def update_bot(request: web.Request) -> web.StreamResponse:
    """``alpha bots update`` over HTTP: the same validation (the bot type's plugin, the
    account's exclusivity, leverage and allocation), one version row and one audit row
    in one transaction; then, as the CLI does, a running bot is told to reload and its
    answer is in the reply (``reload``)."""
    ctx: ApiContext = request.app[CONTEXT]
    token: TokenInfo = request[TOKEN_KEY]
    name = request.match_info["bot_id"]
    try:
        bot_id = resolve(name, await load_bots(ctx.writer)).bot_id
    except UnknownBotError:
        await ctx.auditor.record(audit_entry(request, token, "refused", "unknown bot"))
        return error(404, f"unknown bot {name!r} (GET {PREFIX}/bots lists them)")
    try:
        wait = _wait(request)
        fields = await _body(request)
        bot, changes = await asyncio.to_thread(_update_sync, ctx, bot_id, fields, token)
    except UserError as exc:
        await ctx.auditor.record(audit_entry(request, token, "refused", str(exc)))
        return error(400, str(exc))
    from database import bot_versions

    status: str | None = None
    answer: str | None = None
    if changes:  # committed: the bot takes it now or at its next start
        status, answer = await asyncio.to_thread(_reload_sync, ctx, bot, token, wait)
    return reply(
        {
            "bot_id": bot.bot_id,
            "changed": sorted(changes),
            "detail": bot_versions.describe(changes) if changes else "nothing changed",
            "reload": status,
            "reload_detail": answer,
            "restart_needed": status in ("needs restart", "refused", "error"),
        }
    )
