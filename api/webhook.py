"""``POST /webhook/{bot_id}``: trading signals from TradingView (or any sender) for a
``webhook`` bot (docs/api.md#webhooks).

No bearer token — TradingView cannot send headers — but the bot's own secret in the
JSON body, or an ``X-Signature`` HMAC header (``api/webhook_secrets.py``). Every alert
that names a known webhook bot is recorded in ``trading.webhook_signals`` with its
outcome, the secret left out. In order:

1. the body is at most :data:`MAX_BODY` bytes of JSON (an object);
2. the sender is authenticated (``bad_secret``, 401), within the rate limit of its kind
   (authenticated or refused; 429, not recorded);
3. the signal is well formed and for one of the bot's symbols (``invalid``, 400);
4. its ``time`` is within the TTL of now (``stale``, 422);
5. its ``id`` was not accepted before (``duplicate``, 200: a retry is not an error);
6. it is recorded ``accepted`` and put on the bot's ``commands:{bot}`` stream in one
   transaction (202); if Redis refuses, neither happens and it is recorded ``failed``
   (503). The bot host hands it to ``Strategy.on_signal``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from psycopg.types.json import Jsonb

from api import webhook_secrets
from api.context import CONTEXT, ApiContext
from api.jsonio import dumps, error, reply
from core import redis_keys, signals
from core.ids import BotId

log = logging.getLogger(__name__)

PATH = "/webhook/{bot_id}"
#: TradingView's alert messages are short; nothing legitimate comes near this.
MAX_BODY = 16 * 1024
#: The signer's header (``sha256=<hex>``).
SIGNATURE_HEADER = "X-Signature"


@dataclass(frozen=True)
class WebhookBot:
    bot_id: str
    redis_db: int | None
    symbols: list[str]
    #: SHA-256 of its webhook secret; ``None`` until one is set.
    secret_hash: bytes | None


@dataclass
class Received:
    """What is known about one delivery, for its row."""

    bot: WebhookBot
    payload: dict[str, Any]
    remote: str | None
    signal: signals.Signal | None = None


async def _webhook_bot(ctx: ApiContext, bot_id: str) -> WebhookBot | None:
    """The bot and its secret's digest in one query: one connection, not two."""
    rows = await ctx.writer.fetch(
        "SELECT b.bot_id, b.redis_db, b.symbols, s.secret_hash FROM trading.bots b"
        " LEFT JOIN trading.webhook_secrets s USING (bot_id)"
        " WHERE b.bot_id = %s AND b.bot_type = 'webhook' AND b.status <> 'retired'",
        (bot_id,),
    )
    if not rows:
        return None
    row = rows[0]
    stored = row["secret_hash"]
    return WebhookBot(
        row["bot_id"],
        row["redis_db"],
        list(row["symbols"] or []),
        bytes(stored) if stored is not None else None,
    )


async def _record(ctx: ApiContext, got: Received, outcome: str, detail: str | None) -> int:
    async with ctx.writer.transaction() as conn:
        return await _insert(conn, got, outcome, detail)


async def _insert(conn: Any, got: Received, outcome: str, detail: str | None) -> int:
    s = got.signal
    cur = await conn.execute(
        "INSERT INTO trading.webhook_signals (bot_id, alert_id, alert_time, action, symbol,"
        " payload, outcome, detail, remote) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING id",
        (
            got.bot.bot_id,
            s.alert_id if s else _text(got.payload.get("id")),
            s.time if s else None,
            s.action if s else _text(got.payload.get("action")),
            s.symbol if s else _text(got.payload.get("symbol")),
            Jsonb(got.payload, dumps=dumps),
            outcome,
            detail,
            got.remote,
        ),
    )
    row = await cur.fetchone()
    return int(row["id"])


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:128]


def _refused(status: int, outcome: str, message: str) -> web.Response:
    return reply({"outcome": outcome, "error": {"status": status, "message": message}}, status)


