"""``GET /api/v1/events``: server-sent events of alerts, bot state changes and new fills.

Sources, each chosen so the stream needs no Redis right the API lacked:

* **alerts**: ``XREAD`` on the infra ``alerts`` stream from the newest entry (or the
  resumed one), never a consumer group — a group would take entries from the C2, whose
  group delivers them to Telegram. ``api`` reads that stream already (``GET /alerts``).
* **fills**: the ledger, polled through the read-only role in arrival order
  (``ingested_at, exec_id``; index ``fills_ingest_order``, migration 0018). Arrival,
  not execution: trade sync's catch-up inserts fills executed long ago, which must still
  be news. ``ingested_at`` is a transaction's start, and transactions may commit out of
  that order, so each poll re-reads the last :data:`FILL_OVERLAP` and skips the fills it
  already sent. The per-bot ``fills:{bot}`` Redis streams would need new read rights,
  and are a mirror; the ledger is the record.
* **bot**: each bot's registry ``status`` and Redis ``state`` (what it obeys), compared
  every poll; a snapshot of every bot opens each connection, so a client needs no
  separate ``GET /bots`` and a resumed one learns what changed while it was away.

Every event's ``id`` is the whole cursor (last alert id and last fill sent); a client
that reconnects with ``Last-Event-ID`` resumes after both. A comment (``: heartbeat``)
goes out after :data:`HEARTBEAT_SECONDS` of silence so proxies keep the connection and
clients notice a dead one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from api import queries
from api.context import CONTEXT, ApiContext
from api.jsonio import dumps
from core import redis_keys
from core.ids import BotId
from core.outages import unreachable

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
#: How far back each poll re-reads the ledger for fills committed after younger ones.
FILL_OVERLAP = timedelta(seconds=10)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FILL_COLUMNS = (
    "exec_id, bot_id, account, category, symbol, side, exec_price, exec_qty, exec_value,"
    " exec_fee, fee_currency, is_maker, exec_type, order_id, order_link_id, exec_time, seq,"
    " source, ingested_at"
)
_FILL_BATCH = 500


@dataclass
class Cursor:
    alert: str  # the last alert id sent ("0-0": none yet)
    fill_at: datetime  # (ingested_at, exec_id) of the newest fill sent
    fill_exec: str
    #: exec_id → ingested_at of the fills sent within the overlap window.
    sent: dict[str, datetime] = field(default_factory=dict)

    def event_id(self) -> str:
        return queries.encode_cursor([self.alert, self.fill_at, self.fill_exec])


def _parse_last_event_id(value: str | None) -> Cursor | None:
    """The cursor a client resumes from; ``None`` (start fresh) for anything this API
    did not hand out."""
    if not value:
        return None
    try:
        alert, fill_at, fill_exec = queries.decode_cursor(value.strip(), 3)
        at = datetime.fromisoformat(fill_at)
    except (queries.BadCursorError, TypeError, ValueError):
        return None
    if not isinstance(alert, str) or not isinstance(fill_exec, str) or at.tzinfo is None:
        return None
    return Cursor(alert, at, fill_exec)


async def _fresh_cursor(ctx: ApiContext) -> Cursor:
    """From now: the newest alert and the newest fill are the last ones "sent"."""
    newest = await ctx.redis.infra.xrevrange(redis_keys.ALERTS, count=1)
    alert = queries.decoded(newest[0][0]) if newest else "0-0"
    rows = await ctx.reader.fetch(
        "SELECT ingested_at, exec_id FROM trading.fills"
        " ORDER BY ingested_at DESC, exec_id DESC LIMIT 1"
    )
    if not rows:
        return Cursor(alert, _EPOCH, "")
    return Cursor(alert, rows[0]["ingested_at"], rows[0]["exec_id"])


async def _remember_overlap(ctx: ApiContext, cursor: Cursor) -> None:
    """The fills in the overlap up to the cursor count as sent (by this connection or
    the one it resumes), so the first poll does not repeat them."""
    rows = await ctx.reader.fetch(
        "SELECT ingested_at, exec_id FROM trading.fills WHERE ingested_at > %s"
        " AND (ingested_at, exec_id) <= (%s, %s)",
        (cursor.fill_at - FILL_OVERLAP, cursor.fill_at, cursor.fill_exec),
    )
    cursor.sent = {r["exec_id"]: r["ingested_at"] for r in rows}


async def _new_fills(ctx: ApiContext, cursor: Cursor) -> list[dict[str, Any]]:
    rows = await ctx.reader.fetch(
        f"SELECT {_FILL_COLUMNS} FROM trading.fills WHERE ingested_at > %s"
        " AND NOT (exec_id = ANY(%s)) ORDER BY ingested_at, exec_id, bot_id LIMIT %s",
        (cursor.fill_at - FILL_OVERLAP, list(cursor.sent), _FILL_BATCH),
    )
    if len(rows) == _FILL_BATCH:
        # A split execution has a row per bot share (docs/attribution.md) and is marked
        # sent by its exec id: the batch must not end between its shares, or the next
        # poll would skip the rest. Its shares come whole with the next poll.
        whole = [r for r in rows if r["exec_id"] != rows[-1]["exec_id"]]
        rows = whole or rows
    for row in rows:
        cursor.sent[row["exec_id"]] = row["ingested_at"]
        if (row["ingested_at"], row["exec_id"]) > (cursor.fill_at, cursor.fill_exec):
            cursor.fill_at, cursor.fill_exec = row["ingested_at"], row["exec_id"]
    low = cursor.fill_at - FILL_OVERLAP
    cursor.sent = {k: v for k, v in cursor.sent.items() if v > low}
    return rows


async def _new_alerts(ctx: ApiContext, cursor: Cursor, block_ms: int) -> list[dict[str, Any]]:
    """Waits up to ``block_ms`` for alerts after the cursor: the stream's pace."""
    reply = await ctx.redis.infra_waiting(block_ms / 1000).xread(
        {redis_keys.ALERTS: cursor.alert}, count=100, block=block_ms
    )
    items: list[dict[str, Any]] = []
    for _stream, entries in reply or []:
        for entry_id, fields in entries:
            alert = {"id": queries.decoded(entry_id), "fields": queries.decoded_fields(fields)}
            items.append(alert)
    if items:
        cursor.alert = items[-1]["id"]
    return items


