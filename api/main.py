"""Process entry for ``alpha run api``: configuration, logging, the server, the signals."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from api.app import AccessLogger, build_app
from api.context import ApiContext
from core.config import load_settings
from core.errors import UserError
from core.service import configure_logging, install_async_signal_handlers, secret_values

log = logging.getLogger("api")


def main(host: str, port: int) -> int:
    settings = load_settings()  # ConfigError → one line from the CLI, exit 78
    configure_logging(settings.service, "api", secrets=secret_values(settings))
    asyncio.run(_serve(ApiContext(settings), host, port))
    return 0


async def _serve(ctx: ApiContext, host: str, port: int) -> None:
    runner = web.AppRunner(build_app(ctx), access_log_class=AccessLogger)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        log.info(
            "API listening on http://%s:%d (docs at /openapi.json, dashboard at http://%s:%d/)",
            host,
            port,
            host,
            port,
        )
        stop = asyncio.Event()
        install_async_signal_handlers(stop)
        await stop.wait()
    finally:
        await runner.cleanup()
