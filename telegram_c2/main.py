"""Process entry: configuration, logging (token redacted), health endpoint, the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram.error import InvalidToken

from core.config import load_settings
from core.errors import UserError
from core.redis_client import infra_client
from core.service import (
    HealthServer,
    configure_logging,
    install_async_signal_handlers,
    secret_values,
)
from telegram_c2.app import build_application, serve
from telegram_c2.services import C2

log = logging.getLogger("telegram_c2")


def main() -> int:
    settings = load_settings()  # ConfigError → one line from the CLI, exit 78
    c2 = C2(settings)
    app = build_application(c2)  # a missing token or admin list fails here, before any I/O
    configure_logging(settings.service, "c2", secrets=secret_values(settings))
    # PTB and httpx log request URLs, and the token is part of every Bot API URL.
    for noisy in ("httpx", "httpcore", "telegram.request", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    redis = infra_client(settings)
    health = HealthServer.from_settings(settings.service, {"redis": lambda: bool(redis.ping())})
    with health if settings.service.http_port else contextlib.nullcontext():
        try:
            asyncio.run(_main(app, c2))
        except InvalidToken:
            # PTB's own message quotes the token: never let it reach stderr.
            raise UserError(
                "C2_TELEGRAM_BOT_TOKEN: the Bot API rejected the token "
                f"({settings.telegram.api_base_url}); check it with @BotFather"
            ) from None
    return 0


async def _main(app, c2: C2) -> None:
    stop = asyncio.Event()
    install_async_signal_handlers(stop)
    try:
        await serve(app, stop, c2.tuning.poll_timeout)
    finally:
        await c2.close()
