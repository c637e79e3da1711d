"""The "risk limits" check: no bot entered while a loss limit had halted it.

The host halts a bot's entries (``bots/runtime/loss_limits.py``) when its equity —
capital + realized + unrealized P&L — is ``max_daily_loss_pct`` below the UTC day's
opening equity (until the next UTC day) or ``max_drawdown_pct`` below its peak (until an
operator lifts it with ``reset-risk``). This check verifies that from outside the host,
with what the ledger holds:

* **the realized path.** Per bot, from the ledger in exchange time: equity = capital +
  realized P&L (``core.positions.Position.apply``, the ledger's own fold, net of fees)
  − funding paid, after every fill and funding payment. The worst loss of a UTC day in %
  of that day's opening equity and the worst drawdown from the peak in % are reported;
  an *opening* fill (one that makes ``|position|`` larger or flips it) after the day's
  loss or the drawdown had crossed its limit fails the check — the daily crossing until
  the next UTC day, the drawdown one until an operator's lift (the peak then restarts).
* **the host's own halts.** A ``risk_halt`` alert opens a halt, the ``risk_lift`` with
  the same bot closes it; an opening fill that reached the ledger (wall clock) more than
  ``HALT_GRACE_S`` after the halt and before the lift fails the check.

This is conservative on realized P&L only: unrealized P&L is not in the ledger, so a halt
the host made on an open position's loss is seen only through its alert. It is stricter
than the host on funding, which the host's equity leaves out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from core.fills import Fill, Side
from core.positions import Position
from core.risk import split_config

HUNDRED = Decimal(100)
#: An entry order already in flight when the host halted may still fill just after.
HALT_GRACE_S = 5.0


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
    """One halt the host announced: wall-clock epochs of its alert and of its lift."""

    at: float
    lifted: float | None = None
    by_operator: bool = False
    text: str = ""


def halts(alerts: Iterable[Mapping[str, Any]]) -> dict[str, list[Halt]]:
    """``risk_halt``/``risk_lift`` alerts (``kind``, ``bot_id``, ``at``, ``text``) → halts."""
    out: dict[str, list[Halt]] = defaultdict(list)
    for alert in sorted(alerts, key=lambda a: float(a["at"])):
        bot, kind, at = alert["bot_id"], alert["kind"], float(alert["at"])
        open_ = out[bot][-1] if out[bot] and out[bot][-1].lifted is None else None
        if kind == "risk_halt" and open_ is None:
            out[bot].append(Halt(at, text=str(alert.get("text") or "")))
        elif kind == "risk_lift" and open_ is not None:
            open_.lifted, open_.by_operator = at, "reset by" in str(alert.get("text") or "")
    return dict(out)


@dataclass
class Path:
    """One bot's realized equity path and what went wrong on it."""

    capital: Decimal
    worst_day: Decimal = Decimal(0)  # % of the day's opening equity (≥ 0: a loss)
    worst_drawdown: Decimal = Decimal(0)  # % below the peak
    violations: list[str] = field(default_factory=list)


def walk(
    capital: Decimal,
    fills: Iterable[Mapping[str, Any]],
    funding: Iterable[Mapping[str, Any]],
    daily_pct: Decimal | None,
    drawdown_pct: Decimal | None,
    bot_halts: Iterable[Halt] = (),
) -> Path:
    """The realized equity path of one bot from its fills and funding rows, in exchange time."""
    path = Path(capital)
    events: list[tuple[tuple[datetime, int, str], Fill | Decimal, float]] = []
    for row in fills:
        fill = ledger_fill(row)
        events.append((fill.ledger_key, fill, float(row.get("ingested_epoch") or 0)))
    for row in funding:
        paid_at = (_time(row["exec_time"]), -1, row["exec_id"])
        events.append((paid_at, Decimal(row["funding_fee"]), float(row.get("ingested_epoch") or 0)))
    lifts = sorted(h.lifted for h in bot_halts if h.by_operator and h.lifted is not None)
    host = [(h.at + HALT_GRACE_S, h.lifted) for h in bot_halts]
    positions: dict[str, Position] = defaultdict(Position)
    realized, paid = Decimal(0), Decimal(0)
    equity = peak = capital
    day: date | None = None
    day_open = capital
    day_crossed = drawdown_crossed = False
    for key, item, ingested in sorted(events, key=lambda e: e[0]):
        at = key[0]
        while lifts and ingested >= lifts[0]:  # an operator's lift: as LossLimits.reset
            lifts.pop(0)
            peak = day_open = equity
            drawdown_crossed = day_crossed = False
        if at.date() != day:
            day, day_open, day_crossed = at.date(), equity, False
        if isinstance(item, Fill):
            before = positions[item.symbol]
            after = before.apply(item)
            opening = abs(after.qty) > abs(before.qty) or (after.qty * before.qty < 0)
            if opening:
                why = _why(day_crossed, drawdown_crossed, ingested, host)
                if why:
                    what = f"{item.side} {item.exec_qty:f} {item.symbol}"
                    path.violations.append(
                        f"{what} at {at:%Y-%m-%d %H:%M:%S} UTC ({item.exec_id}) {why}"
                    )
            realized += after.realized_pnl - before.realized_pnl
            positions[item.symbol] = after
        else:
            paid += item
        equity = capital + realized - paid
        peak = max(peak, equity)
        day_loss = (day_open - equity) / day_open * HUNDRED if day_open > 0 else Decimal(0)
        down = (peak - equity) / peak * HUNDRED if peak > 0 else Decimal(0)
        path.worst_day = max(path.worst_day, day_loss)
        path.worst_drawdown = max(path.worst_drawdown, down)
        day_crossed = day_crossed or (daily_pct is not None and day_loss >= daily_pct)
        drawdown_crossed = drawdown_crossed or (drawdown_pct is not None and down >= drawdown_pct)
    return path


def _why(day: bool, drawdown: bool, ingested: float,
         host: Iterable[tuple[float, float | None]]) -> str:  # fmt: skip
    if day:
        return "after the realized daily loss had crossed its limit"
    if drawdown:
        return "after the realized drawdown had crossed its limit"
    if any(start <= ingested and (end is None or ingested < end) for start, end in host):
        return "while the host's risk_halt was in force"
    return ""


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
                    daily, drawdown, bot_halts)  # fmt: skip
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
    detail = "; ".join(lines)
    if problems:
        return False, "; ".join(problems) + (f" ({detail})" if detail else "")
    return True, f"realized, no entry past a limit: {detail}"
