"""Everything a command handler needs, built once per process (and per test)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from core.config import Settings
from core.operator.audit import Auditor
from core.operator.confirm import Clock, ConfirmationBook, utc_now
from core.operator.control import Control
from core.operator.db import Database
from core.operator.redis_pool import RedisPool
from telegram_c2.access import Access
from telegram_c2.gate import Gate
from telegram_c2.ops import Ops


@dataclass(frozen=True)
class Tuning:
    """Timings; production defaults, tests shorten them."""

    poll_timeout: float = 10.0  # getUpdates long-poll
    alert_poll_seconds: float = 2.0
    monitor_seconds: float = 30.0
    expiry_sweep_seconds: float = 5.0
    listener_down_after: timedelta = timedelta(minutes=2)
    #: The same incident key is not pushed again within this window.
    alert_dedup_window: timedelta = timedelta(minutes=15)
    #: At most this many info/warning alert messages per minute (critical ones bypass it).
    alerts_per_minute: int = 10
    #: A bot's trade notifications go out together, at most one message per bot per this.
    notify_digest_every: timedelta = timedelta(seconds=15)
    #: Telegram's flood limits, kept by every Bot API call (``telegram_c2/flood.py``):
    #: (messages, seconds) overall, and per group chat.
    flood_overall: tuple[int, float] = (30, 1.0)
    flood_per_group: tuple[int, float] = (20, 60.0)
    #: After an undelivered alert: wait this long, doubling per failure up to the maximum.
    alert_retry_first: timedelta = timedelta(seconds=5)
    alert_retry_max: timedelta = timedelta(minutes=5)


@dataclass
class C2:
    settings: Settings
    clock: Clock = utc_now
    tuning: Tuning = field(default_factory=Tuning)

    def __post_init__(self) -> None:
        self.access = Access(self.settings.telegram)
        self.db = Database(self.settings)
        self.redis = RedisPool(self.settings)
        self.audit = Auditor(self.db)
        self.control = Control(self.redis)
        self.ops = Ops(self.db, self.redis)
        self.confirmations = ConfirmationBook(self.clock)
        self.gate = Gate(self.settings.telegram, self.clock)

    async def close(self) -> None:
        await self.redis.close()
