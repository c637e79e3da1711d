"""Query-string parameters: each bad value is one clear 400, never a traceback."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from core.errors import UserError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class BadParameterError(UserError):
    pass


def limit(request: web.Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    text = request.query.get("limit")
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadParameterError(f"limit: not a whole number: {text!r}") from None
    if not 1 <= value <= maximum:
        raise BadParameterError(f"limit: must be 1-{maximum}, got {value}")
    return value


def text(request: web.Request, name: str, max_length: int = 64) -> str | None:
    value = request.query.get(name)
    if value is None:
        return None
    if not value or len(value) > max_length:
        raise BadParameterError(f"{name}: must be 1-{max_length} characters")
    return value


def day(request: web.Request, name: str) -> date | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadParameterError(f"{name}: not a date like 2026-12-05: {value!r}") from None
