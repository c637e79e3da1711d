"""``alpha run bot BOT_ID``: wire a :class:`BotHost` to real clients and run it."""

from __future__ import annotations

import logging
import threading

from core.config import Settings
from core.errors import UserError

log = logging.getLogger(__name__)


def run_bot(settings: Settings, bot_id: str, stop: threading.Event | None = None) -> None:
    from bots.runtime.host import BotHost
    from bots.runtime.registration import load_registration
    from core.exchange import PublicStream, make_http
    from core.exchange.rest import instruments as fetch_instruments
    from core.instruments import Instrument
    from core.redis_client import redis_client
    from core.service import HealthServer

    registration = load_registration(settings, bot_id)
    if settings.bot_id is not None and settings.bot_id != registration.bot_id:
        raise UserError(f"BOT_ID is {settings.bot_id!r} but the command names {bot_id!r}")
    http = make_http(settings, registration.account)
    try:
        rules = {
            item["symbol"]: Instrument.from_bybit(item)
            for item in fetch_instruments(http)
            if item["symbol"] in set(registration.config.get("symbols") or registration.symbols)
        }
    except Exception as exc:
        from core.exchange.rest import classify

        info = classify(exc)
        if info is None:
            raise
        raise UserError(f"exchange unreachable or refusing ({info})") from None
    host = BotHost(
        settings,
        registration,
        http=http,
        bot_redis=redis_client(settings, registration.redis_db),
        infra_redis=redis_client(settings, settings.redis.infra_db),
        instruments=rules,
        public_stream_factory=lambda s, topics, cb: PublicStream(s, topics, cb),
    )
    stop = stop or threading.Event()
    health = HealthServer(
        settings.service.http_host,
        settings.service.http_port,
        {"heartbeat": lambda: bool(host.redis.exists(f"bot:{registration.bot_id}:heartbeat"))},
    )
    if settings.service.http_port:
        health.start()
    try:
        host.run(stop)
    finally:
        health.stop()
