"""The life of one WebSocket connection, shared by the private and public streams.

Each connection has a writer task (draining its outbound queue) and a read loop; when
the client goes, the connection is detached from its hub first, so nothing is queued
for it any more, then the writer is woken and cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import WSMsgType, web


async def serve_connection(
    ws: web.WebSocketResponse,
    writer: Coroutine[Any, Any, None],
    on_text: Callable[[str], Awaitable[None]],
    detach: Callable[[], None],
    wake: asyncio.Event,
) -> web.WebSocketResponse:
    task = asyncio.create_task(writer)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await on_text(msg.data)
    finally:
        detach()
        wake.set()
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, ConnectionError, RuntimeError):
            pass
    return ws
