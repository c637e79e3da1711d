"""Reading one field of a Bybit message, strictly: Bybit's number, time and id formats.

Every number arrives as a JSON *string* and becomes a ``Decimal`` built from that
string — never a float — so the NUMERIC column stores exactly what the exchange sent
(docs/ledger.md invariant 3). Millisecond timestamps become timezone-aware UTC datetimes.
A missing or malformed field raises :class:`MalformedMessage` with a reason the listener
stores in ``trading.fill_rejects``; nothing here guesses a value.

Separate from the parsers (``core/exchange_parsing.py``) and the types they build
(``core/fills.py``) because these rules are about one field's text, whatever the message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.ids import Symbol

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MalformedMessage(ValueError):
    """An exchange message the ledger cannot accept; ``str()`` is the reason.

    ``code`` is one of :data:`REJECT_CODES`: the label of the rejects metric and the
    first word of the reason stored in ``trading.fill_rejects``."""

    def __init__(self, message: str, code: str = "malformed") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


#: Why an execution or order item was refused (see README, "Rejects").
REJECT_CODES = frozenset(
    {
        "not_an_object",  # the item is not a JSON object
        "missing_field",  # a field Bybit always sends is absent
        "empty_field",  # … or present but empty where Bybit never sends ""
        "not_a_string",  # a number field that is not a JSON string (a float on the way)
        "bad_number",  # not Bybit's decimal format: spaces, separators, exponents, NaN, …
        "negative",  # a sign where Bybit never sends one
        "too_many_digits",  # beyond MAX_INTEGER_DIGITS / MAX_FRACTION_DIGITS
        "zero_price",  # a trade at price 0 (Bybit's funding may say 0; a trade never)
        "unknown_exec_type",  # not one of Bybit's execType values, exactly as spelled
        "unsupported_exec_type",  # Bybit's, but no trade the position fold can take
        "bad_value",  # side, symbol, category, time, seq, isMaker, ids, fee currency
        "malformed",  # anything else
    }
)

#: Bybit's numbers are plain ASCII decimals: an optional "-" where a value can be
#: negative, no leading zeros, no exponent, no spaces or digit separators. Their scales
#: are far below these bounds (prices and fees have at most a dozen decimals); anything
#: beyond is refused rather than stored, so every fold of the ledger stays exact and
#: small enough to agree digit for digit with PostgreSQL's NUMERIC.
MAX_INTEGER_DIGITS = 30
MAX_FRACTION_DIGITS = 30
_NUMBER = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")
_TIME_MS = re.compile(r"[1-9][0-9]{0,15}")
_SEQ = re.compile(r"0|[1-9][0-9]{0,18}")


def text_field(item: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = item.get(name)
    if value is None:
        if required:
            raise MalformedMessage(f"missing field {name}", "missing_field")
        return ""
    if not isinstance(value, str):
        raise MalformedMessage(
            f"field {name} is {type(value).__name__}, expected string", "not_a_string"
        )
    return value


def identifier_field(item: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    """An id (execId, orderId, orderLinkId): any printable text, never control characters."""
    value = text_field(item, name, required=required)
    if required and not value:
        raise MalformedMessage(f"field {name} is empty", "empty_field")
    if not value.isprintable():
        raise MalformedMessage(f"field {name} has control characters: {value[:80]!r}", "bad_value")
    return value


def decimal_text(value: object, name: str, *, signed: bool = False) -> Decimal:
    """One of Bybit's numeric strings → the exact ``Decimal``; anything else is refused."""
    if not isinstance(value, str):
        # A JSON number here would already have passed through a float: refuse it.
        raise MalformedMessage(
            f"field {name} must be a decimal string, got {value!r}", "not_a_string"
        )
    match = _NUMBER.fullmatch(value)
    if match is None:
        raise MalformedMessage(f"field {name} is not a decimal: {value[:80]!r}", "bad_number")
    sign, whole, fraction = match.groups()
    if len(whole) > 1 and whole[0] == "0":
        raise MalformedMessage(f"field {name} has leading zeros: {value!r}", "bad_number")
    if sign and not signed:
        raise MalformedMessage(f"field {name} must not be negative: {value!r}", "negative")
    if len(whole) > MAX_INTEGER_DIGITS or len(fraction or "") > MAX_FRACTION_DIGITS:
        raise MalformedMessage(
            f"field {name} has more digits than Bybit sends: {value[:80]!r}", "too_many_digits"
        )
    return Decimal(value)


def decimal_field(
    item: Mapping[str, Any],
    name: str,
    *,
    default: Decimal | None = None,
    signed: bool = False,
) -> Decimal:
    """A required number; ``default`` only when the field is absent or empty."""
    value = item.get(name)
    if value in (None, ""):
        if default is not None:
            return default
        if value is None:
            raise MalformedMessage(f"missing field {name}", "missing_field")
        raise MalformedMessage(f"field {name} is empty", "empty_field")
    return decimal_text(value, name, signed=signed)


def optional_decimal(item: Mapping[str, Any], name: str, *, signed: bool = False) -> Decimal | None:
    value = item.get(name)
    if value in (None, ""):
        return None
    return decimal_text(value, name, signed=signed)


def price_or_none(item: Mapping[str, Any], name: str) -> Decimal | None:
    """A price Bybit may leave unset as ``""``, ``"0"`` or ``"0.00"`` (an unfilled order's
    ``avgPrice``, an order without a trigger): no price is ``None``, never a price of 0."""
    value = optional_decimal(item, name)
    return value if value else None


def ms_to_utc(value: object, name: str = "time") -> datetime:
    """Bybit's millisecond epoch (string or int) → aware UTC datetime, exactly."""
    if value is None:
        raise MalformedMessage(f"missing field {name}", "missing_field")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedMessage(
            f"field {name} must be epoch milliseconds, got {value!r}", "bad_value"
        )
    # int() alone would take " 17", "+17", "1_700" and non-ASCII digits: Bybit sends none.
    if isinstance(value, str) and _TIME_MS.fullmatch(value) is None:
        raise MalformedMessage(
            f"field {name} is not epoch milliseconds: {value[:80]!r}", "bad_value"
        )
    ms = int(value)
    if not 0 < ms < 32503680000000:  # year 3000: anything beyond is corruption
        raise MalformedMessage(f"field {name} is out of range: {value!r}", "bad_value")
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=millis * 1000)


def utc_to_ms(moment: datetime) -> int:
    """Aware datetime → epoch milliseconds (exact: no float on the way)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


_SYMBOLS: dict[str, Symbol] = {}  # the few symbols an account trades, validated once


def symbol_field(item: Mapping[str, Any]) -> Symbol:
    value = text_field(item, "symbol")
    symbol = _SYMBOLS.get(value)
    if symbol is None:
        try:
            symbol = Symbol(value)
        except ValueError:
            raise MalformedMessage(
                f"field symbol is not a symbol: {value!r}", "bad_value"
            ) from None
        if len(_SYMBOLS) < 10_000:
            _SYMBOLS[value] = symbol
    return symbol


def seq_field(item: Mapping[str, Any]) -> int:
    value = item.get("seq", 0)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedMessage(f"field seq must be an integer, got {value!r}", "bad_value")
    if isinstance(value, str) and _SEQ.fullmatch(value) is None:
        raise MalformedMessage(f"field seq is not an integer: {value[:80]!r}", "bad_value")
    if not 0 <= int(value) < 2**63:  # the ledger's bigint
        raise MalformedMessage(f"field seq is out of range: {value!r}", "bad_value")
    return int(value)
