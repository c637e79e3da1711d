"""Strategy-specific account risk rules (docs/strategies.md), as pure state machines.

They see only ``(now, equity)`` pairs — equity being the bot's realized plus unrealized
P&L on top of its capital, which the host derives from the ledger — and answer with a
:class:`RiskDecision`. Period anchors (the equity at 00:00 UTC, at Monday 00:00 UTC, at
the 1st of the month 00:00 UTC) are taken from the first observation in the period, so
they must be fed on every closed candle and every fill, not only when a strategy has a
signal: the candle closing at 00:00 then gives the period's opening equity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class RiskDecision:
    allow_entries: bool = True
    size_multiplier: Decimal = ONE
    #: True exactly once, when a rule that closes everything fires.
    close_all: bool = False
    #: The rule in force (for the log line of a refused entry), ``None`` when clear.
    rule: str | None = None


def _drawdown_pct(anchor: Decimal, equity: Decimal) -> Decimal:
    """Loss since the anchor in percent of the anchor (positive = down)."""
    return (anchor - equity) / anchor * HUNDRED if anchor > 0 else ZERO


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _midnight(d: date, tz_of: datetime) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=tz_of.tzinfo)


class LXAlgoRisk:
    """LXAlgo: daily drawdown 2 % from the 00:00 UTC equity → close all, pause until
    00:01 UTC next day; weekly drawdown ≥ 4 % → size × 0.5 until half the loss is
    recovered; ≥ 6 % → close all, halt until Monday 00:01 UTC."""

    def __init__(
        self,
        daily_pct: Decimal = Decimal(2),
        weekly_reduce_pct: Decimal = Decimal(4),
        weekly_halt_pct: Decimal = Decimal(6),
        reduced_size: Decimal = Decimal("0.5"),
        resume_minute: int = 1,
    ) -> None:
        self.daily_pct = daily_pct
        self.weekly_reduce_pct = weekly_reduce_pct
        self.weekly_halt_pct = weekly_halt_pct
        self.reduced_size = reduced_size
        self.resume = timedelta(minutes=resume_minute)
        self.day: date | None = None
        self.day_equity = ZERO
        self.week: date | None = None
        self.week_equity = ZERO
        self.paused_until: datetime | None = None
        self.halted_until: datetime | None = None
        #: The largest weekly loss (quote currency) while size is reduced; None = full size.
        self.reduced_loss: Decimal | None = None

    def update(self, now: datetime, equity: Decimal) -> RiskDecision:
        today = now.date()
        if today != self.day:
            self.day, self.day_equity = today, equity
        week = _monday(today)
        if week != self.week:
            self.week, self.week_equity, self.reduced_loss = week, equity, None
        if self.halted_until is not None and now < self.halted_until:
            return RiskDecision(False, ONE, False, "lxalgo weekly drawdown halt")
        if self.paused_until is not None and now < self.paused_until:
            return RiskDecision(False, ONE, False, "lxalgo daily drawdown pause")

        weekly = _drawdown_pct(self.week_equity, equity)
        if weekly >= self.weekly_halt_pct:
            self.halted_until = _midnight(week + timedelta(days=7), now) + self.resume
            return RiskDecision(
                False, ONE, True, f"lxalgo weekly drawdown ≥ {self.weekly_halt_pct}%"
            )
        if _drawdown_pct(self.day_equity, equity) >= self.daily_pct:
            self.paused_until = _midnight(today + timedelta(days=1), now) + self.resume
            return RiskDecision(False, ONE, True, f"lxalgo daily drawdown ≥ {self.daily_pct}%")

        loss = self.week_equity - equity
        if weekly >= self.weekly_reduce_pct:
            self.reduced_loss = max(loss, self.reduced_loss or ZERO)
        elif self.reduced_loss is not None and loss <= self.reduced_loss / 2:
            self.reduced_loss = None  # half of the worst loss is recovered: full size again
        if self.reduced_loss is not None:
            return RiskDecision(
                True,
                self.reduced_size,
                False,
                f"lxalgo weekly drawdown ≥ {self.weekly_reduce_pct}%",
            )
        return RiskDecision()

    def reset(self, now: datetime, equity: Decimal) -> None:
        """An operator's lift: no pause, halt or reduced size; today's and this week's
        losses count from ``equity``."""
        today = now.date()
        self.day, self.day_equity = today, equity
        self.week, self.week_equity = _monday(today), equity
        self.paused_until = self.halted_until = None
        self.reduced_loss = None

    def state(self) -> dict[str, str] | None:
        """The anchors and halts, as text: what a restart must not lose (the day's and the
        week's opening equity, a pause, a halt, a reduced size); ``None`` before the
        first update."""
        if self.day is None or self.week is None:
            return None
        state = {
            "day": self.day.isoformat(),
            "day_equity": str(self.day_equity),
            "week": self.week.isoformat(),
            "week_equity": str(self.week_equity),
        }
        if self.paused_until is not None:
            state["paused_until"] = self.paused_until.isoformat()
        if self.halted_until is not None:
            state["halted_until"] = self.halted_until.isoformat()
        if self.reduced_loss is not None:
            state["reduced_loss"] = str(self.reduced_loss)
        return state

    def restore(self, state: Mapping[str, str]) -> None:
        """Take back what :meth:`state` gave before a restart. The periods roll over as
        usual at the next :meth:`update`: a day that has ended anchors again then."""
        self.day = date.fromisoformat(state["day"])
        self.day_equity = Decimal(state["day_equity"])
        self.week = date.fromisoformat(state["week"])
        self.week_equity = Decimal(state["week_equity"])
        paused, halted = state.get("paused_until"), state.get("halted_until")
        self.paused_until = datetime.fromisoformat(paused) if paused else None
        self.halted_until = datetime.fromisoformat(halted) if halted else None
        reduced = state.get("reduced_loss")
        self.reduced_loss = Decimal(reduced) if reduced else None


class MomentumRisk:
    """Momentum: daily ≤ −3 % → no new entries that day; weekly ≤ −8 % → half size (for
    the rest of the week); monthly ≤ −15 % → halted (no new entries) for the rest of the
    month. Exits are never blocked, and nothing here flattens."""

    def __init__(
        self,
        daily_pct: Decimal = Decimal(3),
        weekly_pct: Decimal = Decimal(8),
        monthly_pct: Decimal = Decimal(15),
        reduced_size: Decimal = Decimal("0.5"),
    ) -> None:
        self.daily_pct = daily_pct
        self.weekly_pct = weekly_pct
        self.monthly_pct = monthly_pct
        self.reduced_size = reduced_size
        self.day: date | None = None
        self.week: date | None = None
        self.month: tuple[int, int] | None = None
        self.day_equity = self.week_equity = self.month_equity = ZERO
        self.day_blocked = self.week_reduced = self.month_halted = False

    def update(self, now: datetime, equity: Decimal) -> RiskDecision:
        today = now.date()
        if today != self.day:
            self.day, self.day_equity, self.day_blocked = today, equity, False
        week = _monday(today)
        if week != self.week:
            self.week, self.week_equity, self.week_reduced = week, equity, False
        month = (today.year, today.month)
        if month != self.month:
            self.month, self.month_equity, self.month_halted = month, equity, False

        if _drawdown_pct(self.month_equity, equity) >= self.monthly_pct:
            self.month_halted = True
        if _drawdown_pct(self.week_equity, equity) >= self.weekly_pct:
            self.week_reduced = True
        if _drawdown_pct(self.day_equity, equity) >= self.daily_pct:
            self.day_blocked = True

        size = self.reduced_size if self.week_reduced else ONE
        if self.month_halted:
            return RiskDecision(False, size, False, f"momentum monthly loss ≥ {self.monthly_pct}%")
        if self.day_blocked:
            return RiskDecision(False, size, False, f"momentum daily loss ≥ {self.daily_pct}%")
        if self.week_reduced:
            return RiskDecision(True, size, False, f"momentum weekly loss ≥ {self.weekly_pct}%")
        return RiskDecision()

    def reset(self, now: datetime, equity: Decimal) -> None:
        """An operator's lift: every block cleared; the day's, week's and month's losses
        count from ``equity``."""
        today = now.date()
        self.day, self.week, self.month = today, _monday(today), (today.year, today.month)
        self.day_equity = self.week_equity = self.month_equity = equity
        self.day_blocked = self.week_reduced = self.month_halted = False
