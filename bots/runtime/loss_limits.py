"""Loss limits every bot gets from its host, whatever its strategy does.

Configured under ``"risk"`` in the registration (:class:`core.risk.RiskLimits`):

* ``max_daily_loss_pct`` — equity down this much from the day's opening equity (the first
  equity seen after 00:00 UTC) halts entries until the next UTC day;
* ``max_drawdown_pct`` — equity down this much from its highest value halts entries until
  an operator lifts it (``reset-risk`` on the bot's command stream), which also restarts
  the peak from the equity at that moment.

The host feeds equity on every closed candle and every fill, so a loss counts whether or
not the strategy has a signal. A halt blocks entries only — stops, take profits and exits
are still managed — and announces one ``risk_halt`` (``bots/runtime/notify.py``); the
lift announces ``risk_lift``, which ends that incident in the C2.

The anchors live in the bot's Redis (``bot:{id}:risk``), so a restart keeps the day's
opening equity and the peak instead of starting them again from the equity at restart.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

import redis

from bots.runtime.notify import Notifier
from core.risk import RiskLimits

log = logging.getLogger(__name__)

HUNDRED = Decimal(100)

DAILY = "max_daily_loss"
DRAWDOWN = "max_drawdown"


def risk_key(bot_id: str) -> str:
    return f"bot:{bot_id}:risk"


class LossLimits:
    def __init__(
        self, client: redis.Redis, bot_id: str, limits: RiskLimits, notify: Notifier
    ) -> None:
        self.redis = client
        self.bot_id = bot_id
        self.daily_pct = limits.max_daily_loss_pct
        self.drawdown_pct = limits.max_drawdown_pct
        self.notify = notify
        self.key = risk_key(bot_id)
        self.state: dict[str, str] = {}
        self._loaded = False

    def set_limits(self, limits: RiskLimits) -> None:
        """New limits from a reloaded registration (bots/runtime/reload.py); a halt in
        force stays until it lifts or an operator resets it."""
        self.daily_pct = limits.max_daily_loss_pct
        self.drawdown_pct = limits.max_drawdown_pct

    @property
    def active(self) -> bool:
        return self.daily_pct is not None or self.drawdown_pct is not None

    @property
    def halted(self) -> str | None:
        """The halt in force (its one-line reason), or ``None``."""
        return self.state.get("halt_detail") if self.state.get("halt") else None

    def observe(self, now: datetime, equity: Decimal) -> None:
        if not self.active:
            return
        if not self._loaded:
            self.state = dict(self.redis.hgetall(self.key))  # type: ignore[arg-type]
            self._loaded = True
        before = dict(self.state)
        day = now.date().isoformat()
        if self.state.get("day") != day:
            self.state["day"] = day
            self.state["day_open"] = str(equity)
            if self.state.get("halt") == DAILY:
                self._lift(f"a new UTC day ({day})")
        peak = Decimal(self.state.get("peak") or equity)
        self.state["peak"] = str(max(peak, equity))
        if not self.state.get("halt"):
            self._check(equity)
        if self.state != before:
            self.redis.hset(self.key, mapping=self.state)

    def _check(self, equity: Decimal) -> None:
        day_open = Decimal(self.state["day_open"])
        peak = Decimal(self.state["peak"])
        if self.drawdown_pct is not None and peak > 0:
            down = (peak - equity) / peak * HUNDRED
            if down >= self.drawdown_pct:
                self._halt(DRAWDOWN, f"drawdown {down:.2f}% from the peak {peak} ≥ "
                           f"{self.drawdown_pct}% (lifted by an operator)")  # fmt: skip
                return
        if self.daily_pct is not None and day_open > 0:
            down = (day_open - equity) / day_open * HUNDRED
            if down >= self.daily_pct:
                self._halt(DAILY, f"daily loss {down:.2f}% from {day_open} at 00:00 UTC ≥ "
                           f"{self.daily_pct}% (lifts at the next UTC day)")  # fmt: skip

    def reset(self, equity: Decimal, by: str) -> None:
        """The operator's lift: the halt ends and the peak restarts from ``equity``."""
        if not self._loaded:
            self.state = dict(self.redis.hgetall(self.key))  # type: ignore[arg-type]
            self._loaded = True
        self.state["peak"] = str(equity)
        if self.state.get("day"):
            self.state["day_open"] = str(equity)
        if self.state.get("halt"):
            self._lift(f"reset by {by}")
        self.redis.hset(self.key, mapping=self.state)

    def _halt(self, rule: str, detail: str) -> None:
        self.state["halt"] = rule
        self.state["halt_detail"] = detail
        log.warning("bot %s: entries halted: %s", self.bot_id, detail)
        self.notify.risk_halt(detail)

    def _lift(self, why: str) -> None:
        detail = self.state.get("halt_detail", "")
        self.state["halt"] = ""
        self.state["halt_detail"] = ""
        log.info("bot %s: halt lifted (%s): %s", self.bot_id, why, detail)
        self.notify.risk_lift(why)
