"""Trading signals from outside (a TradingView alert, a script): what one says and how
it travels from the HTTP API to the bot over the bot's command stream.

The webhook (``api/webhook.py``) parses the sender's JSON into a :class:`Signal`; the bot
host reads it back from the ``signal`` entry on ``commands:{bot}`` and hands it to
``Strategy.on_signal`` (docs/strategies.md#webhook). Both ends use this one module, so
the format cannot drift between them. Quantities and prices stay ``Decimal`` from the
sender's text to the order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal, get_args

from core.errors import UserError

Action = Literal["enter_long", "enter_short", "exit", "stop"]
ACTIONS: tuple[str, ...] = get_args(Action)
#: An alert id: TradingView's ``{{strategy.order.id}}`` or any sender's unique name.
ALERT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@#+-]{0,127}$")
SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")
#: The command word on ``commands:{bot}`` that carries a signal.
COMMAND = "signal"


class SignalError(UserError):
    """A signal that cannot be acted on; the message is one line for the sender."""


@dataclass(frozen=True, slots=True)
class Signal:
    """One accepted alert. ``qty`` (base coin) or ``risk_pct`` (percent of the bot's
    equity lost if ``stop`` is hit) sizes an entry; ``price`` is the sender's reference
    price (TradingView's ``{{close}}``), used to size by risk."""

    alert_id: str
    time: datetime
    action: Action
    symbol: str
    qty: Decimal | None = None
    risk_pct: Decimal | None = None
    stop: Decimal | None = None
    price: Decimal | None = None

    @property
    def is_entry(self) -> bool:
        return self.action in ("enter_long", "enter_short")

    def fields(self) -> dict[str, str]:
        """The stream entry's fields (without ``command``): every value a string."""
        out = {
            "alert_id": self.alert_id,
            "time": self.time.isoformat(),
            "action": self.action,
            "symbol": self.symbol,
        }
        for name in ("qty", "risk_pct", "stop", "price"):
            value: Decimal | None = getattr(self, name)
            if value is not None:
                out[name] = format(value, "f")
        return out


def _decimal(
    payload: Mapping[str, object], name: str, *, upper: Decimal | None = None
) -> Decimal | None:
    raw = payload.get(name)
    if raw is None or raw == "":
        return None
    # Numbers arrive as JSON numbers or strings; both are read from their text, so
    # 0.1 stays 0.1 (never a float's 0.1000000000000000055…).
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise SignalError(f"{name!r} must be a number")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise SignalError(f"{name!r} is not a number: {str(raw)[:40]!r}") from None
    # Bounded magnitude: 1e999999 is a valid Decimal, but no price or size, and its
    # plain notation alone would be a megabyte.
    if not value.is_finite() or value <= 0 or not -18 <= value.adjusted() <= 18:
        raise SignalError(f"{name!r} must be a positive number below 1e18")
    if upper is not None and value > upper:
        raise SignalError(f"{name!r} must be at most {upper}")
    return value


def parse_time(raw: object) -> datetime:
    """An ISO 8601 time (TradingView's ``{{timenow}}``: ``2024-01-01T12:00:00Z``) or Unix
    milliseconds; a time without a zone is refused rather than guessed."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        try:
            return datetime.fromtimestamp(raw / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise SignalError(f"'time' is not a time in Unix milliseconds: {raw}"[:80]) from None
    if not isinstance(raw, str) or not raw:
        raise SignalError("'time' is missing (ISO 8601 UTC, e.g. {{timenow}})")
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SignalError(f"'time' is not an ISO 8601 time: {raw[:40]!r}") from None
    if when.tzinfo is None:
        raise SignalError("'time' has no time zone (end it with Z for UTC)")
    return when.astimezone(UTC)


def parse(payload: Mapping[str, object]) -> Signal:
    """The signal in a sender's JSON object (the ``secret`` is checked elsewhere)."""
    alert_id = payload.get("id")
    if not isinstance(alert_id, str | int) or isinstance(alert_id, bool):
        raise SignalError("'id' is missing (a unique alert id)")
    alert_id = str(alert_id)
    if not ALERT_ID.match(alert_id):
        raise SignalError(
            "'id': 1-128 letters, digits or _.:/@#+- (starting with a letter or digit)"
        )
    action = payload.get("action")
    if action not in ACTIONS:
        raise SignalError(f"'action' must be one of {', '.join(ACTIONS)}")
    symbol = payload.get("symbol")
    if not isinstance(symbol, str):
        raise SignalError("'symbol' is missing")
    # TradingView's {{ticker}} may carry a suffix such as BTCUSDT.P for perpetuals.
    symbol = symbol.upper().removesuffix(".P")
    if not SYMBOL.match(symbol):
        raise SignalError(f"'symbol' is not a symbol: {symbol[:40]!r}")
    signal = Signal(
        alert_id=alert_id,
        time=parse_time(payload.get("time")),
        action=action,  # type: ignore[arg-type]  # checked against ACTIONS above
        symbol=symbol,
        qty=_decimal(payload, "qty"),
        risk_pct=_decimal(payload, "risk_pct", upper=Decimal(100)),
        stop=_decimal(payload, "stop"),
        price=_decimal(payload, "price"),
    )
    _check_sizing(signal)
    return signal


def _check_sizing(signal: Signal) -> None:
    if signal.is_entry:
        if (signal.qty is None) == (signal.risk_pct is None):
            raise SignalError("an entry needs exactly one of 'qty' and 'risk_pct'")
        if signal.risk_pct is not None and signal.stop is None:
            raise SignalError("'risk_pct' sizes by the distance to 'stop': give 'stop' too")
    elif signal.action == "stop" and signal.stop is None:
        raise SignalError("action 'stop' needs 'stop' (the trigger price)")


def from_fields(fields: Mapping[str, str]) -> Signal:
    """The signal of a ``signal`` entry on the bot's command stream (see :meth:`Signal.fields`)."""
    payload: dict[str, object] = {k: v for k, v in fields.items() if k != "alert_id"}
    payload["id"] = fields.get("alert_id", "")
    return parse(payload)
