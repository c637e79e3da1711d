"""What the handlers share, built once per process (and per test)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from aiohttp import web

from api.confirmations import RedisConfirmations
from api.ratelimit import RateLimiter
from core.config import Role, Settings
from core.operator.audit import Auditor
from core.operator.confirm import Clock, utc_now
from core.operator.control import Control
from core.operator.db import Database
from core.operator.redis_pool import RedisPool

#: Requests per token per minute; generous for a script, far below what hurts the ledger.
DEFAULT_RATE_PER_MINUTE = 120
#: Webhook deliveries per bot per minute, counted apart for authenticated senders and
#: for refused ones: more than any alert schedule sends, few enough that a flood of bad
#: secrets cannot fill the signal table — and cannot lock the real sender out either.
DEFAULT_WEBHOOK_RATE_PER_MINUTE = 60
#: How old (or how far ahead of this clock) an alert's ``time`` may be; TradingView
#: usually delivers within seconds, and a signal minutes late trades a price long gone.
DEFAULT_WEBHOOK_TTL_SECONDS = 60.0
#: How long a dangerous action's confirmation id stays usable: the chat's minute.
DEFAULT_CONFIRM_TTL_SECONDS = 60.0

PREFIX = "/api/v1"


@dataclass
class ApiContext:
    settings: Settings
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE
    rate_window_seconds: float = 60.0
    webhook_rate_per_minute: int = DEFAULT_WEBHOOK_RATE_PER_MINUTE
    webhook_ttl_seconds: float = DEFAULT_WEBHOOK_TTL_SECONDS
    confirm_ttl_seconds: float = DEFAULT_CONFIRM_TTL_SECONDS
    #: How often lapsed confirmations are looked for (and audited ``expired``).
    confirm_sweep_seconds: float = 5.0
    clock: Clock = utc_now
    #: The event stream's pace (how long it waits for an alert before polling the
    #: ledger and the bots' states again) and its silence before a heartbeat comment.
    events_poll_seconds: float = 1.0
    events_heartbeat_seconds: float = 15.0
    limiter: RateLimiter = field(init=False)
    webhook_limiter: RateLimiter = field(init=False)
    webhook_refusals: RateLimiter = field(init=False)
    confirmations: RedisConfirmations = field(init=False)

    def __post_init__(self) -> None:
        # Reads as readonly; tokens, bot states and the audit as app — the C2's role,
        # because pause and resume are the C2's actions with the C2's audit.
        self.reader = Database(self.settings, role=Role.READONLY, application_name="alpha-api")
        self.writer = Database(self.settings, role=Role.APP, application_name="alpha-api")
        self.redis = RedisPool(self.settings)
        self.auditor = Auditor(self.writer)
        self.control = Control(self.redis)
        self.limiter = RateLimiter(self.rate_per_minute, self.rate_window_seconds)
        self.webhook_limiter = RateLimiter(self.webhook_rate_per_minute, 60.0)
        self.webhook_refusals = RateLimiter(self.webhook_rate_per_minute, 60.0)
        #: Set on shutdown: open event streams end instead of holding the exit up.
        self.closing = asyncio.Event()
        self.confirmations = RedisConfirmations(
            self.redis.infra, self.clock, timedelta(seconds=self.confirm_ttl_seconds)
        )

    async def close(self) -> None:
        await self.redis.close()


CONTEXT = web.AppKey("api_context", ApiContext)