async def receive(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    bot = await _webhook_bot(ctx, request.match_info["bot_id"])
    if bot is None:
        # Not recorded: a row per probe of a made-up id would let anyone fill the table.
        return error(404, "no webhook bot with this id")
    if request.content_length is not None and request.content_length > MAX_BODY:
        return error(413, f"a signal is at most {MAX_BODY} bytes")
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return error(413, f"a signal is at most {MAX_BODY} bytes")
    payload, problem = _json_object(body)
    presented = payload.pop("secret", None)  # never stored, never echoed
    got = Received(bot, payload, request.remote)

    why_not = _authentication_failure(bot.secret_hash, presented, body, request.headers)
    # Refused and authenticated deliveries have budgets of their own: a flood of wrong
    # secrets is cut off before it is recorded, and the real sender still gets through.
    limiter = ctx.webhook_limiter if why_not is None else ctx.webhook_refusals
    allowed, retry_after = limiter.allow(bot.bot_id.encode())
    if not allowed:
        wait = {"Retry-After": str(int(retry_after) + 1)}
        return error(429, "too many signals for this bot", wait)
    if why_not is not None:
        await _record(ctx, got, "bad_secret", why_not)
        log.warning("webhook %s: refused from %s: %s", bot.bot_id, request.remote, why_not)
        return _refused(401, "bad_secret", "not authenticated (see docs/api.md#webhooks)")
    if problem is not None:
        await _record(ctx, got, "invalid", problem)
        return _refused(400, "invalid", problem)
    try:
        got.signal = signals.parse(payload)
        if got.signal.symbol not in bot.symbols:
            raise signals.SignalError(
                f"{got.signal.symbol} is not one of the bot's symbols ({', '.join(bot.symbols)})"
            )
    except signals.SignalError as exc:
        await _record(ctx, got, "invalid", str(exc))
        return _refused(400, "invalid", str(exc))
    age = datetime.now(UTC) - got.signal.time
    ttl = timedelta(seconds=ctx.webhook_ttl_seconds)
    if age > ttl or age < -ttl:
        detail = f"alert time {got.signal.time.isoformat()} is {age.total_seconds():.0f} s from now"
        await _record(ctx, got, "stale", detail + f" (TTL {ctx.webhook_ttl_seconds:g} s)")
        return _refused(422, "stale", f"stale: not within {ctx.webhook_ttl_seconds:g} s of now")
    return await _deliver(ctx, got)


def _json_object(body: bytes) -> tuple[dict[str, Any], str | None]:
    try:
        # A number stays the text the sender wrote, never a float (0.1 stays 0.1) and
        # never a Decimal whose plain notation could be a gigabyte ("1e999999999") when
        # the payload is recorded; core.signals reads and bounds it. ValueError also
        # covers an integer too long to convert.
        value = json.loads(body, parse_float=str)
    except (UnicodeDecodeError, ValueError):
        return {"raw": body[:512].decode("utf-8", "replace")}, "the body is not JSON"
    if not isinstance(value, dict):
        return {"raw": value}, "the body is not a JSON object"
    return value, None


def _authentication_failure(
    stored: bytes | None, presented: Any, body: bytes, headers: Any
) -> str | None:
    """Why the sender is not authenticated, or ``None`` when it is. A signature, when
    sent, must match even if the body also carries the secret."""
    if stored is None:
        return "no webhook secret is set for this bot (alpha api webhook-secret BOT)"
    signature = headers.get(SIGNATURE_HEADER)
    if signature is not None:
        if not webhook_secrets.signature_matches(stored, body, signature):
            return f"wrong {SIGNATURE_HEADER}"
        if presented is not None and not webhook_secrets.secret_matches(stored, presented):
            return "wrong secret"
        return None
    if presented is None:
        return f"no secret in the body and no {SIGNATURE_HEADER} header"
    if not webhook_secrets.secret_matches(stored, presented):
        return "wrong secret"
    return None


async def _deliver(ctx: ApiContext, got: Received) -> web.StreamResponse:
    signal = got.signal
    assert signal is not None
    stream = redis_keys.commands_stream(BotId.trusted(got.bot.bot_id))
    try:
        async with ctx.writer.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO trading.webhook_signals (bot_id, alert_id, alert_time, action,"
                " symbol, payload, outcome, remote)"
                " VALUES (%s, %s, %s, %s, %s, %s, 'accepted', %s)"
                " ON CONFLICT (bot_id, alert_id) WHERE outcome = 'accepted' DO NOTHING"
                " RETURNING id",
                (
                    got.bot.bot_id, signal.alert_id, signal.time, signal.action,
                    signal.symbol, Jsonb(got.payload, dumps=dumps), got.remote,
                ),
            )  # fmt: skip
            row = await cur.fetchone()
            if row is None:
                duplicate = await _insert(conn, got, "duplicate", "alert id accepted before")
                return reply({"outcome": "duplicate", "signal_id": duplicate})
            signal_id = int(row["id"])
            # Inside the transaction: a Redis failure rolls the 'accepted' row back, so
            # the sender's retry is not mistaken for a duplicate of a lost signal.
            # The bot refuses it after this (wall clock), should it be down meanwhile.
            expires = datetime.now(UTC) + timedelta(seconds=ctx.webhook_ttl_seconds)
            fields = {
                "command": signals.COMMAND,
                "requested_by": "webhook",
                "id": str(signal_id),
                "expires": expires.isoformat(),
                **signal.fields(),
            }
            await ctx.redis.db(got.bot.redis_db).xadd(stream, fields)  # type: ignore[arg-type]
    except Exception as exc:
        log.exception("webhook %s: signal %s not delivered", got.bot.bot_id, signal.alert_id)
        await _record(ctx, got, "failed", f"{type(exc).__name__}: {exc}"[:500])
        return _refused(503, "failed", "not delivered to the bot; send it again")
    log.info("webhook %s: signal %s (%s %s) delivered as #%d", got.bot.bot_id,
             signal.alert_id, signal.action, signal.symbol, signal_id)  # fmt: skip
    return reply({"outcome": "accepted", "signal_id": signal_id}, 202)
