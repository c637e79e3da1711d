"""Trade notifications: the events a bot announces on the ``alerts`` stream, and the
per-bot settings that choose them (``"notify"`` in the bot's registered config).

The bot host publishes each event through ``bots.runtime.notify`` with severity
``info`` and one of the kinds below; the Telegram C2 recognises the kinds and sends a
bot's events together, at most one message per bot per
``Tuning.notify_digest_every`` (``telegram_c2/alerts.py``). The kinds and the settings
live here, in ``core``, because both sides and the registration read them.

Settings (every field optional; the default is every event on, no quiet hours)::

    "notify": {"trade_entry": false, "quiet_hours": "22:00-07:00"}

``quiet_hours`` is a UTC time range (like ``C2_TELEGRAM_DAILY_SUMMARY_UTC``); it may
wrap midnight. Inside it ``info`` events are not sent; anything more severe still is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

TRADE_ENTRY = "trade_entry"
TRADE_EXIT = "trade_exit"
ORDER_REJECTED = "order_rejected"
RISK_HALT = "risk_halt"
RISK_LIFT = "risk_lift"
FLATTEN_DONE = "flatten_done"
UNIVERSE = "universe"
#: Every kind a bot's notifier publishes (also the setting names).
KINDS = (TRADE_ENTRY, TRADE_EXIT, ORDER_REJECTED, RISK_HALT, RISK_LIFT, FLATTEN_DONE, UNIVERSE)

_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class NotifySettings(BaseModel):
    """Which events a bot announces. Validated at registration and at the bot's start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trade_entry: bool = True
    trade_exit: bool = True
    order_rejected: bool = True
    risk_halt: bool = True
    risk_lift: bool = True
    flatten_done: bool = True
    universe: bool = True
    #: ``"HH:MM-HH:MM"`` in UTC (may wrap midnight): no ``info`` events inside it.
    quiet_hours: str | None = None

    @field_validator("quiet_hours")
    @classmethod
    def _range(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = _RANGE.match(value.strip())
        if match is None:
            raise ValueError('must be "HH:MM-HH:MM" (UTC), e.g. "22:00-07:00"')
        if match.group(1, 2) == match.group(3, 4):
            raise ValueError("start and end are the same time")
        return value.strip()

    def quiet_at(self, now: datetime) -> bool:
        """Whether ``now`` falls inside the quiet hours (start included, end excluded)."""
        if self.quiet_hours is None:
            return False
        first, last = (time.fromisoformat(part) for part in self.quiet_hours.split("-"))
        moment = now.astimezone(UTC).time().replace(tzinfo=None)
        if first < last:
            return first <= moment < last
        return moment >= first or moment < last  # wraps midnight

    def wants(self, kind: str, severity: str, now: datetime) -> bool:
        """Whether an event of ``kind`` at ``severity`` is to be sent at ``now``."""
        if not getattr(self, kind, True):
            return False
        return severity != "info" or not self.quiet_at(now)


def settings_of(config: Mapping[str, Any] | None) -> NotifySettings:
    """The ``"notify"`` part of a registered config (pydantic's ``ValidationError`` if bad)."""
    value = (config or {}).get("notify")
    return NotifySettings.model_validate({} if value is None else value)
