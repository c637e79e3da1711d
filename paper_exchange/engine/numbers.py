"""Decimal parsing and formatting: every amount is a ``Decimal`` and leaves as a string."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from paper_exchange.engine.errors import params_error

ZERO = Decimal(0)


def fmt(value: Decimal) -> str:
    """Plain notation, no exponent, no trailing zeros beyond the value's own scale."""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def fmt_places(value: Decimal, places: int) -> str:
    """Fixed decimals, like Bybit prints prices with the instrument's price scale."""
    return f"{value:.{places}f}"


def parse_decimal(value: object, name: str, *, positive: bool = False) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise params_error(f"{name} invalid")
    if isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise params_error(f"{name} invalid") from None
    else:
        raise params_error(f"{name} invalid")
    if not result.is_finite():
        raise params_error(f"{name} invalid")
    if positive and result <= 0:
        raise params_error(f"{name} must be positive")
    return result


def parse_int(value: object, name: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise params_error(f"{name} is required")
        return default
    if isinstance(value, bool):
        raise params_error(f"{name} invalid")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise params_error(f"{name} invalid")


def parse_bool(value: object, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise params_error(f"{name} invalid")
