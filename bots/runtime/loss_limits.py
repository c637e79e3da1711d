"""Loss limits every bot gets from its host, whatever its strategy does.

Configured under ``"risk"`` in the registration (:class:`core.risk.RiskLimits`):

* ``max_daily_loss_pct`` — equity down this much from the day's opening equity (the first
  equity seen after 00:00 UTC) halts entries until the next UTC day;
* ``max_drawdown_pct`` — equity down this much from its highest value halts entries until
  an operator lifts it (``reset-risk`` on the bot's command stream), which also restarts
  the peak from the equity at that moment. A daily halt in force becomes a drawdown halt
  the moment the drawdown crosses its limit too, with an alert of its own, so the
  operator learns the day's halt will not end by itself.

The host feeds equity on every closed candle and every fill, so a loss counts whether or
not the strategy has a signal. A halt blocks entries only — stops, take profits and exits
are still managed — and announces one ``risk_halt`` (``bots/runtime/notify.py``); the
lift announces ``risk_lift``, which ends that incident in the C2.

The anchors live in the bot's Redis (``bot:{id}:risk``), so a restart keeps the day's
opening equity and the peak instead of starting them again from the equity at restart.
While a halt is in force they are written on every observation, so a Redis that lost its
data holds the halt again by the next candle.
A backtest runs this same class with no Redis and no notifier (``bots/backtest/rules.py``):
the anchors then live in memory for the run.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
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
        self,
        client: redis.Redis | None,
        bot_id: str,
        limits: RiskLimits,
        notify: Notifier | None,
    ) -> None:
        self.redis = client
        self.bot_id = bot_id
        self.daily_pct = limits.max_daily_loss_pct
        self.drawdown_pct = limits.max_drawdown_pct
        self.notify = notify
        self.key = risk_key(bot_id)
        self.state: dict[str, str] = {}
        self._loaded = False
        # ``state`` parsed once: observe() runs on every candle and fill (and on every bar
        # of a backtest), so it must not re-parse and re-format strings each time.
        self._day: date | None = None
        self._day_open: Decimal | None = None
        self._peak: Decimal | None = None
        self._dirty = False
        # The last (equity, peak, day open) that _check() found within both limits: it is
        # a pure function of those and of the limits, so the same three again cannot halt
        # (a flat bot's equity repeats bar after bar; a backtest feeds every bar).
        self._clear: tuple[Decimal, Decimal | None, Decimal | None] | None = None
        #: Halts announced since this object was made (the backtest's report counts them).
        self.halts = 0
        #: The market time last observed: a halt's and a lift's alert carry it.
        self._now: datetime | None = None

    def set_limits(self, limits: RiskLimits) -> None:
        """New limits from a reloaded registration (bots/runtime/reload.py); a halt in
        force stays until it lifts or an operator resets it."""
        self.daily_pct = limits.max_daily_loss_pct
        self.drawdown_pct = limits.max_drawdown_pct
        self._clear = None  # what passed the old limits may not pass the new ones

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
            self._load()
        self._now = now
        day = now.date()
        if day != self._day:
            self._day = day
            iso = day.isoformat()
            if self.state.get("day") != iso:
                self.state["day"] = iso
                self.state["day_open"] = str(equity)
                self._day_open = equity
                self._dirty = True
                if self.state.get("halt") == DAILY:
                    self._lift(f"a new UTC day ({iso})")
        if self._peak is None or equity > self._peak:
            self._peak = equity
            self.state["peak"] = str(equity)
            self._dirty = True
        halt = self.state.get("halt")
        if not halt:
            checked = (equity, self._peak, self._day_open)
            if checked != self._clear:
                self._check(equity)
                if not self.state.get("halt"):
                    self._clear = checked
        else:
            if halt == DAILY:
                # The day's halt ends at midnight; a drawdown past its limit meanwhile
                # needs an operator. Said now, not when the next day would have lifted it.
                drawdown = self._drawdown(equity)
                if drawdown is not None:
                    self._halt(DRAWDOWN, drawdown, escalation=True)
            # Written again on every observation while halted: a Redis that lost its data
            # would otherwise hold no halt for a restarted process to find, and a halt
            # only an operator may lift would be gone. Entries are blocked meanwhile; an
            # HSET a candle is nothing to a halted bot.
            self._dirty = True
        if self._dirty:
            self._save()

    def _drawdown(self, equity: Decimal) -> str | None:
        """The drawdown halt's reason, if ``equity`` is past its limit."""
        peak = self._peak
        assert peak is not None  # observe() set it
        # Both limits are above zero (RiskLimits): no loss, no halt, no division.
        if self.drawdown_pct is not None and peak > 0 and equity < peak:
            down = (peak - equity) / peak * HUNDRED
            if down >= self.drawdown_pct:
                return (f"drawdown {down:.2f}% from the peak {peak} ≥ {self.drawdown_pct}%"
                        " (lifted by an operator)")  # fmt: skip
        return None

    def _check(self, equity: Decimal) -> None:
        day_open = self._day_open
        assert day_open is not None  # observe() set it
        drawdown = self._drawdown(equity)
        if drawdown is not None:
            self._halt(DRAWDOWN, drawdown)
            return
        if self.daily_pct is not None and day_open > 0 and equity < day_open:
            down = (day_open - equity) / day_open * HUNDRED
            if down >= self.daily_pct:
                self._halt(DAILY, f"daily loss {down:.2f}% from {day_open} at 00:00 UTC ≥ "
                           f"{self.daily_pct}% (lifts at the next UTC day)")  # fmt: skip

    def reset(self, equity: Decimal, by: str, now: datetime | None = None) -> None:
        """The operator's lift: the halt ends and the peak restarts from ``equity``
        (``now``: the market time, for the lift's alert)."""
        self._load()
        if now is not None:
            self._now = now
        self.state["peak"] = str(equity)
        self._peak = equity
        if self.state.get("day"):
            self.state["day_open"] = str(equity)
            self._day_open = equity
        if self.state.get("halt"):
            self._lift(f"reset by {by}")
        self._save()

    def _load(self) -> None:
        if not self._loaded:
            if self.redis is not None:
                self.state = dict(self.redis.hgetall(self.key))  # type: ignore[arg-type]
            self._loaded = True
            peak, day_open = self.state.get("peak"), self.state.get("day_open")
            self._peak = Decimal(peak) if peak else None
            self._day_open = Decimal(day_open) if day_open else None

    def _save(self) -> None:
        self._dirty = False
        if self.redis is not None:
            self.redis.hset(self.key, mapping=self.state)

    def _halt(self, rule: str, detail: str, *, escalation: bool = False) -> None:
        """``escalation``: a halt already in force becomes this one (its own alert)."""
        self._dirty = True
        self.halts += 1
        self.state["halt"] = rule
        self.state["halt_detail"] = detail
        said = "entries stay halted" if escalation else "entries halted"
        log.warning("bot %s: %s: %s", self.bot_id, said, detail)
        if self.notify is not None:
            self.notify.risk_halt(detail, self._now, escalation=escalation)

    def _lift(self, why: str) -> None:
        detail = self.state.get("halt_detail", "")
        self._dirty = True
        self.state["halt"] = ""
        self.state["halt_detail"] = ""
        log.info("bot %s: halt lifted (%s): %s", self.bot_id, why, detail)
        if self.notify is not None:
            self.notify.risk_lift(why, self._now)
