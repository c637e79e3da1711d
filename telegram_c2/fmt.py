"""Human formatting. Money stays Decimal all the way into the text (never float)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")


def money(value: Decimal, *, signed: bool = True, unit: str = "USDT") -> str:
    """``Decimal("-1234.5")`` → ``-1,234.50 USDT``."""
    q = value.quantize(CENT, rounding=ROUND_HALF_EVEN)
    if q == 0:
        q = abs(q)  # no "-0.00"
    text = f"{q:+,.2f}" if signed else f"{q:,.2f}"
    return f"{text} {unit}".rstrip()


def qty(value: Decimal) -> str:
    """A quantity as the exchange would show it: no exponent, no trailing zeros."""
    text = f"{value.normalize():f}"
    return text


def age(delta: timedelta | float | None) -> str:
    if delta is None:
        return "never"
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h{minutes % 60:02d}m"
    return f"{hours // 24}d{hours % 24}h"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def percent(part: Decimal | int, whole: Decimal | int) -> str:
    """``percent(2, 3)`` → ``66.7 %``; ``n/a`` when there is no whole."""
    if not whole:
        return "n/a"
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_EVEN)
    return f"{value} %"


def ratio(value: Decimal | None) -> str:
    """A ratio such as a profit factor, two decimals; ``n/a`` when undefined."""
    return "n/a" if value is None else f"{value.quantize(CENT, rounding=ROUND_HALF_EVEN)}"


#: Telegram takes at most 4096 characters per message.
MESSAGE_LIMIT = 4096


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut at a line end to fit one Telegram message, saying how much was left
    out (a report of many lines would otherwise not be delivered at all)."""
    if len(text) <= limit:
        return text
    lines = text.splitlines()
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit - 40:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join([*kept, f"… {len(lines) - len(kept)} more line(s) not shown"])
