"""The "risk limits" check: no bot entered while a loss limit had halted it.

The host halts a bot's entries (``bots/runtime/loss_limits.py``) when its equity —
capital + realized + unrealized P&L — is ``max_daily_loss_pct`` below the UTC day's
opening equity (until the next UTC day) or ``max_drawdown_pct`` below its peak (until an
operator lifts it with ``reset-risk``). This check verifies that from outside the host,
with what the ledger holds:

* **the realized path.** Per bot, from the ledger in market (exchange) time: equity =
  capital + realized P&L (``core.positions.Position.apply``, the ledger's own fold, net
  of fees) − funding paid, after every fill and funding payment. The worst loss of a UTC
  day in % of that day's opening equity and the worst drawdown from the peak in % are
  reported. An *entry* — a fill that makes ``|position|`` larger or flips it — whose
  order was placed after the day's realized loss had crossed its limit (until the next
  UTC day) or after the realized drawdown had (until an operator's lift, which restarts
  the peak) fails the check.
* **the host's own halts.** A ``risk_halt`` alert opens a halt at its ``market_time``,
  the bot's next ``risk_lift`` closes it; an entry whose order was placed in between
  fails the check.

An entry counts from when its order was placed (``trading.orders.created_time``), so a
limit order resting from before a halt may fill during it, as the host allows (a halt
refuses new entries; it does not cancel resting ones). Every window opens ``grace``
after its start: the host learns a fill or a candle a moment after its market time
(``run.py`` passes a few wall seconds times the market's speed).

This is a conservative check on realized P&L only: unrealized P&L is not in the ledger,
so a halt the host made on an open position's loss is seen through its alert, and a
loss the host already counted (unrealized) on the previous day shows here on the day it
is realized. It is stricter than the host on funding, which the host's equity leaves out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from core.fills import Fill, Side
from core.positions import Position
from core.risk import split_config

HUNDRED = Decimal(100)
#: How long (wall seconds) the host may take to learn a fill or a candle and act on it;
#: times the market's speed, it is the ``grace`` in market time.
HOST_LAG_S = 3.0


def ledger_fill(row: Mapping[str, Any]) -> Fill:
    """A ``trading.fills`` row as ``observe.fills`` reads it → the core ``Fill`` the fold takes."""
    price, qty = Decimal(row["exec_price"]), Decimal(row["exec_qty"])
    return Fill(
        account=row["account"], category=row.get("category") or "linear",
        exec_id=row["exec_id"], symbol=row["symbol"], order_id="", order_link_id="",
        side=Side(row["side"]), exec_price=price, exec_qty=qty, exec_value=price * qty,
        exec_fee=Decimal(row["exec_fee"]), fee_currency=row["fee_currency"], is_maker=False,
        exec_type=row.get("exec_type") or "Trade", exec_time=_time(row["exec_time"]),
        seq=int(row["seq"]), source="rest", raw={}, bot_id=row["bot_id"],
    )  # fmt: skip


def _time(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass
class Halt:
    """One halt the host announced, in market time (its alerts' ``market_time``)."""

    at: datetime | None  # None: an alert from a host that did not say when
    lifted: datetime | None = None
    by_operator: bool = False
    text: str = ""


def halts(alerts: Iterable[Mapping[str, Any]]) -> dict[str, list[Halt]]:
    """``risk_halt``/``risk_lift`` alerts (``kind``, ``bot_id``, ``at`` — the stream's wall
    clock, for their order — ``market_time``, ``text``) → each bot's halts."""
    out: dict[str, list[Halt]] = defaultdict(list)
    for alert in sorted(alerts, key=lambda a: float(a["at"])):
        bot, kind = alert["bot_id"], alert["kind"]
        when = _time(alert["market_time"]) if alert.get("market_time") else None
        open_ = out[bot][-1] if out[bot] and out[bot][-1].lifted is None else None
        if kind == "risk_halt" and open_ is None:
            out[bot].append(Halt(when, text=str(alert.get("text") or "")))
        elif kind == "risk_lift" and open_ is not None:
            open_.lifted = when or datetime.max.replace(tzinfo=UTC)
            open_.by_operator = "reset by" in str(alert.get("text") or "")
    return dict(out)


@dataclass
class Path:
    """One bot's realized equity path and what went wrong on it."""

    capital: Decimal
    worst_day: Decimal = Decimal(0)  # % of the day's opening equity (≥ 0: a loss)
    worst_drawdown: Decimal = Decimal(0)  # % below the peak
    violations: list[str] = field(default_factory=list)


@dataclass
class _Window:
    """Market time in which the host must not place an entry, and why."""

    start: datetime
    end: datetime | None
    why: str

    def holds(self, placed: datetime) -> bool:
        return self.start <= placed and (self.end is None or placed < self.end)


def walk(
    capital: Decimal,
    fills: Iterable[Mapping[str, Any]],
    funding: Iterable[Mapping[str, Any]],
    daily_pct: Decimal | None,
    drawdown_pct: Decimal | None,
    bot_halts: Iterable[Halt] = (),
    grace: timedelta = timedelta(0),
) -> Path:
    """The realized equity path of one bot from its fills and funding rows, in market
    time, and the entries placed where a limit forbade them. An entry counts from when
    its order was placed (``order_created``; its fill time when unknown), so a limit
    order resting from before a halt may fill during it, as the host allows; ``grace``
    is the host's lag (it learns a fill or a candle a moment after the market time)."""
    path = Path(capital)
    events: list[tuple[tuple[datetime, int, str], Mapping[str, Any], Fill | None]] = []
    for row in fills:
        parsed = ledger_fill(row)
        events.append((parsed.ledger_key, row, parsed))
    for row in funding:
        events.append(((_time(row["exec_time"]), -1, row["exec_id"]), row, None))
    bot_halts = list(bot_halts)
    windows = [_Window(h.at + grace, h.lifted, "while the host's risk_halt was in force")
               for h in bot_halts if h.at is not None]  # fmt: skip
    lifts = sorted(h.lifted for h in bot_halts if h.by_operator and h.lifted is not None)
    positions: dict[str, Position] = defaultdict(Position)
    realized, paid = Decimal(0), Decimal(0)
    equity = peak = day_open = capital
    day: date | None = None
    daily: _Window | None = None
    drawdown: _Window | None = None
    for (at, _, _), row, fill in sorted(events, key=lambda e: e[0]):
        while lifts and lifts[0] <= at:  # an operator's lift: as LossLimits.reset
            lifted = lifts.pop(0)
            peak = day_open = equity
            for window in (daily, drawdown):
                if window is not None and (window.end is None or window.end > lifted):
                    window.end = lifted
            daily = drawdown = None
        if at.date() != day:
            day, day_open, daily = at.date(), equity, None
        if fill is not None:
            before = positions[fill.symbol]
            after = before.apply(fill)
            opening = abs(after.qty) > abs(before.qty) or after.qty * before.qty < 0
            placed = _time(row["order_created"]) if row.get("order_created") else at
            why = next((w.why for w in windows if w.holds(placed)), "") if opening else ""
            if why:
                what = f"{fill.side} {fill.exec_qty:f} {fill.symbol}"
                path.violations.append(
                    f"{what} placed {placed:%Y-%m-%d %H:%M:%S} UTC ({fill.exec_id}) {why}"
                )
            realized += after.realized_pnl - before.realized_pnl
            positions[fill.symbol] = after
        else:
            paid += Decimal(row["funding_fee"])
        equity = capital + realized - paid
        peak = max(peak, equity)
        day_loss = (day_open - equity) / day_open * HUNDRED if day_open > 0 else Decimal(0)
        down = (peak - equity) / peak * HUNDRED if peak > 0 else Decimal(0)
        path.worst_day = max(path.worst_day, day_loss)
        path.worst_drawdown = max(path.worst_drawdown, down)
        if daily is None and daily_pct is not None and day_loss >= daily_pct:
            midnight = datetime.combine(at.date() + timedelta(days=1), time(), UTC)
            daily = _Window(at + grace, midnight,
                            "after the realized daily loss had crossed its limit")  # fmt: skip
            windows.append(daily)
        if drawdown is None and drawdown_pct is not None and down >= drawdown_pct:
            drawdown = _Window(at + grace, None,
                               "after the realized drawdown had crossed its limit")  # fmt: skip
            windows.append(drawdown)
    return path


def _loss(value: Decimal) -> str:
    """A loss in % as the report shows it: ``-1.20%``, or ``0.00%`` for none."""
    return f"-{value:.2f}%" if value > 0 else "0.00%"


def summarize(
    bots: Iterable[Mapping[str, Any]],
    wanted: Iterable[str],
    capital: Mapping[str, str],
    fills: Iterable[Mapping[str, Any]],
    funding: Iterable[Mapping[str, Any]],
    alerts: Iterable[Mapping[str, Any]],
    anchors: Mapping[str, Mapping[str, str]] | None = None,
    grace: timedelta = timedelta(0),
) -> tuple[bool, str]:
    """(passed, detail) over the bots in ``wanted`` (the production registrations)."""
    rows = {row["bot_id"]: row for row in bots}
    by_bot_fills: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    by_bot_funding: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in fills:
        by_bot_fills[row["bot_id"]].append(row)
    for row in funding:
        by_bot_funding[row["bot_id"]].append(row)
    seen = halts(alerts)
    problems, lines = [], []
    for bot in sorted(wanted):
        row = rows.get(bot) or {}
        limits = split_config(row.get("config"))[1]
        daily, drawdown = limits.max_daily_loss_pct, limits.max_drawdown_pct
        if daily is None and drawdown is None:
            problems.append(f"{bot}: no loss limits registered")
            continue
        if not capital.get(bot):
            problems.append(f"{bot}: its capital basis was not found")
            continue
        bot_halts = seen.get(bot, [])
        path = walk(Decimal(capital[bot]), by_bot_fills[bot], by_bot_funding[bot],
                    daily, drawdown, bot_halts, grace)  # fmt: skip
        shown = (
            "no halt"
            if not bot_halts
            else f"{len(bot_halts)} halt(s): " + "; ".join(h.text for h in bot_halts)
        )
        held = (anchors or {}).get(bot, {})
        if held.get("halt"):  # the host's anchors: a halt still in force at the end
            shown += f" (in force at the end: {held.get('halt_detail') or held['halt']})"
        lines.append(
            f"{bot} day {_loss(path.worst_day)}/{daily if daily is not None else '-'}%"
            f" dd {path.worst_drawdown:.2f}%/{drawdown if drawdown is not None else '-'}%"
            f" {shown}"
        )
        problems += [f"{bot}: entry {v}" for v in path.violations[:3]]
        if len(path.violations) > 3:
            problems.append(f"{bot}: {len(path.violations)} such entries in all")
    detail = "; ".join(lines)
    if problems:
        return False, "; ".join(problems) + (f" ({detail})" if detail else "")
    return True, f"realized, no entry past a limit: {detail}"
