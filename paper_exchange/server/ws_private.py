"""Private WebSocket ``/v5/private``: auth, delayed subscribe acks, per-account topics.

Every outgoing frame of a connection goes through that connection's queue and one writer
task, so a subscribe ack always precedes the topic's first data and frames never
interleave. Consecutive execution batches are merged into one frame (``data`` is a
list, as on Bybit), which is what lets one socket carry tens of thousands of
executions per second (``private_hub``).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from aiohttp import web

from paper_exchange.server.appkey import EXCHANGE_KEY
from paper_exchange.server.auth import verify_ws
from paper_exchange.server.host import Host
from paper_exchange.server.private_hub import (
    SUBSCRIBE_ACK_DELAY,
    TOPIC_NAMES,
    PrivateConn,
    PrivateHub,
)
from paper_exchange.server.ws_loop import serve_connection


async def handle_private(request: web.Request) -> web.StreamResponse:
    ex: Host = request.app[EXCHANGE_KEY]
    hub = ex.private_hub
    if time.monotonic() < hub.blocked_until:
        raise web.HTTPServiceUnavailable(text="private stream temporarily unavailable (fault)")
    ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
    await ws.prepare(request)
    conn = PrivateConn(ws, uuid.uuid4().hex[:20], hub.emission_times)
    hub.all_conns.add(conn)
    return await serve_connection(
        ws,
        conn.writer(lambda: ex.market.now_ms),
        lambda text: _on_message(ex, hub, conn, text),
        lambda: hub._detach(conn),
        conn.wake,
    )


async def _on_message(ex: Host, hub: PrivateHub, conn: PrivateConn, text: str) -> None:
    try:
        msg = json.loads(text)
    except ValueError:
        conn.send_raw(
            {"success": False, "ret_msg": "invalid JSON", "op": "", "conn_id": conn.conn_id}
        )
        return
    if not isinstance(msg, dict):
        conn.send_raw(
            {"success": False, "ret_msg": "invalid request", "op": "", "conn_id": conn.conn_id}
        )
        return
    op = msg.get("op")
    req_id = msg.get("req_id")
    reply: dict[str, object] = {"conn_id": conn.conn_id, "op": op}
    if req_id is not None:
        reply["req_id"] = req_id
    if op == "ping":
        conn.send_raw({**reply, "op": "pong", "args": [str(int(time.time() * 1000))]})
        return
    if op == "auth":
        ex.sync_clock()
        acct, reason = verify_ws(
            ex.engine.accounts_by_key, msg.get("args"), sim_ms=ex.market.now_ms
        )
        if acct is None:
            conn.send_raw({**reply, "success": False, "ret_msg": reason})
            return
        if conn.account is not None and conn.account is not acct:
            conn.send_raw({**reply, "success": False, "ret_msg": "already authenticated"})
            return
        conn.account = acct
        hub._attach(conn, acct)
        conn.send_raw({**reply, "success": True, "ret_msg": ""})
        return
    if op in ("subscribe", "unsubscribe"):
        args = msg.get("args")
        if conn.account is None:
            reason = "Request not authorized"
        elif not isinstance(args, list) or not args:
            reason = "Params Error: args must be a non-empty list"
        else:
            unknown = [a for a in args if a not in TOPIC_NAMES]
            reason = f"error:topic:{unknown[0]} not supported" if unknown else ""
        if reason:
            await asyncio.sleep(SUBSCRIBE_ACK_DELAY)
            conn.send_raw({**reply, "success": False, "ret_msg": reason})
            return
        assert isinstance(args, list)
        await asyncio.sleep(SUBSCRIBE_ACK_DELAY)
        conn.send_raw({**reply, "success": True, "ret_msg": ""})
        for name in args:
            base = TOPIC_NAMES[name]
            if op == "subscribe":
                conn.topics.setdefault(base, set()).add(name)
            else:
                names = conn.topics.get(base, set())
                names.discard(name)
                if not names:
                    conn.topics.pop(base, None)
        return
    conn.send_raw({**reply, "success": False, "ret_msg": f"unknown op {op!r}"})
