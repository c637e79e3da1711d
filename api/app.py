"""The aiohttp application: auth middleware, errors as JSON, the routes, ``/healthz``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from api import actions, dashboard, openapi
from api.auth import TOKEN_KEY
from api.auth import middleware as auth_middleware
from api.context import CONTEXT, ApiContext
from api.jsonio import error, reply, unavailable
from api.routes import PREFIX, ROUTES, Handler
from api.webhook import PATH as WEBHOOK_PATH
from api.webhook import receive as receive_webhook
from core.errors import UserError
from core.outages import unreachable
from core.service import run_check

log = logging.getLogger(__name__)


class AccessLogger(web.AbstractAccessLogger):
    """One line per request without the query string or any header: nothing a caller
    sent after ``?`` (where a careless client might put a token) reaches the log; the
    token's name does, once the token was accepted."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        token = request.get(TOKEN_KEY)
        self.logger.info(
            "%s %s %s %.1f ms",
            request.method,
            request.path,
            response.status,
            time * 1000,
            extra={"remote": request.remote, "token_name": token.name if token else None},
        )


#: While a service stays away, the warning is repeated at most this often: a dashboard
#: would otherwise repeat it with every request.
OUTAGE_WARNING_SECONDS = 60.0


def errors_as_json() -> Any:
    """Every failure is ``{"error": …}``: a bad parameter is 400 with one line, an
    unknown path 404, PostgreSQL or Redis away 503 with ``Retry-After`` (one warning a
    minute in the log), anything unexpected 500 with its type only (details in the log).

    The outage check comes first: the database's connection error is also a
    ``UserError`` (the CLI prints it as one line), but for a client it is neither its
    mistake nor something to read (it names the database's host, role and name)."""
    warned: dict[str, float] = {}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400:
                return error(exc.status, exc.reason, _allow_header(exc))
            raise
        except Exception as exc:
            away = unreachable(exc)
            if away is not None:
                now = time.monotonic()
                if now - warned.get(away, -OUTAGE_WARNING_SECONDS) >= OUTAGE_WARNING_SECONDS:
                    warned[away] = now
                    log.warning(
                        "%s unreachable (%s: %s); requests that need it are answered 503",
                        away, type(exc).__name__, str(exc)[:200],
                    )  # fmt: skip
                return unavailable(f"{away} is unreachable; try again shortly")
            if isinstance(exc, UserError):
                return error(400, str(exc))
            log.exception("%s %s failed", request.method, request.path)
            return error(500, f"internal error ({type(exc).__name__}); see the API's log")

    return middleware


def _allow_header(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None


async def healthz(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]

    async def db_ok() -> bool:
        rows = await ctx.reader.fetch("SELECT 1 AS one")
        return rows == [{"one": 1}]

    results: dict[str, Any] = {}
    for name, probe in (("db", db_ok), ("redis", ctx.redis.infra.ping)):
        try:
            value = await probe()
        except Exception as exc:
            # The same rule as core/service.py: the reason goes to the log, not the reply.
            passed, detail = run_check(_raiser(exc))
        else:
            passed, detail = run_check(_constant(bool(value)))
        results[name] = {"ok": passed, "detail": detail}
    ok = all(r["ok"] for r in results.values())
    return reply({"status": "ok" if ok else "failing", "checks": results}, 200 if ok else 503)


def _raiser(exc: Exception) -> Callable[[], bool]:
    def check() -> bool:
        raise exc

    return check


def _constant(value: bool) -> Callable[[], bool]:
    return lambda: value


async def openapi_json(request: web.Request) -> web.StreamResponse:
    return reply(openapi.document())


def build_app(ctx: ApiContext) -> web.Application:
    app = web.Application(
        middlewares=[errors_as_json(), auth_middleware(ctx.writer, ctx.limiter, ctx.auditor)]
    )
    app[CONTEXT] = ctx
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/openapi.json", openapi_json)
    for route in ROUTES:
        app.router.add_route(route.method, PREFIX + route.path, route.handler)
    app.router.add_post(WEBHOOK_PATH, receive_webhook)
    dashboard.add_routes(app)

    async def close(_app: web.Application) -> None:
        await ctx.close()

    async def sweeper(_app: web.Application) -> AsyncIterator[None]:
        """Lapsed confirmations are audited ``expired`` even if nobody comes back."""
        task = asyncio.create_task(actions.sweep_forever(ctx))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def end_streams(_app: web.Application) -> None:
        ctx.closing.set()

    app.cleanup_ctx.append(sweeper)
    app.on_shutdown.append(end_streams)
    app.on_cleanup.append(close)
    return app