async def _bot_states(ctx: ApiContext) -> dict[str, dict[str, Any]]:
    rows = await queries.bots(ctx.reader)
    states: dict[str, dict[str, Any]] = {}
    for row in rows:
        raw = await ctx.redis.db(row["redis_db"]).get(redis_keys.bot_state(BotId(row["bot_id"])))
        state = raw.decode() if isinstance(raw, bytes) else raw
        states[row["bot_id"]] = {"bot_id": row["bot_id"], "status": row["status"], "state": state}
    return states


class _Stream:
    def __init__(self, response: web.StreamResponse, cursor: Cursor) -> None:
        self.response = response
        self.cursor = cursor
        self.last_write = asyncio.get_running_loop().time()

    async def send(self, event: str, data: Any) -> None:
        text = f"id: {self.cursor.event_id()}\nevent: {event}\ndata: {dumps(data)}\n\n"
        await self._write(text)

    async def heartbeat(self) -> None:
        await self._write(": heartbeat\n\n")

    async def _write(self, text: str) -> None:
        await self.response.write(text.encode())
        self.last_write = asyncio.get_running_loop().time()


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def stream_events(request: web.Request) -> web.StreamResponse:
    ctx: ApiContext = request.app[CONTEXT]
    resumed = _parse_last_event_id(request.headers.get("Last-Event-ID"))
    cursor = resumed or await _fresh_cursor(ctx)
    await _remember_overlap(ctx, cursor)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a proxy must pass each event on at once
        }
    )
    await response.prepare(request)
    out = _Stream(response, cursor)
    block_ms = max(1, int(ctx.events_poll_seconds * 1000))
    try:
        known = await _bot_states(ctx)
        for bot in known.values():
            await out.send("bot", bot)
        loop = asyncio.get_running_loop()
        while not ctx.closing.is_set() and not _gone(request):
            for alert in await _new_alerts(ctx, cursor, block_ms):
                await out.send("alert", alert)
            for fill in await _new_fills(ctx, cursor):
                await out.send("fill", fill)
            now_states = await _bot_states(ctx)
            for bot_id, bot in now_states.items():
                if known.get(bot_id) != bot:
                    await out.send("bot", bot)
            known = now_states
            if loop.time() - out.last_write >= ctx.events_heartbeat_seconds:
                await out.heartbeat()
    except ConnectionResetError:
        pass  # the client went away; it resumes with Last-Event-ID
    except Exception as exc:
        away = unreachable(exc)
        if away is None:  # a bug: its traceback
            log.exception("event stream failed; the client resumes with Last-Event-ID")
        else:  # expected while a service restarts
            log.warning(
                "event stream ended: %s unreachable (%s); the client resumes with "
                "Last-Event-ID",
                away, type(exc).__name__,
            )  # fmt: skip
    return response
