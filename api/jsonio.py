"""JSON replies: money stays exact (``Decimal`` as a string, never a float), times are
ISO 8601 UTC."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from core.errors import UserError


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        raise TypeError("binary values are never sent")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(body: Any) -> str:
    return json.dumps(body, default=_default, ensure_ascii=False)


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=dumps)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """Every error has the same shape: ``{"error": {"status": …, "message": …}}``."""
    return reply({"error": {"status": status, "message": message}}, status, headers)


#: What a client is told to wait before it tries again while a service is away.
RETRY_AFTER_SECONDS = 5


def unavailable(message: str) -> web.Response:
    """503 with ``Retry-After``: a service the request needs is away (a restart)."""
    return error(503, message, {"Retry-After": str(RETRY_AFTER_SECONDS)})


async def read_object(
    request: web.Request, max_bytes: int, shape: str, allowed: tuple[str, ...]
) -> dict[str, Any]:
    """A request body that must be one JSON object of at most ``max_bytes`` with only
    ``allowed`` fields; anything else is one ``UserError`` line (``shape`` says what
    was expected)."""
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise UserError(f"body: larger than {max_bytes // 1024} KiB")
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise UserError("body: not JSON") from None
    if not isinstance(body, dict):
        raise UserError(f"body: {shape}")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise UserError(f"body: unknown field {unknown[0]!r} (allowed: {', '.join(allowed)})")
    return body
