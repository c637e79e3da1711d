"""``alpha run bot BOT_ID``: wire a :class:`BotHost` to real clients and run it."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import redis

from core.config import Settings
from core.errors import UserError

if TYPE_CHECKING:
    from bots.runtime.host import BotHost
    from core.service import HealthServer

log = logging.getLogger(__name__)


#: While PostgreSQL does not answer at start, say so this often.
DB_WAIT_LOG_SECONDS = 60.0

#: The exchange environment each registered mode trades on (``live`` is real money).
MODE_ENV = {"live": "mainnet", "testnet": "testnet", "demo": "demo", "paper": "paper"}


def check_mode(bot_id: str, mode: str, env: str) -> None:
    """A bot trades only where it was registered to: a ``paper`` bot never reaches
    mainnet with the account's key, and a ``live`` bot never runs on a test exchange
    believing it trades."""
    wanted = MODE_ENV.get(mode)
    if wanted != str(env):
        raise UserError(
            f"bot {bot_id} is registered for mode {mode!r} (BYBIT_ENV={wanted}), but "
            f"BYBIT_ENV is {env}; refusing to start"
        )


def build_host(settings: Settings, bot_id: str) -> BotHost:
    """The bot's host with real clients: registration checked, config validated and the
    instrument rules fetched. Every refusal is a one-line :class:`UserError`."""
    from bots.runtime.host import BotHost
    from bots.runtime.registration import load_registration
    from core import redis_keys
    from core.exchange import PublicStream, make_http
    from core.exchange.rest import instruments as fetch_instruments
    from core.instruments import Instrument
    from core.redis_client import redis_client

    registration = load_registration(settings, bot_id)
    if settings.bot_id is not None and settings.bot_id != registration.bot_id:
        raise UserError(f"BOT_ID is {settings.bot_id!r} but the command names {bot_id!r}")
    check_mode(registration.bot_id, registration.mode, settings.bybit.env)
    # Type and config first: a bad registration must not wait on the exchange to fail.
    from core import plugins

    plugins.validate_config(registration.bot_type, registration.config)  # risk limits too
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
    return BotHost(
        settings,
        registration,
        http=http,
        bot_redis=redis_client(settings, redis_keys.bot_db(registration.redis_db)),
        infra_redis=redis_client(settings, settings.redis.infra_db),
        instruments=rules,
        public_stream_factory=lambda s, topics, cb: PublicStream(s, topics, cb),
    )


def bot_health(host: BotHost, http_host: str, port: int) -> HealthServer:
    """The bot's ``/healthz``: failing when its heartbeat is gone; ``info.drift_gate``
    says whether its entries wait on open drift (bots/runtime/drift_gate.py)."""
    from core import redis_keys
    from core.redis_client import no_retry, redis_client
    from core.service import HealthServer

    # A client of its own: the host's waits out a Redis outage, and a probe must answer
    # "failing" at once instead.
    probe = redis_client(
        host.settings, redis_keys.bot_db(host.reg.redis_db), retry=no_retry(), socket_timeout=2
    )
    return HealthServer(
        http_host,
        port,
        {"heartbeat": lambda: bool(probe.exists(redis_keys.heartbeat(host.reg.bot_id)))},
        info={"drift_gate": lambda: host.drift.status(host.symbols)},
    )


def build_host_once_the_database_answers(
    settings: Settings, bot_id: str, stop: threading.Event
) -> BotHost | None:
    """:func:`build_host`, waiting for PostgreSQL while it cannot be reached (a cluster
    engine starts services in no order): a warning, again each minute, and a line when it
    answers. None if ``stop`` is set meanwhile. A refusal that waiting would not mend (a
    wrong password, an unknown database) is raised at once, as before."""
    from core.db import DatabaseUnavailableError

    said_at: float | None = None
    while True:
        try:
            host = build_host(settings, bot_id)
        except DatabaseUnavailableError as exc:
            if not exc.transient:
                raise
            if said_at is None or time.monotonic() - said_at >= DB_WAIT_LOG_SECONDS:
                log.warning("bot %s: %s; waiting for it", bot_id, exc)
                said_at = time.monotonic()
            if stop.wait(1.0):
                log.warning("bot %s stopped while waiting for PostgreSQL", bot_id)
                return None
            continue
        if said_at is not None:
            log.info("bot %s: PostgreSQL answers again; starting", bot_id)
        return host


def run_bot(settings: Settings, bot_id: str, stop: threading.Event | None = None) -> None:
    from bots.runtime.lease import BotLease, LeaseLost

    stop = stop or threading.Event()
    host = build_host_once_the_database_answers(settings, bot_id, stop)
    if host is None:
        return
    lost: list[str] = []
    # A bot started before its Redis (a cluster engine has no start order) waits for it,
    # with a warning, rather than dying at its first call.
    host.wait_for_redis(stop)
    try:
        host.redis.ping()
    except redis.RedisError:
        if stop.is_set():
            return
        raise

    def on_lost(why: str) -> None:
        lost.append(why)
        stop.set()

    # Before anything trades: a second process of this bot id must not get further.
    lease = BotLease(host.redis, host.reg.bot_id, on_lost=on_lost)
    lease.acquire()
    health = bot_health(host, settings.service.http_host, settings.service.http_port)
    if settings.service.http_port:
        health.start()
    try:
        host.run(stop)
    finally:
        health.stop()
        lease.release()
    if lost:
        raise LeaseLost(f"bot {bot_id} stopped: lease lost ({lost[0]})")
